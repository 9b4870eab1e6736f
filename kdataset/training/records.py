"""What a dataset has served and skipped: the ledger behind `served_digest`, and `ds.skipped`.

Both count a batch once however often it is read (Keras reads one batch to
build the model and serves it again), and keep only what they need: the
served rows of the last two epochs, and every skipped sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from kdataset.core.stream import BatchPlan
from kdataset.errors import SampleError, plural

#: Epochs of served rows kept for `served_digest`.
KEPT_EPOCHS = 2


class SkippedSamplesWarning(UserWarning):
    """Samples were skipped with `on_error='skip'`; `ds.skipped` lists them."""


class Skipped(TypedDict):
    """One sample left out with `on_error="skip"`: where it was and why."""

    epoch: int
    batch: int
    line: str | None
    id: str | None
    path: str | None
    reason: str


class ServedLedger:
    """The manifest rows a dataset served, per epoch and batch (skipped samples left out).

    Example:

    >>> from kdataset.core.stream import Stream
    >>> ledger = ServedLedger()
    >>> plan = Stream(6, batch_size=4, seed=0, shuffle=False).plan(0, 0)
    >>> ledger.record(plan, failures=[1])
    >>> ledger.rows(0).tolist()
    [0, 2, 3]
    """

    def __init__(self) -> None:
        self._served: dict[int, dict[int, npt.NDArray[np.integer]]] = {}

    def record(self, plan: BatchPlan, failures: Sequence[int] = ()) -> None:
        """Notes the rows of `plan` as served, but the batch positions in `failures`."""
        served = self._served.get(plan.epoch)
        if served is None:
            served = self._served[plan.epoch] = {}
            for old in [e for e in self._served if e <= plan.epoch - KEPT_EPOCHS]:
                del self._served[old]
        if plan.index not in served:  # a batch read twice (to build a model) counts once
            served[plan.index] = np.delete(plan.rows, list(failures)) if failures else plan.rows

    def rows(self, epoch: int) -> npt.NDArray[np.integer]:
        """The rows served in `epoch`, batch after batch (none for an epoch not kept)."""
        batches = list(self._served.get(epoch, {}).values())
        return np.concatenate(batches) if batches else np.zeros(0, np.int64)


class SkippedRecord:
    """The samples skipped with `on_error="skip"`, each once per epoch, and the warning
    that reports them at the end of an epoch.

    Attributes:
        samples: Every skipped sample, as `Skipped` dicts, in the order met.
    """

    def __init__(self) -> None:
        self.samples: list[Skipped] = []
        self._seen: set[tuple[int, str | None, str | None]] = set()
        self._reported = 0

    def record(self, errors: Sequence[SampleError], key: tuple[int, int]) -> None:
        """Notes the samples of batch `key = (epoch, index)` that `errors` name."""
        for error in errors:
            seen = (key[0], error.path, error.line)
            if seen in self._seen:
                continue  # read twice in one epoch (Keras reads a batch to build the model)
            self._seen.add(seen)
            self.samples.append(
                Skipped(
                    epoch=key[0],
                    batch=key[1],
                    line=error.line,
                    id=error.id,
                    path=error.path,
                    reason=error.reason,
                )
            )

    def warn(self, stacklevel: int = 4) -> None:
        """Warns with `SkippedSamplesWarning` of the samples skipped since the last warning."""
        count = len(self.samples) - self._reported
        if not count:
            return
        self._reported = len(self.samples)
        first = self.samples[-count]
        warnings.warn(
            f"{plural(count, 'sample')} could not be loaded and "
            f"{'were' if count != 1 else 'was'} skipped (`on_error='skip'`); the first: "
            f"{first['line']}, path {first['path']!r}: {first['reason']}. "
            "`ds.skipped` lists them all.",
            SkippedSamplesWarning,
            stacklevel=stacklevel,
        )


__all__ = ["KEPT_EPOCHS", "ServedLedger", "Skipped", "SkippedRecord", "SkippedSamplesWarning"]
