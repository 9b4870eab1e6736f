"""How Keras drives a `PyDataset`, version by version: who ends an epoch, and who shards.

kdataset serves every epoch in its own order and ignores the batch index that
Keras asks for inside an epoch (the only way to serve each row once when Keras
permutes, replays or prefetches indices). So it must know two things that
Keras tells a `PyDataset` through no public hook in the versions tested (3.15
and 3.16: `on_epoch_begin` and `on_epoch_end` take no argument, and the
adapter's own state, `_within_epoch` and `_epoch`, is private):

- **Who ends an epoch.** `PyDatasetAdapter.on_epoch_end` is called by
  Keras's `EpochIterator` from three places: `_enumerate_iterator` and
  `catch_stop_iteration` end an epoch that was consumed (or ran out);
  `reset` abandons one, discarding the batches read since it began (the batch
  read to build the model, before the first epoch). The caller's name is the
  only sign, so `epoch_end_kind` reads it from the call stack, and
  `KNOWN_EPOCH_ENDS` lists every caller the tested versions use. A caller not
  in that list means Keras changed how it drives epochs: kdataset warns with
  `KerasDrivingWarning` (the test suite turns it into an error, so the change
  fails CI before it reaches a user) rather than guess silently.
- **Who shards.** From Keras 3.16, `PyDatasetAdapter` shards a `PyDataset`
  itself when the distribution has `auto_shard_dataset=True` (the default of
  `keras.distribution.DataParallel`): with `num_data_shards` shards it asks
  the process with `data_shard_id` for the batch indices
  `range(data_shard_id, len(ds), num_data_shards)`. Keras 3.15 refuses a
  `PyDataset` there instead. `keras_data_shard` says which applies.

Tests drive Keras's own `EpochIterator` and `PyDatasetAdapter` (and two and
three real JAX processes) on every version declared in `pyproject.toml`, so a
Keras that drives datasets differently fails them.
"""

from __future__ import annotations

import sys
import warnings
from types import FrameType
from typing import Literal

#: The Keras minor versions kdataset is tested with (the tox envs run each).
TESTED_KERAS = ("3.15", "3.16")

#: The Keras functions that call `PyDatasetAdapter.on_epoch_end`, and what each means.
KNOWN_EPOCH_ENDS: dict[str, Literal["end", "abandon"]] = {
    "_enumerate_iterator": "end",  # EpochIterator: the epoch's steps are done
    "catch_stop_iteration": "end",  # EpochIterator: the data ran out
    "reset": "abandon",  # EpochIterator: the batches read since `on_epoch_begin` are dropped
}

EpochEnd = Literal["user", "end", "abandon"]


class KerasDrivingWarning(UserWarning):
    """Keras drives a `PyDataset` in a way this kdataset was not tested with."""


def keras_version() -> tuple[int, int]:
    """`(major, minor)` of the installed Keras (the `keras` or `keras-nightly` distribution)."""
    import keras

    major, minor = keras.version().split(".")[:2]
    return int(major), int(minor)


def keras_shards_pydatasets() -> bool:
    """Whether Keras's `PyDatasetAdapter` shards a `PyDataset` itself (Keras 3.16 and later)."""
    return keras_version() >= (3, 16)


def keras_data_shard() -> tuple[int, int] | None:
    """`(data_shard_id, num_data_shards)` when Keras will shard a `PyDataset`, else `None`.

    Keras shards a `PyDataset` when it is 3.16 or later and the distribution
    set with `keras.distribution.set_distribution` has `auto_shard_dataset`
    and more than one data shard (one per process, for `DataParallel` over
    several processes). It then asks process `data_shard_id` for every
    `num_data_shards`-th batch index, starting at `data_shard_id`.

    Example:

    >>> keras_data_shard() is None  # no distribution set
    True
    """
    if not keras_shards_pydatasets():
        return None
    import keras

    distribution = keras.distribution.distribution()
    # The adapter's own test: `getattr(dist, "auto_shard_dataset", False)`.
    if distribution is None or not getattr(distribution, "auto_shard_dataset", False):
        return None
    count = int(distribution.num_data_shards)
    if count <= 1:
        return None
    return int(distribution.data_shard_id), count


def warn_if_untested() -> None:
    """Warns once per process when the installed Keras is not among `TESTED_KERAS`."""
    global _warned_version
    if _warned_version:
        return
    _warned_version = True
    major, minor = keras_version()
    if f"{major}.{minor}" not in TESTED_KERAS:
        import keras

        warnings.warn(
            f"kdataset is tested with Keras {' and '.join(TESTED_KERAS)}; Keras "
            f"{keras.version()} may drive a PyDataset differently (how it ends epochs, how "
            "it shards), which kdataset relies on to serve every row once per epoch.",
            KerasDrivingWarning,
            stacklevel=3,
        )


_warned_version = False


def epoch_end_kind(dataset: object, depth: int = 2) -> EpochEnd:
    """What the call of `dataset.on_epoch_end` being run means, read from the call stack.

    Args:
        dataset: The dataset whose `on_epoch_end` is running; its own frames
            (a subclass's `on_epoch_end` calling `super()`) are looked through.
        depth: Frames between this function and `on_epoch_end`'s caller's
            frame (2 when `on_epoch_end` calls this directly).

    Returns:
        `"user"` when code outside Keras called it (a custom loop),
        `"end"` when Keras ended an epoch it consumed (or your code ended
        one through Keras's `PyDatasetAdapter`), `"abandon"` when
        Keras's `EpochIterator.reset` dropped the batches read since the
        epoch began. A Keras caller not in `KNOWN_EPOCH_ENDS` warns with
        `KerasDrivingWarning` and counts as `"end"`.
    """
    frame: FrameType | None = sys._getframe(depth)
    while frame is not None and frame.f_locals.get("self") is dataset:
        frame = frame.f_back
    if frame is None or not _is_keras(frame):
        return "user"
    caller = frame.f_back if frame.f_code.co_name == "on_epoch_end" else None
    if caller is not None and not _is_keras(caller):
        return "end"  # your code ended the epoch through Keras's adapter, as a loop of yours
    name = caller.f_code.co_name if caller is not None else None
    kind = KNOWN_EPOCH_ENDS.get(name) if name is not None else None
    if kind is None:
        where = f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}"
        if name is not None:
            where = f"{name} (through {where})"
        warnings.warn(
            f"Keras ended an epoch of {type(dataset).__name__} from `{where}`, which kdataset "
            f"does not know (it knows {', '.join(sorted(KNOWN_EPOCH_ENDS))}, the callers of "
            f"Keras {' and '.join(TESTED_KERAS)}). It is taken as the end of an epoch; if "
            "Keras discarded the batches read, some rows may be served twice. Please report it "
            "with your Keras version.",
            KerasDrivingWarning,
            stacklevel=depth + 2,
        )
        return "end"
    return kind


def _is_keras(frame: FrameType) -> bool:
    return str(frame.f_globals.get("__name__", "")).startswith("keras.")


__all__ = [
    "KNOWN_EPOCH_ENDS",
    "TESTED_KERAS",
    "KerasDrivingWarning",
    "epoch_end_kind",
    "keras_data_shard",
    "keras_shards_pydatasets",
    "keras_version",
    "warn_if_untested",
]
