"""The guarantees: every row once per epoch, an order set by the seed alone, resumable
mid-epoch, a constant batch shape with padding, and bad samples never silently lost."""

import multiprocessing
import os
import pickle
import random
import re
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kdataset as kd
from tests.conftest import row_of, write_samples
from tests.spy import PROCESSES, BackendSpy

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples")


def expected_rows(n, batch_size, seed, epochs, drop=False):
    rows = []
    for epoch in range(epochs):
        order = kd.epoch_order(n, seed, epoch).tolist()
        rows += order[: (n // batch_size) * batch_size] if drop else order
    return rows


class _Recorder:
    """A loader that records, in order, the rows it was asked for."""

    def __init__(self):
        self.rows = []

    def __call__(self, path):
        array = kd.NpyLoader()(path)  # np.load is not thread-safe before Python 3.11.9
        self.rows.append(int(array[0]))
        return array


def _fit_rows(tmp_path, python_seed, epochs=3, **kwargs):
    recorder = _Recorder()
    ds = kd.ManifestDataset(
        write_samples(tmp_path, 29),
        batch_size=4,
        seed=5,
        loader=recorder,
        label_mode="int",
        **kwargs,
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    model.set_weights([np.full((4, 3), 0.1, "float32"), np.zeros(3, "float32")])
    random.seed(python_seed)  # what fit shuffles batch indices with
    model.fit(ds, epochs=epochs, verbose=0)
    return recorder.rows, model.get_weights()


def test_the_model_gets_the_datasets_order_whatever_fit_shuffles(tmp_path):
    # No loading ahead here, so that the loader's calls are the batches served.
    rows_a, weights_a = _fit_rows(tmp_path / "a", python_seed=1, max_queue_size=0)
    rows_b, weights_b = _fit_rows(tmp_path / "b", python_seed=2, max_queue_size=0)
    _, weights_c = _fit_rows(tmp_path / "c", python_seed=3)  # loading ahead changes nothing
    expected = expected_rows(29, 4, seed=5, epochs=3)
    # Before the epochs, the first sample is probed and Keras may read a batch or two to
    # learn shapes (which batch depends on its shuffle); the epochs themselves are ours.
    assert rows_a[-len(expected) :] == expected
    assert rows_b[-len(expected) :] == expected
    for a, b, c in zip(weights_a, weights_b, weights_c):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def _batch_sets(rows, n, batch_size):
    """`rows`, whole epochs of `n` rows, cut into batches; a batch's rows as a set."""
    return [
        set(rows[epoch + start : epoch + min(start + batch_size, n)])
        for epoch in range(0, len(rows), n)
        for start in range(0, n, batch_size)
    ]


def test_the_order_is_the_same_with_threads(tmp_path):
    rows, _ = _fit_rows(tmp_path, python_seed=3, epochs=2, workers=2, max_queue_size=0)
    expected = expected_rows(29, 4, seed=5, epochs=2)
    # Threads load a batch's rows in any order, but a batch at a time: the batches
    # come in the epoch's order.
    assert _batch_sets(rows[-len(expected) :], 29, 4) == _batch_sets(expected, 29, 4)
    served = []
    ds = kd.ManifestDataset(write_samples(tmp_path / "t", 29), batch_size=4, seed=5, workers=2)
    for _ in range(2):
        served += [r for x, _ in ds for r in row_of(x)]
    assert served == expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 8),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_any_request_order_serves_the_stream(tmp_path_factory, n, batch_size, seed, data):
    ds = kd.ManifestDataset(
        write_samples(tmp_path_factory.mktemp("s"), n),
        batch_size=batch_size,
        seed=seed,
        label_mode="int",
    )
    served = []
    for _ in range(2):
        requests = data.draw(st.permutations(range(len(ds))))
        ds.on_epoch_begin()
        served += [r for i in requests for r in row_of(ds[i][0])]
        ds.on_epoch_end()
    assert served == expected_rows(n, batch_size, seed, 2)
    assert ds.epoch == 2 and ds.position == 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 8),
    seed=st.integers(0, 1000),
    consumed=st.integers(0, 40),
)
def test_resuming_serves_exactly_the_rest(tmp_path_factory, n, batch_size, seed, consumed):
    manifest = write_samples(tmp_path_factory.mktemp("r"), n)
    first = kd.ManifestDataset(manifest, batch_size=batch_size, seed=seed)
    stream = iter(lambda: next(_batches(first)), None)
    before = [r for _ in range(consumed) for r in row_of(next(stream)[0])]
    state = first.get_state()
    assert pickle.loads(pickle.dumps(state)) == state
    fresh = kd.ManifestDataset(
        manifest, batch_size=batch_size
    )  # another seed, replaced by the state's
    fresh.set_state(state)
    after = [r for _ in range(len(fresh) * 2) for r in row_of(next(_batches(fresh))[0])]
    uninterrupted = expected_rows(n, batch_size, seed, 3 + consumed // max(1, len(first)))
    assert before + after == uninterrupted[: len(before) + len(after)]


def _batches(ds):
    """The next batch of the stream, as Keras gets it inside an epoch."""
    ds.on_epoch_begin()
    try:
        yield ds[0]
    finally:
        ds.on_epoch_end()


def test_a_state_from_another_manifest_is_refused(tmp_path):
    a = kd.ManifestDataset(write_samples(tmp_path / "a", 10), batch_size=4)
    b = kd.ManifestDataset(write_samples(tmp_path / "b", 10, labels=["z"] * 10), batch_size=4)
    with pytest.raises(ValueError, match="another dataset: its ids or labels differ"):
        b.set_state(a.get_state())
    c = kd.ManifestDataset(write_samples(tmp_path / "c", 10), batch_size=5)
    with pytest.raises(ValueError, match="`batch_size`"):
        c.set_state(a.get_state())


@pytest.mark.slow
def test_a_killed_run_resumes_with_the_weights_of_an_uninterrupted_one(tmp_path):
    script = os.path.join(EXAMPLES, "resume_training.py")

    def run(folder, *extra):
        return subprocess.run(
            [sys.executable, script, "--data-dir", str(tmp_path / folder), "--epochs", "2", *extra],
            capture_output=True,
            text=True,
            timeout=600,
        )

    whole = run("whole", "--weights-out", str(tmp_path / "whole.npz"))
    assert whole.returncode == 0, whole.stderr[-2000:]
    killed = run("resumed", "--kill-at", "31")
    assert killed.returncode != 0 and "killed after 31 batches" in killed.stdout
    resumed = run("resumed", "--weights-out", str(tmp_path / "resumed.npz"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed and finished after 46 batches" in resumed.stdout
    a, b = np.load(tmp_path / "whole.npz"), np.load(tmp_path / "resumed.npz")
    for key in a.files:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 30), batch_size=st.integers(1, 8), seed=st.integers(0, 1000))
def test_padding_keeps_one_shape_and_every_row(tmp_path_factory, n, batch_size, seed):
    ds = kd.ManifestDataset(
        write_samples(tmp_path_factory.mktemp("p"), n),
        batch_size=batch_size,
        seed=seed,
        pad_remainder=True,
    )
    rows = []
    for x, y, w in ds:
        assert x.shape == (batch_size, 4) and w.shape == (batch_size,)
        assert y.shape == (batch_size, len(ds.classes))
        real = w > 0
        assert not x[~real].any() and not y[~real].any()
        rows += [r for r, keep in zip(row_of(x), real) if keep]
    assert rows == kd.epoch_order(n, seed, 0).tolist()


class _BatchSize(keras.metrics.Metric):
    """The smallest or the largest batch `fit` trained on in an epoch, on any backend."""

    def __init__(self, largest):
        super().__init__(name="largest_batch" if largest else "smallest_batch")
        self.largest = largest
        self.size = self.add_variable(shape=(), initializer="zeros", name="size")
        self.reset_state()

    def reset_state(self):
        self.size.assign(0.0 if self.largest else float("inf"))

    def update_state(self, y_true, y_pred, sample_weight=None):
        batch = keras.ops.cast(keras.ops.shape(y_true)[0], "float32")
        reduce = keras.ops.maximum if self.largest else keras.ops.minimum
        self.size.assign(reduce(self.size, batch))

    def result(self):
        return keras.ops.convert_to_tensor(self.size)  # a value, not the variable


def test_fit_with_padding_sees_one_batch_shape(tmp_path):
    ds = kd.ManifestDataset(write_samples(tmp_path, 10), batch_size=4, pad_remainder=True, seed=0)
    assert {ds[i][0].shape for i in range(len(ds))} == {(4, 4)}
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    batch_sizes = [_BatchSize(largest=False), _BatchSize(largest=True)]
    model.compile("sgd", "categorical_crossentropy", metrics=batch_sizes)
    history = model.fit(ds, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    # 10 samples in batches of 4: without padding the last batch would hold 2.
    assert history.history["smallest_batch"] == history.history["largest_batch"] == [4.0, 4.0]
    with pytest.raises(ValueError, match="opposite"):
        kd.ManifestDataset(write_samples(tmp_path, 10), pad_remainder=True, drop_remainder=True)
    with pytest.raises(ValueError, match="need labels"):
        kd.ManifestDataset(write_samples(tmp_path, 10), pad_remainder=True, label_column=None)


def _spoil(folder, *ids):
    for sample_id in ids:
        with open(os.path.join(folder, "data", f"{sample_id}.npy"), "wb") as f:
            f.write(b"garbage")


@pytest.mark.parametrize(
    "settings_",
    [{}, {"workers": 2}, PROCESSES],
    ids=["one", "threads", "processes"],
)
def test_skip_records_bad_samples_and_warns_at_the_end_of_the_epoch(tmp_path, settings_):
    manifest = write_samples(tmp_path, 20)
    _spoil(tmp_path, "0005", "0013")
    ds = kd.ManifestDataset(
        manifest, batch_size=6, seed=2, on_error="skip", label_mode="int", **settings_
    )
    rows = []
    with pytest.warns(kd.SkippedSamplesWarning, match="2 samples could not be loaded"):
        for x, y in ds:
            assert [r % 3 for r in row_of(x)] == y.tolist()
            rows += row_of(x)
    ds.close()
    assert sorted(rows) == sorted(set(range(20)) - {5, 13})
    assert sorted(s["id"] for s in ds.skipped) == ["0005", "0013"]
    assert all(
        s["line"] and s["path"].endswith(".npy") and "not a readable" in s["reason"]
        for s in ds.skipped
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(ds.batch_rows(0))  # nothing more to report without new failures


def test_skip_with_padding_keeps_the_shape(tmp_path):
    manifest = write_samples(tmp_path, 8)
    _spoil(tmp_path, "0002")
    ds = kd.ManifestDataset(
        manifest, batch_size=8, shuffle=False, on_error="skip", pad_remainder=True
    )
    with pytest.warns(kd.SkippedSamplesWarning):
        ((x, y, w),) = list(ds)
    assert x.shape == (8, 4) and w.tolist() == [1, 1, 0, 1, 1, 1, 1, 1]
    assert not x[2].any() and not y[2].any()


def test_skip_inside_fit(tmp_path):
    manifest = write_samples(tmp_path, 30)
    _spoil(tmp_path, "0007")
    ds = kd.ManifestDataset(manifest, batch_size=8, on_error="skip", seed=0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    with pytest.warns(kd.SkippedSamplesWarning, match="1 sample could not be loaded"):
        model.fit(ds, epochs=2, verbose=0)
    assert [s["epoch"] for s in ds.skipped] == [0, 1]


def test_a_raising_worker_names_batch_and_file_and_leaves_no_process(tmp_path):
    manifest = write_samples(tmp_path, 12)
    _spoil(tmp_path, "0009")
    ds = kd.ManifestDataset(manifest, batch_size=6, shuffle=False, **PROCESSES)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(kd.SampleError) as info:
        model.fit(ds, epochs=1, verbose=0)
    error = info.value
    assert error.path.endswith("0009.npy") and error.line == "line 11 of train.csv"
    assert error.batch == (0, 1) and "in batch 1 of epoch 0" in str(error)
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


def _first_epoch_rows(ds):
    return [r for x, _ in ds for r in row_of(x)]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_the_dataset_pickles_for_spawn_and_forkserver(tmp_path, method):
    ds = kd.ManifestDataset(write_samples(tmp_path, 9), batch_size=4, seed=8)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        rows = pool.apply(_first_epoch_rows, (ds,))
    assert rows == kd.epoch_order(9, 8, 0).tolist()


def test_worker_processes_never_import_keras_or_a_backend(tmp_path):
    ds = kd.ManifestDataset(
        write_samples(tmp_path, 8),
        batch_size=8,
        loader=BackendSpy(),
        workers=2,
        use_multiprocessing=True,
    )
    try:
        x, _ = ds[0]
    finally:
        ds.close()
    assert set(x[:, 2].astype(int)) - {os.getpid()}, "the batch was not loaded in worker processes"
    assert not x[:, 1].any()


@pytest.mark.parametrize("settings", [{}, {"workers": 2, "max_queue_size": 6}])
def test_memory_grows_with_a_few_batches_not_with_the_data(tmp_path, settings):
    import tracemalloc

    batch_size, shape = 8, (4096,)  # 16 KB samples, 128 KB batches
    manifest = write_samples(tmp_path, 600, shape=shape)  # 9.6 MB of data, 75 batches
    ds = kd.ManifestDataset(manifest, batch_size=batch_size, seed=0, **settings)
    batch_bytes = batch_size * 4096 * 4
    ds[0]  # threads started, headers learnt: the epoch below costs only its batches
    tracemalloc.start()
    try:
        seen = sum(len(x) for x, _ in ds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        ds.close()
    assert seen == 600
    # The batches being loaded ahead, the one in use and one being put together, plus change.
    allowed = (ds._prefetch_depth + 3) * batch_bytes + 256 * 1024
    assert peak < allowed < 600 * 16384 / 2, (peak, allowed)


def test_a_resumed_run_counts_its_own_epochs_in_the_progress_bar(tmp_path, capsys):
    """Resumed in its first epoch, a run of 3 prints "Epoch 1/3" to "Epoch 3/3", as an
    uninterrupted one does (the interrupted epoch is a `fit` of its own)."""
    manifest = write_samples(tmp_path / "data", 40)

    def model():
        made = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        made.compile("sgd", "categorical_crossentropy")
        return made

    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                raise KeyboardInterrupt

    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(KeyboardInterrupt):
        kd.fit_resumable(
            model(),
            kd.ManifestDataset(manifest, batch_size=4, seed=0),
            checkpoints,
            epochs=3,
            save_every=2,
            callbacks=[Stop()],
            verbose=0,
        )
    capsys.readouterr()
    dataset = kd.ManifestDataset(manifest, batch_size=4, seed=0)
    kd.fit_resumable(model(), dataset, checkpoints, epochs=3, save_every=2, verbose=2)
    printed = capsys.readouterr().out
    assert re.findall(r"Epoch \d+/\d+", printed) == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert dataset.epoch == 3
