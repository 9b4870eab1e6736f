"""The order of samples in an epoch: a pure function of (seed, epoch)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def index_dtype(num_samples: int) -> np.dtype[np.int32 | np.int64]:
    """The dtype of row positions among `num_samples` rows: `int32` while they fit, else `int64`.

    Half the memory of `int64` for any manifest of fewer than 2**31 rows (an
    order of 10 million rows is 40 MB, not 80 MB), with the same values.

    Example:

    >>> index_dtype(10_000_000).name, index_dtype(2**31).name
    ('int32', 'int64')
    """
    return np.dtype(np.int32 if num_samples < 2**31 else np.int64)


def epoch_order(
    num_samples: int, seed: int, epoch: int, shuffle: bool = True
) -> npt.NDArray[np.int32 | np.int64]:
    """The sample order of one epoch.

    The same `(num_samples, seed, epoch)` gives the same order in any process,
    on any backend, whatever else has drawn random numbers: nothing global is
    read or changed.

    Args:
        num_samples: How many samples there are.
        seed: A non-negative integer.
        epoch: The epoch number, from 0.
        shuffle: `False` gives the manifest order.

    Returns:
        A permutation of `range(num_samples)`, of `index_dtype(num_samples)`
        (`int32` below 2**31 rows). The values are those of
        `Generator.permutation` with the same seed, whatever the dtype: orders
        saved by earlier versions (in `int64`) stay valid.

    Example:

    >>> epoch_order(5, seed=7, epoch=0, shuffle=False).tolist()
    [0, 1, 2, 3, 4]
    >>> sorted(epoch_order(5, seed=7, epoch=1).tolist())
    [0, 1, 2, 3, 4]
    """
    order = np.arange(num_samples, dtype=index_dtype(num_samples))
    if shuffle:
        # `permutation(n)` is `shuffle(arange(n))`; the draws of a shuffle depend on
        # the length alone, so an int32 arange gives the same permutation.
        _rng(seed, epoch).shuffle(order)
    return order


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def balanced_order(
    class_of: npt.ArrayLike, seed: int, epoch: int
) -> npt.NDArray[np.int32 | np.int64]:
    """The rows of one epoch drawn so that every class comes out (nearly) equally often.

    An epoch has as many draws as there are rows. With `k` classes, each class
    gets `n // k` of them, and `n % k` classes one more, taking turns from epoch
    to epoch. A class's draws walk through its rows in a random order, a new
    one each time all its rows have been drawn, and carry on from epoch to
    epoch: a rare class repeats its rows within an epoch, a common one is seen
    in part per epoch and in full over the next epochs. The draws are then
    shuffled together. Like `epoch_order`, a pure function of its arguments.

    Args:
        class_of: The class index of every row, an int array; every class in
            `range(class_of.max() + 1)` must have rows.
        seed: A non-negative integer.
        epoch: The epoch number, from 0.

    Returns:
        `len(class_of)` row positions (some repeated), of
        `index_dtype(len(class_of))`; the values do not depend on the dtype.

    Example:

    >>> order = balanced_order(np.array([0, 0, 0, 0, 0, 0, 1, 1]), seed=0, epoch=0)
    >>> np.bincount(np.array([0, 0, 0, 0, 0, 0, 1, 1])[order]).tolist()
    [4, 4]
    """
    class_of = np.asarray(class_of)
    if class_of.dtype.kind not in "iu":
        class_of = class_of.astype(np.int64)
    n = len(class_of)
    dtype = index_dtype(n)
    if n == 0:
        return np.zeros(0, dtype)
    counts = np.bincount(class_of)
    k = len(counts)
    if counts.min() == 0:
        raise ValueError(
            "Balanced sampling draws every class: class index "
            f"{int(np.flatnonzero(counts == 0)[0])} has no rows."
        )
    base, extra = divmod(n, k)
    classes = np.arange(k)
    # Class c gets an extra draw in epoch e when it is among the `extra` classes from
    # (e * extra) % k on; `before` counts those turns in the epochs before this one.

    # turns(epochs)[c, e]: whether class c draws one more in epoch epochs[e].
    def turns(epochs: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        return (classes[:, None] - np.asarray(epochs, dtype=np.int64)[None, :] * extra) % k < extra

    before = turns(np.arange(epoch)).sum(axis=1) if epoch else np.zeros(k, np.int64)
    quota = base + turns([epoch])[:, 0]
    start = epoch * base + before
    members = np.argsort(class_of, kind="stable").astype(dtype, copy=False)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    drawn: list[npt.NDArray[np.int32 | np.int64]] = []
    for c in range(k):
        rows = members[offsets[c] : offsets[c + 1]]
        positions = np.arange(start[c], start[c] + quota[c])
        for cycle in np.unique(positions // len(rows)):
            picked = positions[positions // len(rows) == cycle] % len(rows)
            drawn.append(rows[_rng(seed, 1, c, int(cycle)).permutation(len(rows))[picked]])
    order = np.concatenate(drawn)
    _rng(seed, 2, epoch).shuffle(order)  # as `permutation(order)`, in place
    return order
