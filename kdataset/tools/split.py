"""Splitting a manifest into train, validation and test sets: stratified, grouped, reproducible."""

from __future__ import annotations

import itertools
import numbers
import os
import warnings
from collections.abc import Hashable, Sequence
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from kdataset.cells import is_missing, native
from kdataset.errors import Problem, check_int, listing, plural
from kdataset.io.manifest import Rows
from kdataset.labels.encoding import LabelEncoder, continuous_values, sort_classes

_SPLITS = ("train", "val", "test")
_TRAIN = 0
_MAX_LISTED = 10
_LIST_LIKE = (list, tuple, set, frozenset, np.ndarray)
# Every non-empty subset of the three splits, for the feasibility test of `_round_table`.
_SUBSETS = [s for r in (1, 2, 3) for s in itertools.combinations(range(3), r)]

# Per split, in the order of `_SPLITS`: the fractions asked for, and the rows each gets.
_Fractions: TypeAlias = tuple[float, float, float]
_Totals: TypeAlias = tuple[int, int, int]
_Ints: TypeAlias = npt.NDArray[np.int64]


class SplitWarning(UserWarning):
    """A split came out other than asked, and `split_manifest` says how.

    Raised (as a warning) when a class has too few rows to appear in every
    split asked for, or when a split asked for is empty. The rows are never
    dropped: the message says where they went.
    """


# -- arguments ---------------------------------------------------------------------


def _check_fraction(name: str, value: object) -> float:
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, numbers.Real)
        or not 0 <= float(value) < 1
    ):
        raise ValueError(
            f"Invalid `{name}`: expected a fraction in [0, 1). Received: {name}={native(value)!r}"
        )
    return float(value)


def _check_seed(seed: object) -> int:
    return check_int(
        "seed", seed, 0, expected="an integer >= 0 (the same seed gives the same split)"
    )


def _check_column_name(name: str, value: object) -> None:
    try:
        hash(value)
    except TypeError:
        raise ValueError(
            f"Invalid `{name}`: expected a column name. Received: {name}={value!r}"
        ) from None


def _check_arguments(
    val: float,
    test: float,
    stratify: str | list[str] | tuple[str, ...] | None,
    group: str | None,
    seed: int,
    label_separator: str | None,
) -> tuple[float, float, str | list[str] | None, int]:
    val = _check_fraction("val", val)
    test = _check_fraction("test", test)
    if val + test >= 1:
        raise ValueError(
            "Invalid `val` and `test`: expected val + test < 1, so that rows are left for "
            f"training. Received: val={val!r}, test={test!r}"
        )
    seed = _check_seed(seed)
    if isinstance(stratify, list | tuple):
        if not stratify:
            raise ValueError(
                "Invalid `stratify`: expected a column name or a non-empty list of 0/1 "
                "columns. Received: stratify=[]"
            )
        for column in stratify:
            _check_column_name("stratify", column)
        repeated = [
            c for c, n in pd.Series(list(stratify)).value_counts(sort=False).items() if n > 1
        ]
        if repeated:
            raise ValueError(
                f"Invalid `stratify`: columns must be distinct. Repeated: {listing(repeated)}"
            )
        stratify = list(stratify)
    elif stratify is not None:
        _check_column_name("stratify", stratify)
    if label_separator is not None:
        if not isinstance(label_separator, str) or not label_separator:
            raise ValueError(
                "Invalid `label_separator`: expected a non-empty string or None. "
                f"Received: label_separator={label_separator!r}"
            )
        if stratify is None or isinstance(stratify, list):
            raise ValueError(
                "Invalid `label_separator`: it splits the single `stratify` column into labels "
                f"(such as 'cat|dog'), so it needs `stratify` to name one column. Received: "
                f"label_separator={label_separator!r}, stratify={stratify!r}"
            )
    if isinstance(group, list | tuple):
        raise ValueError(
            f"Invalid `group`: expected the name of one column. Received: group={group!r}"
        )
    if group is not None:
        _check_column_name("group", group)
    return val, test, stratify, seed


class _Labels(NamedTuple):
    """The `stratify` labels: class names, the class indices of each row, how to
    name the column(s) in a message, and whether rows may hold several labels."""

    classes: Sequence[Hashable]
    sets: list[list[int]]
    what: str
    multi: bool


