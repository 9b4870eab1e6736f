"""Balanced sampling: classes equally often per epoch, a pure function of (seed, epoch),
resumable, and every row of every class drawn over the epochs."""

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdataset as kd
from kdataset.core.order import balanced_order
from tests.conftest import row_of, write_samples


@settings(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    seed=st.integers(0, 10_000),
    epoch=st.integers(0, 20),
)
def test_each_epoch_draws_every_class_equally(sizes, seed, epoch):
    class_of = np.repeat(np.arange(len(sizes)), sizes)
    np.random.default_rng(seed).shuffle(class_of)  # classes interleaved in the manifest
    order = balanced_order(class_of, seed, epoch)
    n, k = len(class_of), len(sizes)
    assert len(order) == n and order.min() >= 0 and order.max() < n
    counts = np.bincount(class_of[order], minlength=k)
    assert set(counts.tolist()) <= {n // k, n // k + 1} and counts.sum() == n
    np.testing.assert_array_equal(order, balanced_order(class_of, seed, epoch))


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 25), min_size=2, max_size=5),
    seed=st.integers(0, 1000),
    epochs=st.integers(1, 8),
)
def test_a_class_walks_through_all_its_rows_before_repeating_one(sizes, seed, epochs):
    # A class's draws go through its rows in one random order, then another, across
    # epochs: after D draws of a class of m rows, each of its rows was drawn D // m
    # times, or once more. So every row is seen, and a common class is seen in full
    # over the epochs.
    class_of = np.repeat(np.arange(len(sizes)), sizes)
    drawn = np.concatenate([balanced_order(class_of, seed, e) for e in range(epochs)])
    counts = np.bincount(drawn, minlength=len(class_of))
    for c, size in enumerate(sizes):
        mine = counts[class_of == c]
        total = int(mine.sum())
        assert set(mine.tolist()) <= {total // size, total // size + 1}, (c, mine)


def test_classes_take_turns_for_the_odd_draws():
    class_of = np.repeat(np.arange(3), [5, 3, 2])  # 10 draws for 3 classes: 3, 3, 3 and one more
    extras = []
    for epoch in range(3):
        counts = np.bincount(class_of[balanced_order(class_of, 0, epoch)], minlength=3)
        extras.append(int(np.argmax(counts)))
        assert sorted(counts.tolist()) == [3, 3, 4]
    assert sorted(extras) == [0, 1, 2]


def _balanced(tmp_path, **kwargs):
    labels = ["common"] * 40 + ["rare"] * 4  # 44 rows
    return kd.ManifestDataset(
        write_samples(tmp_path, 44, labels=labels),
        batch_size=8,
        label_mode="int",
        sampling="balanced",
        seed=3,
        **kwargs,
    )


def test_the_dataset_serves_balanced_epochs_and_resumes(tmp_path):
    ds = _balanced(tmp_path)
    assert len(ds) == 6  # as many draws per epoch as rows
    epoch = [(r, int(y)) for x, ys in ds for r, y in zip(row_of(x), ys)]
    assert all(y == (0 if r < 40 else 1) for r, y in epoch)  # labels stay with their rows
    assert [y for _, y in epoch].count(1) == 22
    # Mid-epoch state: a fresh dataset continues with exactly the rest.
    stream = iter(ds)
    first = [row_of(next(stream)[0]) for _ in range(2)]
    state = ds.get_state()
    rest_there = [row_of(x) for x, _ in stream]
    fresh = _balanced(tmp_path)
    fresh.set_state(state)
    ds_rows = [row_of(x) for x, _ in fresh.rest_of_epoch()]
    assert ds_rows == rest_there and len(first + rest_there) == 6
    uniform = kd.ManifestDataset(write_samples(tmp_path / "u", 44), batch_size=8, seed=3)
    with pytest.raises(ValueError, match="another dataset"):
        uniform.set_state(state)


def test_balanced_sampling_trains_with_fit(tmp_path):
    ds = _balanced(tmp_path)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 100))
def test_the_same_seed_gives_the_same_balanced_epochs(tmp_path_factory, seed):
    manifest = write_samples(tmp_path_factory.mktemp("b"), 20, labels=["a"] * 15 + ["b"] * 5)
    runs = [
        [
            row_of(x)
            for _ in range(2)
            for x, _ in kd.ManifestDataset(manifest, batch_size=6, sampling="balanced", seed=seed)
        ]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_balanced_sampling_arguments_are_checked(tmp_path):
    manifest = write_samples(tmp_path, 6)
    with pytest.raises(ValueError, match="Invalid `sampling`"):
        kd.ManifestDataset(manifest, sampling="oversample")
    with pytest.raises(ValueError, match="single-label"):
        kd.ManifestDataset(
            manifest, sampling="balanced", label_mode="multi_hot", label_separator="|"
        )
    with pytest.raises(ValueError, match="shuffle=False"):
        kd.ManifestDataset(manifest, sampling="balanced", shuffle=False)
    with pytest.raises(kd.ManifestError, match="'d' has no rows"):
        kd.ManifestDataset(manifest, sampling="balanced", classes=["a", "b", "c", "d"])
