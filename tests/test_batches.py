"""The batch source: targets encoded a window of batches at a time, the same as one by one."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
            y = window.get(order, start, stop)
            np.testing.assert_array_equal(y, expected)
            y[...] = 7  # the caller may zero skipped rows: the window's own rows stay
            np.testing.assert_array_equal(window.get(order, start, stop), expected)


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