# `(classes, class_of, class_sets)`, as `_read_labels` gives them.
_ReadLabels: TypeAlias = tuple[Sequence[Hashable], _Ints | None, list[list[int]]]


# -- reading the columns ---------------------------------------------------------------


def _key(value: object) -> object:
    """A label or group value as the key it is counted under."""
    return value.strip() if isinstance(value, str) else native(value)


def _unhashable(rows: Rows, column: str, keys: Sequence[object], what: str) -> bool:
    """Notes each key that cannot be counted (a dict, say); `True` if there is one.

    `keys` holds one key per row, or (multi-label) one list of keys per row.
    """
    found = False
    for i, row in enumerate(keys):
        for key in row if isinstance(row, list) else [row]:
            try:
                hash(key)
            except TypeError:
                found = True
                rows.problem(
                    f"expected {what}, got a {type(key).__name__}: {key!r}", row=i, column=column
                )
    return found


def _read_labels(
    rows: Rows, stratify: str | list[str], label_separator: str | None
) -> _ReadLabels | None:
    """`(classes, class_of, class_sets)`: class names and, per row, its class index
    (single-label; `None` for multi-label) and the list of its class indices.
    `None` when a problem was noted in `rows`."""
    if isinstance(stratify, list):
        return _read_binary_columns(rows, stratify)
    values = rows.values(stratify)
    multi = label_separator is not None or any(isinstance(v, _LIST_LIKE) for v in values)
    if multi:
        # A row without labels is allowed: it is the all-zero row.
        encoder = LabelEncoder(multi_label=True, separator=label_separator)
        names = [[_key(x) for x in encoder.split(v)] for v in values]
        if _unhashable(rows, stratify, names, "a label"):
            return None
        names = [list(dict.fromkeys(row)) for row in names]
        classes = sort_classes(name for row in names for name in row)
        index = {c: j for j, c in enumerate(classes)}
        return classes, None, [[index[name] for name in row] for row in names]
    empty = [i for i, v in enumerate(values) if is_missing(v)]
    for i in empty:
        rows.problem("empty label", row=i, column=stratify)
    keys = [_key(v) for v in values]
    if _unhashable(rows, stratify, keys, "a label") or empty:
        return None
    continuous = continuous_values(values)
    if continuous:
        rows.problems.append(
            Problem(
                f"`stratify` keeps the shares of classes, but {stratify!r} holds {continuous}: "
                "a regression target, not classes. Bin it into a column of classes first "
                "(pandas.qcut), or split without `stratify`",
                column=stratify,
            )
        )
        return None
    classes = sort_classes(keys)
    index = {c: j for j, c in enumerate(classes)}
    class_of = np.array([index[k] for k in keys], dtype=np.int64)
    return classes, class_of, [[c] for c in class_of.tolist()]


def _read_binary_columns(rows: Rows, columns: Sequence[str]) -> _ReadLabels | None:
    before = len(rows.problems)
    matrix = rows.binary_columns(list(columns))
    if len(rows.problems) > before:
        return None
    return list(columns), None, [np.flatnonzero(row).tolist() for row in matrix]


def _read_groups(rows: Rows, group: str) -> _Ints | None:
    """Group index per row, numbered in order of first appearance, or `None` when a
    problem was noted in `rows`. Every row needs a group, or rows of one group
    could end up in two splits."""
    values = rows.values(group)
    empty = [i for i, v in enumerate(values) if is_missing(v)]
    for i in empty:
        rows.problem("empty group value", row=i, column=group)
    keys = [_key(v) for v in values]
    if _unhashable(rows, group, keys, "a group value") or empty:
        return None
    number: dict[object, int] = {}
    return np.array([number.setdefault(k, len(number)) for k in keys], dtype=np.int64)


# -- assigning rows ----------------------------------------------------------------------


def _plain(n: int, totals: _Totals, rng: np.random.Generator) -> _Ints:
    order = rng.permutation(n)
    assignment = np.zeros(n, dtype=np.int64)
    assignment[order[: totals[1]]] = 1
    assignment[order[totals[1] : totals[1] + totals[2]]] = 2
    return assignment


