"""Errors raised by kdataset, each naming the culprit: the line, id, column or file."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal, overload

import numpy as np

from kdataset.cells import native

_MAX_LISTED = 10


@dataclasses.dataclass(frozen=True)
class Problem:
    """One problem found in a manifest.

    Attributes:
        message: What is wrong, in one sentence.
        line: Where the row is: `"line 12 of train.csv"` for a CSV file,
            `"row 10"` for a DataFrame, or `None` for a problem of the whole
            manifest (a missing column, say).
        id: The sample id of the row, if the problem is about one row.
        column: The column concerned, if any.
        path: The file concerned, if any.
    """

    message: str
    line: str | None = None
    id: str | None = None
    column: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        where: list[str] = []
        if self.line is not None:
            where.append(self.line)
        if self.id is not None:
            where.append(f"id {self.id!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.path is not None:
            where.append(f"path {self.path!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"


class ManifestError(ValueError):
    """A manifest cannot be used as given.

    Raised by `ManifestDataset` before any training starts. `problems` holds
    every problem found, not only the first; the message lists the first ten.

    Attributes:
        problems: A list of `Problem`.
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" {source}" if source else ""
        count = len(self.problems)
        lines = [f"Invalid manifest{where}: {plural(count, 'problem')} found."]
        lines += [f"  - {p}" for p in self.problems[:_MAX_LISTED]]
        if count > _MAX_LISTED:
            lines.append(f"  ... and {count - _MAX_LISTED} more.")
        super().__init__("\n".join(lines))

    def __reduce__(self) -> tuple[type[ManifestError], tuple[list[Problem], str | None]]:
        return (type(self), (self.problems, self.source))


class SampleError(ValueError):
    """A sample could not be loaded: the file is unreadable, truncated, or of
    another shape or dtype than the first sample.

    Attributes:
        path: The file.
        line: Where its row is in the manifest.
        id: The sample id.
        reason: What went wrong.
        batch: `(epoch, batch index)` of the batch it was loaded for, if any.
    """

    def __init__(
        self,
        reason: str,
        path: str | None = None,
        line: str | None = None,
        id: str | None = None,
        batch: tuple[int, int] | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.id = id
        self.batch = batch
        where = [p for p in (line, None if id is None else f"id {id!r}") if p]
        if path is not None:
            where.append(f"path {path!r}")
        if batch is not None:
            where.append(f"in batch {batch[1]} of epoch {batch[0]}")
        prefix = f"Could not load the sample at {', '.join(where)}: " if where else ""
        super().__init__(f"{prefix}{reason}")

    def __reduce__(self) -> tuple[type[SampleError], tuple[object, ...]]:
        return (type(self), (self.reason, self.path, self.line, self.id, self.batch))


@overload
def check_int(
    name: str,
    value: object,
    minimum: int | None = None,
    allow_none: Literal[False] = False,
    expected: str | None = None,
) -> int: ...
@overload
def check_int(
    name: str,
    value: object,
    minimum: int | None = None,
    allow_none: bool = False,
    expected: str | None = None,
) -> int | None: ...
def check_int(
    name: str,
    value: object,
    minimum: int | None = None,
    allow_none: bool = False,
    expected: str | None = None,
) -> int | None:
    """`value` as an int (at least `minimum`, if given), or a `ValueError` naming `name`.

    The one integer check: `bool` and floats are refused, NumPy integers taken.

    Example:

    >>> check_int("batch_size", np.int64(32), 1)
    32
    """
    if allow_none and value is None:
        return None
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or (minimum is not None and value < minimum)
    ):
        if expected is None:
            expected = "an integer" if minimum is None else f"an integer >= {minimum}"
            expected += " or None" if allow_none else ""
        raise ValueError(
            f"Invalid `{name}`: expected {expected}. Received: {name}={native(value)!r}"
        )
    return int(value)


def check_shard(shard: object) -> tuple[int, int]:
    """`shard` as `(index, count)` ints, or a `ValueError` naming `shard`.

    Example:

    >>> check_shard((1, 4))
    (1, 4)
    """
    expected = "a pair `(index, count)` of integers with 0 <= index < count"
    pair: Any = shard  # anything a user gave: what does not unpack, or not into ints, is refused
    try:
        index, count = pair
    except (TypeError, ValueError):
        raise ValueError(
            f"Invalid `shard`: expected {expected}. Received: shard={shard!r}"
        ) from None
    for value in (index, count):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"Invalid `shard`: expected {expected}. Received: shard={shard!r}")
    if not 0 <= index < count:
        raise ValueError(f"Invalid `shard`: expected {expected}. Received: shard={shard!r}")
    return int(index), int(count)


def check_options(storage_options: object) -> dict[str, Any]:
    """`storage_options` as a new dict (`{}` for `None`), or a `ValueError` naming it."""
    if storage_options is None:
        return {}
    if not isinstance(storage_options, dict):
        raise ValueError(
            "Invalid `storage_options`: expected a dict of fsspec options or None. "
            f"Received: storage_options of type {type(storage_options).__name__}"
        )
    return dict(storage_options)


def plural(count: int, word: str, words: str | None = None) -> str:
    """`"1 row"`, `"1,257 rows"`; `words` for a plural not made with an s.

    >>> plural(1, "copy", "copies"), plural(1_257, "problem"), plural(2, "class", "classes")
    ('1 copy', '1,257 problems', '2 classes')
    """
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def listing(values: Iterable[object], limit: int = _MAX_LISTED) -> str:
    """A short, quoted listing of values: `'a', 'b', ... (12 in all)`."""
    items = list(values)
    shown = ", ".join(repr(v) for v in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items)} in all)"
    return shown


def one_of(values: Iterable[object]) -> str:
    """`{'a', 'b'}` in the given order, for "expected one of ..." messages."""
    return "{" + ", ".join(repr(v) for v in values) + "}"
