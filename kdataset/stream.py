"""The stream of batches: which rows come next, where the dataset stands, and resuming.

The order of an epoch is a pure function of `(seed, epoch)` (`epoch_order`);
the stream walks it batch after batch, epoch after epoch, and its place is two
integers. It knows nothing of files or labels.
"""

from __future__ import annotations

import math
import operator
import threading

from kdataset.errors import check_int
from kdataset.order import balanced_order, epoch_order

STATE_VERSION = 1


class Stream:
    """The batches of every epoch in order, and the place of the next one.

    Args:
        num_samples: Rows in the manifest.
        batch_size: Rows per batch.
        seed: Seed of the order.
        shuffle: Shuffle each epoch (else the manifest order).
        drop_remainder: Leave out the last, smaller batch of an epoch.
        fingerprint: What a saved state must match (the ids and labels).
        class_of: For balanced sampling, the class index of every row: each
            epoch is then `balanced_order`'s draws instead of every row once.

    Example:

    >>> stream = Stream(5, batch_size=2, seed=0, shuffle=False)
    >>> [stream.next() for _ in range(4)]
    [(0, 0), (0, 1), (0, 2), (1, 0)]
    >>> stream.rows(1, 2).tolist()
    [4]
    """

    def __init__(
        self,
        num_samples,
        batch_size,
        seed,
        shuffle=True,
        drop_remainder=False,
        fingerprint="",
        class_of=None,
    ):
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.fingerprint = fingerprint
        self.class_of = class_of
        if self.drop_remainder:
            self.num_batches = self.num_samples // self.batch_size
        else:
            self.num_batches = math.ceil(self.num_samples / self.batch_size)
        self._epoch = 0
        self._position = 0
        self._orders = {}
        self._lock = threading.Lock()

    # -- the order ----------------------------------------------------------

    def order(self, epoch):
        """The rows of `epoch` in order (the last two epochs' orders are kept)."""
        orders = self._orders
        rows = orders.get(epoch)
        if rows is None:
            if self.class_of is not None:
                rows = balanced_order(self.class_of, self.seed, epoch)
            else:
                rows = epoch_order(self.num_samples, self.seed, epoch, self.shuffle)
            # Batches of the next epoch load ahead while this one is served.
            self._orders = {**{e: r for e, r in orders.items() if e == epoch - 1}, epoch: rows}
        return rows

    def check_index(self, index):
        """`index` as an int in `[0, num_batches)`, or a clear `TypeError`/`IndexError`."""
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(
                f"Batch indices are integers. Received: {index!r} of type {type(index).__name__}"
            ) from None
        if not 0 <= index < self.num_batches:
            raise IndexError(
                f"Batch index out of range: expected 0 <= index < {self.num_batches}. "
                f"Received: index={index}"
            )
        return index

    def rows(self, epoch, index):
        """Manifest row positions of batch `index` of `epoch`."""
        start = index * self.batch_size
        return self.order(epoch)[start : start + self.batch_size]

    # -- the place ----------------------------------------------------------

    @property
    def epoch(self):
        """The epoch of the next batch, counted from 0."""
        return self._epoch

    @property
    def position(self):
        """How many batches of the current epoch have been served."""
        return self._position

    def next(self):
        """`(epoch, index)` of the next batch; the stream moves past it."""
        with self._lock:
            key = (self._epoch, self._position)
            self._position += 1
            if self._position == self.num_batches:
                self._epoch, self._position = self._epoch + 1, 0
        return key

    def upcoming(self, count):
        """The keys of the next `count` batches, without moving: what to load ahead."""
        with self._lock:
            epoch, position = self._epoch, self._position
        keys = []
        for _ in range(count):
            keys.append((epoch, position))
            position += 1
            if position == self.num_batches:
                epoch, position = epoch + 1, 0
        return keys

    def seek(self, epoch, position=0):
        """Moves to batch `position` of `epoch` (a position past the end runs on)."""
        epoch, position = self._normal(
            check_int("epoch", epoch, 0), check_int("position", position, 0)
        )
        with self._lock:
            self._epoch, self._position = epoch, position

    def _normal(self, epoch, position):
        """`(epoch, position)` with a position past the epoch's end carried into the epoch."""
        return epoch + position // self.num_batches, position % self.num_batches

    # -- state --------------------------------------------------------------

    def state_at(self, epoch, position):
        """The state of batch `position` of `epoch` (it may run past the epoch's end)."""
        epoch, position = self._normal(epoch, position)
        return {
            "version": STATE_VERSION,
            "epoch": int(epoch),
            "position": int(position),
            "seed": self.seed,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "fingerprint": self.fingerprint,
        }

    def get_state(self):
        """Where the stream stands, as small plain data (JSON-safe)."""
        with self._lock:
            epoch, position = self._epoch, self._position
        return self.state_at(epoch, position)

    def set_state(self, state):
        """Continues from a `get_state()`: the next batches are those not yet served.

        Raises:
            ValueError: the state is not one, or belongs to another dataset.
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(
                f"Invalid `state`: expected a dict from `get_state()`. Received: {state!r}"
            )
        expected = {
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "fingerprint": self.fingerprint,
        }
        for key, mine in expected.items():
            if state.get(key) != mine:
                what = "ids or labels" if key == "fingerprint" else f"`{key}`"
                raise ValueError(
                    f"This state belongs to another dataset: its {what} differ "
                    f"({state.get(key)!r} in the state, {mine!r} here)."
                )
        position = check_int("position", state.get("position"), 0)
        if position >= self.num_batches:
            raise ValueError(
                f"Invalid state: position {position} is past the last batch ({self.num_batches})."
            )
        seed = check_int("seed", state.get("seed"), 0)
        epoch = check_int("epoch", state.get("epoch"), 0)
        with self._lock:
            if seed != self.seed:
                self.seed, self._orders = seed, {}
            self._epoch, self._position = epoch, position

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_orders={}, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
