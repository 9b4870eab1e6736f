"""The stream of batches: which rows come next, where the dataset stands, and resuming.

The order of an epoch is a pure function of `(seed, epoch)` (`epoch_order`),
never of how many hosts read it; the stream walks it batch after batch, epoch
after epoch, and its place is two integers. It knows nothing of files or labels.

Sharding over hosts: with `shard=(index, count)`, a global step is
`batch_size * count` consecutive positions of the epoch's order, and host
`index` takes the `index`-th `batch_size` of them. The hosts' batches are
disjoint and together cover the epoch; every host has the same number of
batches, and the last one of a host may be shorter, or empty (the caller pads
it to `batch_size` with zero-weight rows, so that every host runs the same
number of steps of the same shape).

Elastic resume: a state records the rows of the epoch consumed by all hosts
together (`offset`), so it can be resumed on any number of hosts: the epoch
goes on from that offset with the new shard count, and the epochs after it
are whole.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Mapping, Sequence
from typing import NamedTuple, SupportsIndex, TypedDict

import numpy as np
import numpy.typing as npt

from kdataset.core.order import balanced_order, epoch_order
from kdataset.errors import check_int, check_shard

STATE_VERSION: int = 2
_STATE_VERSIONS: tuple[int, ...] = (1, 2)
# Keys of a state, by version: what `set_state` requires.
_STATE_KEYS: dict[int, tuple[str, ...]] = {
    1: ("epoch", "position", "seed", "num_samples", "batch_size", "fingerprint"),
    2: (
        "epoch",
        "position",
        "offset",
        "shard_count",
        "seed",
        "num_samples",
        "batch_size",
        "fingerprint",
    ),
}


class StreamState(TypedDict):
    """Where a stream (a dataset) stands, from `get_state()`: ints and a string, JSON-safe.

    Attributes:
        version: The state's format, `STATE_VERSION`.
        epoch: The epoch of the next batch, counted from 0.
        position: The batches of that epoch this host has served.
        offset: The positions of the epoch's order consumed by all hosts together.
        shard_count: The number of hosts it was saved with.
        seed: The seed of the order.
        num_samples: The rows of the manifest.
        batch_size: The rows of a batch (per host).
        fingerprint: What the dataset must match to resume (its ids and labels).
    """

    version: int
    epoch: int
    position: int
    offset: int
    shard_count: int
    seed: int
    num_samples: int
    batch_size: int
    fingerprint: str


class BatchPlan(NamedTuple):
    """One batch, planned once by the stream: everything the batch source needs.

    Attributes:
        epoch: The epoch it belongs to.
        index: This host's batch number within the epoch.
        rows: The manifest row positions of its samples, `order[start:start + len(rows)]`.
        start: Where `rows` begin in the epoch's order (positions seed transforms).
        order: The epoch's order of rows, for all hosts (targets are encoded a
            window of it at a time).
    """

    epoch: int
    # Shadows `tuple.index` (mypy refuses a field that does): the batch's number reads
    # best as `plan.index`, and callers use it.
    index: int  # type: ignore[assignment]
    rows: npt.NDArray[np.int32 | np.int64]
    start: int
    order: npt.NDArray[np.int32 | np.int64]

    @property
    def key(self) -> tuple[int, int]:
        """`(epoch, index)`."""
        return self.epoch, self.index

    @property
    def positions(self) -> npt.NDArray[np.int64]:
        """The positions of `rows` in the epoch's order, an `int64` array."""
        return np.arange(self.start, self.start + len(self.rows), dtype=np.int64)


