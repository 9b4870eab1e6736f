"""The batch source: targets encoded a window of batches at a time, the same as one by one."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kdataset as kd
from kdataset.core.batches import _TargetWindow
from kdataset.labels.encoding import Targets


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(["int", "binary", "categorical", "multi_hot"]),
    n=st.integers(1, 40),
    batch_size=st.integers(1, 9),
    window_bytes=st.integers(1, 400),
    seed=st.integers(0, 100),
)
def test_a_window_encodes_what_each_batch_would(mode, n, batch_size, window_bytes, seed):
    rng = np.random.default_rng(seed)
    if mode == "multi_hot":
        hot = rng.random((n, 4)) < 0.4  # rows with no label too
        targets = Targets.from_matrix(hot)
    else:
        targets = Targets(mode, 2 if mode == "binary" else 4, rng.integers(0, 2, n))
    window = _TargetWindow(targets, max_bytes=window_bytes)
    for _ in range(2):  # two epochs: a new order array each time
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            stop = min(n, start + batch_size)
            expected = targets.encode(order[start:stop])
            np.testing.assert_array_equal(window.get(order, start, stop), expected)


@pytest.mark.parametrize("label_mode", ["int", "categorical"])
def test_a_batch_changed_in_place_leaves_the_labels_it_was_cut_from(samples, label_mode):
    # Labels are encoded a window of batches at a time and served as views of it: a
    # batch_transform that writes into its batch (or padding that zeroes a skipped row)
    # must not change what the same rows give when read again.
    scribbling = [False]

    def scribble(batch, rng):
        if scribbling[0]:
            batch["y"][...] = 0
        return batch

    manifest = samples(30)
    ds = kd.ManifestDataset(
        manifest, batch_size=4, seed=2, label_mode=label_mode, batch_transform=scribble
    )
    clean = kd.ManifestDataset(manifest, batch_size=4, seed=2, label_mode=label_mode)
    np.testing.assert_array_equal(ds[0][1], clean[0][1])  # the window is encoded here
    scribbling[0] = True
    assert not np.any(ds[1][1])  # the transform changed its own batch ...
    scribbling[0] = False
    for i in range(len(ds)):  # ... and nothing else: the same rows read again
        np.testing.assert_array_equal(ds[i][1], clean[i][1])


def test_batch_buffers_are_used_again_only_when_no_one_holds_them():
    from kdataset.loading.parallel import BatchBuffers

    pool = BatchBuffers((1024, 1024), "float32", keep=4)  # 4 MB a row: above the threshold
    first = pool.get(2)
    first[...] = 1
    kept = pool.get(2)  # `first` is still held: another array
    assert kept is not first
    view = first[:1]
    del first
    assert not any(pool.get(2) is view.base for _ in range(3))  # a view holds it
    del view
    again = pool.get(2)
    assert again.shape == (2, 1024, 1024) and len(pool._pool) <= 4


def test_a_batch_you_keep_is_never_written_over(tmp_path):
    import kdataset as kd
    from tests.conftest import write_samples

    manifest = write_samples(tmp_path, 12, shape=(1100, 1000))  # 4.4 MB a sample
    ds = kd.ManifestDataset(manifest, batch_size=2, shuffle=False, label_mode="int")
    kept = [x for x, _ in ds]
    assert [int(x[0, 0, 0]) for x in kept] == list(range(0, 12, 2))
    for _ in ds:  # another epoch, loading into pooled arrays
        pass
    assert [int(x[1, -1, -1]) for x in kept] == list(range(1, 12, 2))
