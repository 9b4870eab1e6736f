"""Which epoch a dataset serves, as Keras, a `for` loop or the classic recipe's loop drive it.

Inside an epoch that Keras (or `iter(ds)`) began with `on_epoch_begin`, the
dataset serves its own next batch whatever index is asked; outside one,
`ds[i]` is batch `i` of the current epoch. `on_epoch_end` then means one of
three things, told by `kdataset.training.driving.epoch_end_kind`: Keras ended
an epoch it consumed, Keras abandoned one (the batch read to build the model
is served again), or your own loop over `ds[0] ... ds[len(ds) - 1]` ended one.
"""

from __future__ import annotations

from kdataset.core.stream import Stream
from kdataset.training.driving import EpochEnd


class EpochTracker:
    """Where the epoch that is being driven began, and what ending it does to the stream.

    Example:

    >>> stream = Stream(10, batch_size=5, seed=0)
    >>> epochs = EpochTracker()
    >>> epochs.begin(stream); key = stream.next(); epochs.end(stream, "abandon")
    False
    >>> (stream.epoch, stream.position)  # the batch read before abandoning is served again
    (0, 0)
    """

    def __init__(self) -> None:
        self.start: tuple[int, int] | None = None  # where a driven epoch began
        self.indexed = False  # `ds[i]` read outside a driven epoch since the last end

    @property
    def driven(self) -> bool:
        """Whether an epoch begun with `on_epoch_begin` is under way."""
        return self.start is not None

    def begin(self, stream: Stream) -> None:
        """An epoch begins where the stream stands."""
        self.start = (stream.epoch, stream.position)

    def end(self, stream: Stream, kind: EpochEnd) -> bool:
        """Ends the epoch as `kind` says; returns whether the stream moved to the next epoch
        of your loop (batches loaded ahead for the old place are then stale).

        - A driven epoch has moved the stream by the batches it served; one that
          Keras abandons goes back to where it began.
        - Your own loop over `ds[0] ... ds[len(ds) - 1]` moves to the next epoch.
        - Keras's calls outside an epoch (before the first one) move nothing.
        """
        start, self.start = self.start, None
        moved = False
        if start is not None:
            if kind == "abandon":
                stream.seek(*start)
        elif self.indexed and kind == "user":
            stream.seek(stream.epoch + 1)
            moved = True
        self.indexed = False
        return moved


__all__ = ["EpochTracker"]