class Stream:
    """The batches of every epoch in order, and the place of the next one.

    Args:
        num_samples: Rows in the manifest.
        batch_size: Rows per batch (per host, when sharded).
        seed: Seed of the order.
        shuffle: Shuffle each epoch (else the manifest order).
        drop_remainder: Leave out the rows past the last complete global step
            of an epoch (the last complete batch, on one host): every host then
            has the same number of full batches.
        fingerprint: What a saved state must match (the ids and labels).
        class_of: For balanced sampling, the class index of every row: each
            epoch is then `balanced_order`'s draws instead of every row once.
        shard: `(index, count)`: this host is host `index` of `count`. A global
            step is `batch_size * count` consecutive positions of the epoch's
            order; host `index` takes positions
            `[step_start + index * batch_size, step_start + (index + 1) * batch_size)`.
            Every host has `num_batches` batches; in the last step a host's
            batch may be shorter than `batch_size`, or empty: pad it with
            zero-weight rows to keep every host's steps of one shape.

    Raises:
        ValueError: `shard` is not a valid pair, or `class_of` is not one class
            index per row.

    Example:

    >>> stream = Stream(5, batch_size=2, seed=0, shuffle=False)
    >>> [stream.next() for _ in range(4)]
    [(0, 0), (0, 1), (0, 2), (1, 0)]
    >>> stream.rows(1, 2).tolist()
    [4]
    >>> host = Stream(5, batch_size=2, seed=0, shuffle=False, shard=(1, 2))
    >>> host.num_batches, host.rows(0, 0).tolist(), host.rows(0, 1).tolist()
    (2, [2, 3], [])
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        drop_remainder: bool = False,
        fingerprint: str = "",
        class_of: npt.NDArray[np.integer] | Sequence[int] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.shard_index, self.shard_count = check_shard(shard)
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.fingerprint = fingerprint
        if class_of is not None and len(class_of) != self.num_samples:
            raise ValueError(
                f"Invalid `class_of`: expected one class index per row ({self.num_samples}). "
                f"Received: {len(class_of)} class indices."
            )
        self.class_of = class_of
        self.num_batches = self._batches(self.num_samples)
        self._epoch = 0
        self._position = 0
        # `(epoch, offset)` of an epoch resumed from a state whose offset is not at a
        # step of this stream: that epoch's steps start at `offset`. Else None.
        self._resumed: tuple[int, int] | None = None
        self._orders: dict[int, npt.NDArray[np.int32 | np.int64]] = {}
        self._lock = threading.Lock()

    @property
    def shard(self) -> tuple[int, int]:
        """`(index, count)`: which host this stream serves, of how many."""
        return self.shard_index, self.shard_count

    @property
    def global_batch_size(self) -> int:
        """Rows of one global step: `batch_size * shard_count`."""
        return self.batch_size * self.shard_count

    def _batches(self, rows: int) -> int:
        """Batches per host for `rows` rows of an order, in steps of the global batch."""
        step = self.global_batch_size
        return rows // step if self.drop_remainder else -(-rows // step)

    # -- the order ----------------------------------------------------------

    def order(self, epoch: int) -> npt.NDArray[np.int32 | np.int64]:
        """The rows of `epoch` in order, for all hosts (the last two epochs' orders are kept)."""
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

    def epoch_offset(self, epoch: int) -> int:
        """Positions of `epoch`'s order consumed before its first batch here.

        0, but in an epoch resumed by `set_state` from an offset that is not a
        whole number of this stream's global steps: its step `k` then covers
        positions `[offset + k * global_batch_size, offset + (k + 1) * global_batch_size)`.
        """
        resumed = self._resumed
        return resumed[1] if resumed is not None and resumed[0] == epoch else 0

    def batches_in(self, epoch: int) -> int:
        """This host's batches in `epoch`: `num_batches`, or fewer in a resumed epoch.

        The same on every host. After `set_state`, the rest of the current
        epoch is `batches_in(epoch) - position` batches.
        """
        resumed = self._resumed
        if resumed is None or resumed[0] != epoch:
            return self.num_batches  # every epoch but a resumed one: asked every batch
        return self._batches(self.num_samples - resumed[1])

    def check_index(self, index: SupportsIndex, limit: int | None = None) -> int:
        """`index` as an int in `[0, limit)` (by default `[0, num_batches)`), or a clear
        `TypeError`/`IndexError`."""
        limit = self.num_batches if limit is None else limit
        try:
            number = operator.index(index)
        except TypeError:
            raise TypeError(
                f"Batch indices are integers. Received: {index!r} of type {type(index).__name__}"
            ) from None
        if not 0 <= number < limit:
            raise IndexError(
                f"Batch index out of range: expected 0 <= index < {limit}. Received: index={number}"
            )
        return number

    def _span(self, epoch: int, index: int) -> tuple[int, int]:
        """`(start, stop)`: the positions in `epoch`'s order of this host's batch `index`."""
        if not 0 <= index < self.batches_in(epoch):
            return 0, 0
        start = (
            self.epoch_offset(epoch)
            + index * self.global_batch_size
            + self.shard_index * self.batch_size
        )
        start = min(start, self.num_samples)
        return start, min(start + self.batch_size, self.num_samples)

    def rows(self, epoch: int, index: int) -> npt.NDArray[np.int32 | np.int64]:
        """Manifest row positions of this host's batch `index` of `epoch`.

        At most `batch_size` of them: the last batch of an epoch may be shorter,
        or empty on some hosts; an index past `batches_in(epoch)` gives none.
        """
        start, stop = self._span(epoch, index)
        return self.order(epoch)[start:stop]

    def plan(self, epoch: int, index: int) -> BatchPlan:
        """The `BatchPlan` of this host's batch `index` of `epoch`.

        Example:

        >>> plan = Stream(10, batch_size=4, seed=0, shuffle=False).plan(0, 2)
        >>> plan.rows.tolist(), plan.start, plan.positions.tolist()
        ([8, 9], 8, [8, 9])
        """
        start, stop = self._span(epoch, index)
        order = self.order(epoch)
        return BatchPlan(epoch, index, order[start:stop], start, order)

    def positions(self, epoch: int, index: int) -> npt.NDArray[np.int64]:
        """The positions in `order(epoch)` of `rows(epoch, index)`, an `int64` array.

        The same sample of an epoch has the same position whatever the number
        of hosts: seed per-sample randomness (augmentation) with
        `(seed, epoch, position)` to make it independent of the shard count.

        Example:

        >>> host = Stream(10, batch_size=2, seed=3, shard=(1, 2))
        >>> positions = host.positions(0, 1)
        >>> positions.tolist()
        [6, 7]
        >>> host.order(0)[positions].tolist() == host.rows(0, 1).tolist()
        True
        """
        return np.arange(*self._span(epoch, index), dtype=np.int64)

    # -- the place ----------------------------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch of the next batch, counted from 0."""
        return self._epoch

    @property
    def position(self) -> int:
        """How many batches of the current epoch this host has served."""
        return self._position

    def next(self) -> tuple[int, int]:
        """`(epoch, index)` of the next batch; the stream moves past it."""
        with self._lock:
            key = (self._epoch, self._position)
            self._position += 1
            if self._position >= self.batches_in(self._epoch):
                self._epoch, self._position = self._epoch + 1, 0
        return key

    def upcoming(self, count: int) -> list[tuple[int, int]]:
        """The keys of the next `count` batches, without moving: what to load ahead."""
        with self._lock:
            epoch, position = self._epoch, self._position
        keys: list[tuple[int, int]] = []
        size = self.batches_in(epoch)
        for _ in range(count):
            keys.append((epoch, position))
            position += 1
            if position >= size:
                epoch, position = epoch + 1, 0
                size = self.batches_in(epoch)
        return keys

    def seek(self, epoch: int, position: int = 0) -> None:
        """Moves to batch `position` of `epoch` (a position past the end runs on).

        A resumed epoch keeps its offset: `seek(epoch)` goes back to the first
        batch served after the resume.
        """
        epoch, position = check_int("epoch", epoch, 0), check_int("position", position, 0)
        with self._lock:
            self._epoch, self._position = self._normal(epoch, position)

    def _normal(self, epoch: int, position: int) -> tuple[int, int]:
        """`(epoch, position)` with a position past the epoch's end carried into the next."""
        resumed = self._resumed
        while resumed is not None and epoch <= resumed[0]:
            count = self.batches_in(epoch)
            if position < count:
                return epoch, position
            epoch, position = epoch + 1, position - count
        if self.num_batches == 0:
            return epoch, 0
        return epoch + position // self.num_batches, position % self.num_batches

    # -- state --------------------------------------------------------------

    def state_at(self, epoch: int, position: int) -> StreamState:
        """The state of batch `position` of `epoch` (it may run past the epoch's end).

        `offset` is the number of positions of the epoch's order consumed by
        all hosts together, `epoch_offset(epoch) + position * global_batch_size`:
        hosts that move in lockstep have the same state, so any host's state
        can be saved and resumed on any number of hosts.
        """
        epoch, position = self._normal(epoch, position)
        offset = self.epoch_offset(epoch) + position * self.global_batch_size
        return {
            "version": STATE_VERSION,
            "epoch": int(epoch),
            "position": int(position),
            "offset": int(min(offset, self.num_samples)),
            "shard_count": self.shard_count,
            "seed": self.seed,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "fingerprint": self.fingerprint,
        }

    def get_state(self) -> StreamState:
        """Where the stream stands, as small plain data (JSON-safe).

        Example:

        >>> host = Stream(10, batch_size=2, seed=0, shard=(0, 2))
        >>> host.next()
        (0, 0)
        >>> state = host.get_state()
        >>> state["position"], state["offset"], state["shard_count"]
        (1, 4, 2)
        """
        with self._lock:
            epoch, position = self._epoch, self._position
        return self.state_at(epoch, position)

    def set_state(self, state: Mapping[str, object], allow_batch_size_change: bool = False) -> None:
        """Continues from a `get_state()`: the next batches hold the rows not yet served.

        The state may come from a stream of any shard count (any host of it),
        or be a version-1 state (one host, no `offset`). The epoch goes on from
        the state's `offset` with this stream's shards: the rows of the epoch
        not yet served by any host, each once; later epochs are whole. When
        the offset falls on a step of this stream (always, for the same shard
        count and batch size), the position is that step and the batches are
        those of an uninterrupted run; else the epoch's steps start at the
        offset and `batches_in(epoch)` is smaller. An offset at the end of the
        epoch moves to the next one. The state's seed replaces this stream's.

        Args:
            state: A dict from `get_state()` or `state_at()` (a `StreamState`),
                or read back from JSON.
            allow_batch_size_change: Accept a state saved with another
                `batch_size` and the same shard count. Without it such a state
                is refused, as a likely mistake: the resumed run would not be
                the uninterrupted one. With another shard count the batches
                differ anyway, and so may the batch size.

        Raises:
            ValueError: the state is not one, a field of it is invalid, or it
                belongs to another dataset (another number of rows, or other
                ids or labels).
        """
        if not isinstance(state, dict) or state.get("version") not in _STATE_VERSIONS:
            raise ValueError(
                f"Invalid `state`: expected a dict from `get_state()` with a `version` in "
                f"{_STATE_VERSIONS}. Received: {state!r}"
            )
        # The state's version (checked above) as the int of `_STATE_VERSIONS` it equals.
        version = _STATE_VERSIONS[_STATE_VERSIONS.index(state["version"])]
        missing = [key for key in _STATE_KEYS[version] if key not in state]
        if missing:
            raise ValueError(
                f"Invalid `state`: expected a dict from `get_state()`; it lacks "
                f"{', '.join(repr(k) for k in missing)}. Received: {state!r}"
            )

        def field(key: str, minimum: int) -> int:
            return check_int(f"state['{key}']", state[key], minimum)

        num_samples = field("num_samples", 0)
        if num_samples != self.num_samples:
            raise ValueError(
                f"This state belongs to another dataset: its `num_samples` differ "
                f"({num_samples} rows in the state, {self.num_samples} here)."
            )
        if state["fingerprint"] != self.fingerprint:
            raise ValueError(
                "This state belongs to another dataset: its ids or labels differ. The "
                "manifest (its ids or labels) changed since the state was saved: fingerprint "
                f"{state['fingerprint']!r} in the state, {self.fingerprint!r} here."
            )
        batch_size = field("batch_size", 1)
        shard_count = field("shard_count", 1) if version >= 2 else 1
        if (
            batch_size != self.batch_size
            and shard_count == self.shard_count
            and not allow_batch_size_change
        ):
            raise ValueError(
                f"This state was saved with another `batch_size` ({batch_size} in the state, "
                f"{self.batch_size} here) and the same shard count: the resumed run would "
                "not be the uninterrupted one. Pass `allow_batch_size_change=True` to resume "
                "it anyway (every row of the epoch is still served once)."
            )
        epoch = field("epoch", 0)
        seed = field("seed", 0)
        position = field("position", 0)
        if version >= 2:
            offset = field("offset", 0)
        else:
            offset = position * batch_size
        if offset > self.num_samples:
            raise ValueError(
                f"Invalid `state`: its offset is past the end of the epoch: expected at most "
                f"num_samples={self.num_samples} rows consumed. Received: offset={offset}"
            )
        step = self.global_batch_size
        with self._lock:
            if seed != self.seed:
                self.seed, self._orders = seed, {}
            if offset % step:
                self._resumed, position = (epoch, offset), 0
            else:
                self._resumed, position = None, offset // step
            self._epoch, self._position = self._normal(epoch, position)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.update(_orders={}, _lock=None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        # Streams pickled before sharding were one host, never resumed from an offset.
        self.__dict__.update(shard_index=0, shard_count=1, _resumed=None)
        self.__dict__.update(state)
        self._lock = threading.Lock()
