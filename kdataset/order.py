"""The order of samples in an epoch: a pure function of (seed, epoch)."""

from __future__ import annotations

import numpy as np


def epoch_order(num_samples, seed, epoch, shuffle=True):
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
        An `int64` array, a permutation of `range(num_samples)`.

    Example:

    >>> epoch_order(5, seed=7, epoch=0, shuffle=False).tolist()
    [0, 1, 2, 3, 4]
    >>> sorted(epoch_order(5, seed=7, epoch=1).tolist())
    [0, 1, 2, 3, 4]
    """
    if not shuffle:
        return np.arange(num_samples, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch])))
    return rng.permutation(num_samples).astype(np.int64, copy=False)


def _rng(*key):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def balanced_order(class_of, seed, epoch):
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
        An `int64` array of `len(class_of)` row positions (some repeated).

    Example:

    >>> order = balanced_order(np.array([0, 0, 0, 0, 0, 0, 1, 1]), seed=0, epoch=0)
    >>> np.bincount(np.array([0, 0, 0, 0, 0, 0, 1, 1])[order]).tolist()
    [4, 4]
    """
    class_of = np.asarray(class_of, dtype=np.int64)
    n = len(class_of)
    counts = np.bincount(class_of)
    k = len(counts)
    if n == 0:
        return np.zeros(0, np.int64)
    if counts.min() == 0:
        raise ValueError(
            "Balanced sampling draws every class: class index "
            f"{int(np.flatnonzero(counts == 0)[0])} has no rows."
        )
    base, extra = divmod(n, k)
    classes = np.arange(k)
    # Class c gets an extra draw in epoch e when it is among the `extra` classes from
    # (e * extra) % k on; `before` counts those turns in the epochs before this one.

    def turns(epochs):  # (classes, epochs): whether a class draws one more in an epoch
        return (classes[:, None] - np.asarray(epochs)[None, :] * extra) % k < extra

    before = turns(np.arange(epoch)).sum(axis=1) if epoch else np.zeros(k, np.int64)
    quota = base + turns([epoch])[:, 0]
    start = epoch * base + before
    members = np.argsort(class_of, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(counts)])
    drawn = []
    for c in range(k):
        rows = members[offsets[c] : offsets[c + 1]]
        positions = np.arange(start[c], start[c] + quota[c])
        for cycle in np.unique(positions // len(rows)):
            picked = positions[positions // len(rows) == cycle] % len(rows)
            drawn.append(rows[_rng(seed, 1, c, int(cycle)).permutation(len(rows))[picked]])
    order = np.concatenate(drawn) if drawn else np.zeros(0, np.int64)
    return _rng(seed, 2, epoch).permutation(order).astype(np.int64, copy=False)
