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
