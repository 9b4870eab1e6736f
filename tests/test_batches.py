"""The batch source: targets encoded a window of batches at a time, the same as one by one."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kdataset.batches import _TargetWindow
from kdataset.labels import Targets


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
            y = window.get(order, start, stop)
            np.testing.assert_array_equal(y, targets.encode(order[start:stop]))
            y[...] = 7  # a copy: the caller may zero skipped rows
    assert window.get(order, 0, 1).tolist() != [7]