def _stratified(
    class_of: _Ints,
    n_classes: int,
    fractions: _Fractions,
    totals: _Totals,
    rng: np.random.Generator,
) -> _Ints:
    """Single-label rows: class counts per split by `_apportion`, rows drawn per class."""
    counts = np.bincount(class_of, minlength=n_classes)
    table = _apportion(counts, fractions, totals, rng)
    assignment = np.zeros(len(class_of), dtype=np.int64)
    by_class = np.argsort(class_of, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    for c in range(n_classes):
        members = rng.permutation(by_class[starts[c] : starts[c + 1]])
        n_val, n_test = table[c, 1], table[c, 2]
        assignment[members[:n_val]] = 1
        assignment[members[n_val : n_val + n_test]] = 2
    return assignment


def _apportion(
    counts: npt.ArrayLike, fractions: _Fractions, totals: _Totals, rng: np.random.Generator
) -> _Ints:
    """Rows of each class per split: a `(classes, 3)` int table whose rows sum to
    `counts` and whose columns sum to `totals` exactly.

    Largest-remainder rounding of `counts[c] * fractions[s]` done on the whole
    table at once (controlled rounding), so each entry is the floor or the ceiling
    of its exact share whenever the totals allow it, and within one row of it
    otherwise. A class keeps at least one train row when a table with it exists.
    """
    counts = np.asarray(counts, dtype=np.int64)
    exact = np.empty((len(counts), 3))
    exact[:, 1] = np.round(counts * fractions[1], 9)
    exact[:, 2] = np.round(counts * fractions[2], 9)
    exact[:, 0] = counts - exact[:, 1] - exact[:, 2]
    for mode in ("strict", "relaxed", "free"):
        lo, hi = _bounds(exact, counts, fractions, mode)
        table = _round_table(exact, counts, np.asarray(totals), lo, hi, rng)
        if table is not None:
            return table
    raise AssertionError("unreachable: a table with free entries always exists")


def _bounds(
    exact: npt.NDArray[np.float64],
    counts: _Ints,
    fractions: _Fractions,
    mode: Literal["strict", "relaxed", "free"],
) -> tuple[_Ints, _Ints]:
    """Entry bounds: floor and ceiling of the exact share ("strict"), within one
    row of it ("relaxed", for ties of the rounded totals), or anything ("free")."""
    floor, ceil = np.floor(exact), np.ceil(exact)
    column = counts[:, None] + np.zeros_like(exact)
    if mode == "strict":
        lo, hi = floor, ceil
    elif mode == "relaxed":
        lo, hi = np.maximum(ceil - 1, 0), np.minimum(floor + 1, column)
    else:
        lo, hi = np.zeros_like(exact), column
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    for s in (1, 2):
        if fractions[s] == 0:
            lo[:, s] = hi[:, s] = 0
    return lo, hi


def _round_table(
    exact: npt.NDArray[np.float64],
    counts: _Ints,
    totals: _Ints,
    lo: _Ints,
    hi: _Ints,
    rng: np.random.Generator,
) -> _Ints | None:
    """The table `lo + extra` with `lo <= table <= hi`, rows summing to `counts` and
    columns to `totals`, or `None` when there is none.

    A row's extra units go where the exact share exceeds the count the most
    (largest remainder first, seeded random among ties), except that a class
    without a train row is first offered one (train first). Every unit is taken only
    if a complete table still exists afterwards, which the flow condition below
    decides exactly: for every subset T of the splits, the units T still needs
    must not exceed what the rows can still give to T.
    """
    k = (counts - lo.sum(axis=1)).tolist()
    room = (hi - lo).tolist()
    need = (totals - lo.sum(axis=0)).tolist()
    if min(k, default=0) < 0 or min(need) < 0 or (hi < lo).any() or sum(need) != sum(k):
        return None

    def gives(c: int) -> list[int]:
        return [min(k[c], sum(room[c][s] for s in subset)) for subset in _SUBSETS]

    supply = [0] * len(_SUBSETS)
    for c in range(len(k)):
        for t, g in enumerate(gives(c)):
            supply[t] += g

    def feasible() -> bool:
        return all(sum(need[s] for s in subset) <= supply[t] for t, subset in enumerate(_SUBSETS))

    if not feasible():
        return None
    cells = np.asarray(hi - lo).ravel()
    cell = np.repeat(np.arange(cells.size), cells)
    step = np.arange(cell.size) - np.repeat(np.cumsum(cells) - cells, cells)
    score = exact.ravel()[cell] - lo.ravel()[cell] - step
    score[(cell % 3 == _TRAIN) & (step == 0) & (lo.ravel()[cell] == 0)] += 1
    order = np.lexsort((rng.random(cell.size), -score))
    extra = np.zeros_like(lo)
    for unit in order.tolist():
        c, s = divmod(int(cell[unit]), 3)
        if room[c][s] == 0:
            continue
        before = gives(c)
        k[c] -= 1
        room[c][s] -= 1
        need[s] -= 1
        after = gives(c)
        supply = [v - b + a for v, b, a in zip(supply, before, after)]
        if k[c] >= 0 and need[s] >= 0 and feasible():
            extra[c, s] += 1
            continue
        # No complete table takes this unit: close the cell.
        k[c] += 1
        need[s] += 1
        room[c][s] = 0
        reverted = gives(c)
        supply = [v - a + r for v, a, r in zip(supply, after, reverted)]
    return lo + extra


def _draw(tied: Sequence[int], rng: np.random.Generator) -> int:
    """The one candidate, or a seeded draw among tied ones."""
    return tied[0] if len(tied) == 1 else tied[int(rng.integers(len(tied)))]


def _iterative(
    label_sets: Sequence[Sequence[int]],
    n_labels: int,
    fractions: _Fractions,
    totals: _Totals,
    rng: np.random.Generator,
) -> _Ints:
    """Iterative stratification (Sechidis, Tsoumakas and Vlahavas, 2011).

    The label with the fewest rows left goes first: each of its rows goes to the
    split that still wants the most rows of that label (then the most rows in
    all, then a seeded draw). Rows with no label fill what each split still
    wants in all.
    """
    n = len(label_sets)
    allowed = [s for s in range(3) if s == _TRAIN or fractions[s] > 0]
    visit = rng.permutation(n).tolist()
    rows_of: list[list[int]] = [[] for _ in range(n_labels)]
    for i in visit:
        for label in label_sets[i]:
            rows_of[label].append(i)
    left = np.array([len(r) for r in rows_of], dtype=np.int64)
    wants = [[len(rows_of[label]) * fractions[s] for s in range(3)] for label in range(n_labels)]
    wants_rows = [float(t) for t in totals]
    assignment = np.full(n, -1, dtype=np.int64)

    def most(keys: Sequence[float], among: Sequence[int]) -> list[int]:
        best = max(keys[s] for s in among)
        return [s for s in among if keys[s] == best]

    while left.any():
        label = _draw(np.flatnonzero(left == left[left > 0].min()).tolist(), rng)
        for i in rows_of[label]:
            if assignment[i] >= 0:
                continue
            s = _draw(most(wants_rows, most(wants[label], allowed)), rng)
            assignment[i] = s
            wants_rows[s] -= 1
            for other in label_sets[i]:
                wants[other][s] -= 1
                left[other] -= 1
    for i in visit:
        if assignment[i] < 0:
            s = _draw(most(wants_rows, allowed), rng)
            assignment[i] = s
            wants_rows[s] -= 1
    return assignment


def _grouped(
    group_of: _Ints,
    class_sets: Sequence[Sequence[int]] | None,
    n_classes: int,
    fractions: _Fractions,
    totals: _Totals,
    rng: np.random.Generator,
) -> _Ints:
    """Whole groups to splits, largest first (in a seeded order among equals).

    Each group goes to the split whose remaining need it fills best: the rows
    the split still wants and, when stratifying, the rows of each class of the
    group the split still wants. Without classes this is the split with the
    largest remaining deficit of rows.
    """
    n_groups = int(group_of.max()) + 1
    sizes = np.bincount(group_of, minlength=n_groups)
    allowed = [s for s in range(3) if s == _TRAIN or fractions[s] > 0]
    held: list[dict[int, int]] = [{} for _ in range(n_groups)]
    if class_sets is not None:
        for g, labels in zip(group_of.tolist(), class_sets):
            for c in labels:
                held[g][c] = held[g].get(c, 0) + 1
    class_totals = np.zeros(n_classes)
    for counts in held:
        for c, count in counts.items():
            class_totals[c] += count
    wants = [(class_totals * fractions[s]).tolist() for s in range(3)]
    wants_rows = [float(t) for t in totals]
    shuffled = rng.permutation(n_groups)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    split_of = np.zeros(n_groups, dtype=np.int64)
    for g in order.tolist():
        size, counts = int(sizes[g]), held[g]
        weight = size + sum(counts.values())
        best, best_key = _TRAIN, None
        for s in allowed:
            filled = min(size, max(wants_rows[s], 0.0))
            filled += sum(min(count, max(wants[s][c], 0.0)) for c, count in counts.items())
            key = (filled / weight, wants_rows[s])
            if best_key is None or key > best_key:
                best, best_key = s, key
        split_of[g] = best
        wants_rows[best] -= size
        for c, count in counts.items():
            wants[best][c] -= count
    return split_of[group_of]


# -- reporting ----------------------------------------------------------------------------


def _report(
    assignment: _Ints,
    totals: _Totals,
    fractions: _Fractions,
    labels: _Labels | None,
    group: str | None,
    n_groups: int,
) -> list[str]:
    """The `SplitWarning` messages: empty splits, and classes missing from a split."""
    sizes = np.bincount(assignment, minlength=3)
    asked = [s for s in range(3) if s == _TRAIN or fractions[s] > 0]
    messages: list[str] = []
    for s in asked:
        if sizes[s]:
            continue
        name = _SPLITS[s]
        n = int(sizes.sum())
        if totals[s] == 0 and s == _TRAIN:
            why = f"val={fractions[1]!r} and test={fractions[2]!r} of {plural(n, 'row')} leave none"
        elif totals[s] == 0:
            why = f"{name}={fractions[s]!r} of {plural(n, 'row')} rounds to 0 rows"
        else:
            why = (
                f"the {plural(n_groups, 'group')} of column {group!r} could not be shared out "
                f"to give it any of its {totals[s]} rows"
            )
        messages.append(f"Split {name!r} is empty: {why}.")
    if labels is None:
        return messages
    classes, class_sets, what, multi = labels
    table = np.zeros((len(classes), 3), dtype=np.int64)
    for s, row in zip(assignment.tolist(), class_sets):
        for c in row:
            table[c, s] += 1
    present = [s for s in asked if sizes[s]]
    missing = [c for c in range(len(classes)) if any(table[c, s] == 0 for s in present)]
    if missing:
        word, words = ("label", "labels") if multi else ("class", "classes")
        details = [
            f"{classes[c]!r} has {plural(int(table[c].sum()), 'row')}: "
            + ", ".join(f"{table[c, s]} in {_SPLITS[s]}" for s in asked)
            for c in missing[:_MAX_LISTED]
        ]
        if len(missing) > _MAX_LISTED:
            details.append(f"... ({len(missing)} in all)")
        if group is not None:
            why = (
                f"Rows of one group of column {group!r} stay together, so a {word} held by "
                "few groups cannot reach every split."
            )
        elif multi:
            why = f"A {word} needs enough rows for its share of each split to reach one row."
        else:
            why = (
                f"A {word} needs at least one row per split, and enough rows for its share of "
                "each split to round to one; its rows go to train first."
            )
        verb = "is" if len(missing) == 1 else "are"
        messages.append(
            f"Stratifying on {what}: {len(missing)} {word if len(missing) == 1 else words} "
            f"{verb} missing from a split: "
            f"{'; '.join(details)}. {why}"
        )
    return messages


# -- public -------------------------------------------------------------------------------


def split_manifest(
    manifest: str | os.PathLike[str] | pd.DataFrame,
    val: float = 0.1,
    test: float = 0.0,
    *,
    stratify: str | list[str] | tuple[str, ...] | None = None,
    group: str | None = None,
    seed: int = 0,
    label_separator: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Splits a manifest into train, validation and test sets, reproducibly.

    Every row lands in exactly one split, and the same arguments and seed give
    the same split in any process (only `numpy.random.default_rng(seed)` is
    used). Each split keeps all the columns and the rows in manifest order.

    - Plain: `round(val * n)` rows for val, `round(test * n)` for test (Python's
      `round`, halves to even), drawn at random; the rest is train.
    - `stratify="label"`: the same sizes, and each class's rows shared out by
      largest-remainder rounding of `count * fraction` over the whole table, so
      each class has within one row of its exact share of each split. A class
      too small to reach every split asked for gets a train row first (where
      the sizes allow), and a `SplitWarning` names it with where its rows went.
    - Multi-label (`label_separator`, a column of lists, or a list of 0/1
      columns): iterative stratification (Sechidis, Tsoumakas and Vlahavas,
      2011). The rarest label is placed first, each row to the split that
      still wants the most rows of that label; rows with no label fill what
      each split still wants. Sizes are close to the targets, not exact.
    - `group="patient"`: no group value appears in two splits, so related rows
      (one patient's scans) cannot leak from train to val. Groups are placed
      whole, largest first, each in the split that is furthest short of its
      size. Group splits are approximate: each split is within the largest
      group's size of its target. With `stratify` too, each group goes to the
      split whose per-class need it fills best, so class shares are kept as
      well as whole groups allow.

    Args:
        manifest: Path to a CSV file (read as text, so `007` stays `007`) or a
            pandas DataFrame.
        val: Fraction of the rows for validation, in [0, 1).
        test: Fraction of the rows for testing, in [0, 1); `val + test < 1`.
        stratify: A column of labels to keep class shares across splits, or a
            list of 0/1 columns (one per label) for multi-label data.
        group: A column whose rows must stay together (a patient id, a
            recording session), or `None`.
        seed: A non-negative integer.
        label_separator: With one `stratify` column of several labels per row,
            the string between labels (`"|"` in `"cat|dog"`).

    Returns:
        A dict `{"train": DataFrame, "val": DataFrame, "test": DataFrame}`
        ("test" is there, empty, when `test=0`). A DataFrame input keeps its
        index; a CSV input gets the row positions as index (line = index + 2).

    Raises:
        ValueError: an argument is out of range or of the wrong kind (checked
            before the manifest is read).
        ManifestError: (a `ValueError`) the manifest cannot be split as asked:
            it has no rows or is not a readable CSV, an `id` is empty or repeated
            (a row twice, or two samples under one id), a `stratify` or `group`
            column is missing, a single-label `stratify` value or a `group`
            value is empty, a 0/1 column holds anything else, or a value cannot
            be counted (a dict, say). Its `problems` list every one of them,
            each with its line (or DataFrame row), id and column.
        TypeError: `manifest` is neither a path nor a DataFrame.
        FileNotFoundError: the CSV file does not exist.

    Warns:
        SplitWarning: a class (or label) is missing from a split asked for, or a
            split asked for is empty.

    Example:

    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"id": [f"{i:03d}" for i in range(10)], "label": ["cat"] * 6 + ["dog"] * 4}
    ... )
    >>> splits = split_manifest(frame, val=0.5, stratify="label", seed=0)
    >>> {name: len(part) for name, part in splits.items()}
    {'train': 5, 'val': 5, 'test': 0}
    >>> splits["val"]["label"].value_counts().to_dict()
    {'cat': 3, 'dog': 2}
    """
    val, test, stratify, seed = _check_arguments(val, test, stratify, group, seed, label_separator)
    rows = Rows(manifest)
    rows.check_ids()
    rows.raise_problems()
    frame, n = rows.frame, len(rows)
    if stratify is not None:
        for column in stratify if isinstance(stratify, list) else [stratify]:
            rows.require("stratify", column)
    if group is not None:
        rows.require("group", group)
    rows.raise_problems()

    read = None if stratify is None else _read_labels(rows, stratify, label_separator)
    group_of = None if group is None else _read_groups(rows, group)
    rows.raise_problems()
    labels = None
    if read is not None:
        classes, class_of, class_sets = read
        what = (
            f"columns {listing(stratify)}" if isinstance(stratify, list) else f"column {stratify!r}"
        )
        labels = _Labels(classes, class_sets, what, multi=class_of is None)

    fractions = (1.0 - val - test, val, test)
    n_val, n_test = round(val * n), round(test * n)
    totals = (n - n_val - n_test, n_val, n_test)
    rng = np.random.default_rng(seed)
    if group_of is not None:
        sets, n_classes = (None, 0) if labels is None else (labels.sets, len(labels.classes))
        assignment = _grouped(group_of, sets, n_classes, fractions, totals, rng)
    elif labels is None:
        assignment = _plain(n, totals, rng)
    elif class_of is None:  # multi-label
        assignment = _iterative(labels.sets, len(labels.classes), fractions, totals, rng)
    else:
        assignment = _stratified(class_of, len(labels.classes), fractions, totals, rng)

    n_groups = 0 if group_of is None else int(group_of.max()) + 1
    for message in _report(assignment, totals, fractions, labels, group, n_groups):
        warnings.warn(message, SplitWarning, stacklevel=2)
    return {name: frame.iloc[np.flatnonzero(assignment == s)] for s, name in enumerate(_SPLITS)}
