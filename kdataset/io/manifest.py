"""Reading a manifest: one row per sample, with its id, its file and its labels."""

from __future__ import annotations

import csv
import functools
import os
import string
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from kdataset.cells import as_binary, is_missing, native
from kdataset.errors import ManifestError, Problem, listing, plural
from kdataset.io import storage
from kdataset.io.sources import delimiter, has_urls, is_url, read_csv
from kdataset.loading.parallel import missing_files

_DEFAULT_PATH_COLUMN = "path"

LabelColumn: TypeAlias = str | list[str] | tuple[str, ...]
"""A column of labels, or a list (or tuple) of 0/1 columns (multi-hot)."""


def _template_fields(template: str) -> list[str]:
    """Column names a `str.format` template refers to (`{id}`, `{meta[0]}` -> meta)."""
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(
            f"Invalid `path_template`: not a format string ({e}). Received: {template!r}"
        ) from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if not name or name.isdigit():
            raise ValueError(
                "Invalid `path_template`: fields must name columns, as in 'data/{id}.npy'. "
                f"Received: {template!r}"
            )
        fields.append(name)
    return list(dict.fromkeys(fields))


def _read_frame(
    source: str | os.PathLike[str] | pd.DataFrame, storage_options: dict[str, Any] | None = None
) -> tuple[pd.DataFrame, str | None]:
    """(DataFrame, csv path or URL or None). CSV cells are read as text, nothing as NaN."""
    if isinstance(source, pd.DataFrame):
        return source, None
    if is_url(source):
        url = os.fspath(source)  # a path-like object may stand for a URL too
        return storage.read_frame(url, storage_options), url
    if not isinstance(source, str | os.PathLike):
        raise TypeError(
            "Invalid `manifest`: expected a path to a CSV file or a pandas.DataFrame. "
            f"Received: manifest={source!r} of type {type(source).__name__}"
        )
    path = os.path.abspath(os.fspath(source))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Manifest file not found: {os.fspath(source)!r} (looked at {path!r})"
        )
    return read_csv(path, delimiter(path), path), path


@functools.lru_cache(maxsize=8)
def _record_lines(path: str, stamp: tuple[int, int]) -> list[int]:
    """The line on which each data record of a CSV file starts.

    pandas skips blank lines and lets a quoted cell span lines, so a row's line
    is not always its position + 2; Python's csv module, reading the same
    dialect, tells where each record starts. `stamp` keys the cache.
    """
    lines: list[int] = []
    start, header = 1, True
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f, delimiter=delimiter(path))
        for record in reader:
            if record:
                if header:
                    header = False
                else:
                    lines.append(start)
            start = reader.line_num + 1
    return lines


def _absolute(raw: Iterable[str], root: str) -> list[str]:
    """Paths made absolute against `root` and normalised ("" stays "").

    One pass of plain string operations on POSIX: per element they cost a
    fraction of pandas' `.str` methods, which matters at millions of rows.
    """
    join, normpath, expand = os.path.join, os.path.normpath, os.path.expanduser
    if os.sep != "/":
        return [p if not p else normpath(join(root, expand(p))) for p in raw]
    prefix = root.rstrip("/") + "/"
    paths = []
    for p in raw:
        if p and p[0] != "/":
            if p[0] == "~":
                p = expand(p)
            if p[0] != "/":
                p = prefix + p
        if "/." in p or "//" in p:  # maybe a `.` or `..` segment, or a doubled slash
            p = normpath(p)
        paths.append(p)
    return paths


# Past this many missing files, say what the likely cause is.
_HINT_AFTER = 10


def _root_hint(manifest: Manifest, missing: Sequence[int], raw: Sequence[str]) -> str | None:
    """Why many files are missing, when the cause is likely where relative paths resolve.

    Returns a sentence, or `None` when the missing files do not look like paths
    relative to another folder.
    """
    relative = [i for i in missing if raw[i] and not os.path.isabs(os.path.expanduser(raw[i]))]
    if len(relative) < len(missing) // 2 or not relative:
        return None
    cwd = os.getcwd()
    sample = relative[:20]
    count = f"{len(missing):,} of the {len(manifest):,} files are missing"
    if os.path.normpath(cwd) != os.path.normpath(manifest.root) and all(
        os.path.exists(os.path.join(cwd, raw[i])) for i in sample
    ):
        return (
            f"{count}: their relative paths resolve against {manifest.root!r}, but they are "
            f"found under the working directory {cwd!r}: pass `root_dir`={cwd!r}"
        )
    return (
        f"{count}: relative paths resolve against {manifest.root!r}; if they are relative "
        "to another folder, pass `root_dir`"
    )


def place(frame: pd.DataFrame, csv_path: str | None, i: int) -> str:
    """Where row `i` (0-based position) is: `"line 12 of train.csv"`, or `"row 10"` of a DataFrame."""
    if csv_path is None:
        return f"row {native(frame.index[i])!r}"
    if is_url(csv_path):  # its lines are not read again: the header, then a record a line
        return f"line {i + 2} of {csv_path.split('?', 1)[0].rsplit('/', 1)[-1]}"
    stat = os.stat(csv_path)
    lines = _record_lines(csv_path, (stat.st_mtime_ns, stat.st_size))
    line = lines[i] if len(lines) == len(frame) else i + 2
    return f"line {line} of {os.path.basename(csv_path)}"


def _int_or_text(values: Sequence[str]) -> list[int] | list[str]:
    """CSV label text as ints when every value is an integer written plainly."""
    distinct = set(values)
    try:
        as_int = {v: int(v) for v in distinct}
    except (TypeError, ValueError):
        return list(values)
    if all(str(i) == v for v, i in as_int.items()):
        return [as_int[v] for v in values]
    return list(values)


def no_column(column: str | None, role: str, columns: Iterable[Hashable]) -> Problem:
    """The problem of a column that is not in the manifest, listing those that are.

    Example:

    >>> print(no_column("label", "`label_column`", ["id", "path"]))
    column 'label': no column 'label' (`label_column`). Columns: 'id', 'path'
    """
    return Problem(
        f"no column {column!r} ({role}). Columns: {listing([str(c) for c in columns])}",
        column=column,
    )


class Manifest:
    """A manifest read with pandas and checked, row by row.

    Reading never raises for a problem in the data: every problem found is kept
    in `problems`, so a user sees all of them at once.

    Args:
        source: Path to a CSV file, or a pandas DataFrame.
        id_column: Column of sample ids, read as text (`007` stays `007`);
            `None` numbers the rows instead.
        label_column: A column of labels, a list of 0/1 columns (multi-hot), or
            `None` when there are no labels.
        path_column: Column of file paths.
        path_template: A `str.format` template filled from each row, such as
            `"data/{id}.npy"`. With neither, a `path` column is used if there is
            one.
        root_dir: Folder that relative paths resolve against; by default the
            CSV file's folder (the working directory for a DataFrame).
        require_paths: Whether file paths are needed.
        check_files: Whether to check up front that every file exists.
        empty_labels: Whether an empty label cell is allowed (a multi-label
            sample with no label, split on a separator); otherwise it is a
            problem.

    Attributes:
        frame: The DataFrame, as read.
        ids: Sample ids as strings, one per row.
        paths: Absolute file paths, one per row (or `None`).
        labels: The label of each row (single column), a `(n, k)` int array of
            0/1 (several columns), or `None`. CSV labels that are all integers
            written plainly become ints.
        problems: A list of `Problem`, empty when the manifest is clean.
        source: The CSV file, or `None` for a DataFrame.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | pd.DataFrame,
        *,
        id_column: str | None = "id",
        label_column: LabelColumn | None = None,
        path_column: str | None = None,
        path_template: str | None = None,
        root_dir: str | os.PathLike[str] | None = None,
        require_paths: bool = True,
        check_files: bool = True,
        empty_labels: bool = False,
        storage_options: dict[str, Any] | None = None,
    ) -> None:
        frame, csv_path = _read_frame(source, storage_options)
        self.storage_options = storage_options
        self.empty_labels = bool(empty_labels)
        self.frame = frame
        self._csv = csv_path
        self.id_column = id_column
        self.label_column = label_column
        if root_dir is not None:
            root = os.fspath(root_dir)
            self.root = root.rstrip("/") if is_url(root) else os.path.abspath(root)
        elif csv_path is not None and is_url(csv_path):
            self.root = storage.folder(csv_path)
        elif csv_path is not None:
            self.root = os.path.dirname(csv_path)
        else:
            self.root = os.getcwd()
        self.problems: list[Problem] = []
        self.ids: list[str] | None = None
        self.paths: list[str] | None = None
        self.labels: list[Any] | npt.NDArray[np.int8] | None = None

        columns = [str(c) for c in frame.columns]
        if len(frame) == 0:
            self.problem("the manifest has no rows" + ("" if columns else " and no header"))
            return
        label_columns = (
            []
            if label_column is None
            else list(label_column)
            if isinstance(label_column, list | tuple)
            else [label_column]
        )
        if isinstance(label_column, list | tuple) and not label_columns:
            self.problem("`label_column` is an empty list: name at least one 0/1 column")
        fields = _template_fields(path_template) if path_template is not None else []
        if path_column is None and path_template is None and require_paths:
            if _DEFAULT_PATH_COLUMN in frame.columns:
                path_column = _DEFAULT_PATH_COLUMN
            else:
                self.problem(
                    "no file paths: pass `path_column` or `path_template` (such as "
                    "'data/{id}.npy'), or give the manifest a 'path' column. "
                    f"Columns: {listing(columns)}"
                )
        wanted = [
            ("`id_column`", id_column),
            ("`path_column`", path_column),
            *[("`label_column`", c) for c in label_columns],
            *[("a field of `path_template`", f) for f in fields],
        ]
        missing = False
        for role, column in wanted:
            if column is not None and column not in frame.columns:
                missing = True
                self.problems.append(no_column(column, role, frame.columns))
        if missing or self.problems:
            return

        self._read_ids(id_column)
        if label_column is not None and label_columns:
            self.labels = self._read_labels(label_column, label_columns, self.empty_labels)
        if require_paths:
            self.paths = self._read_paths(path_column, path_template, fields, check_files)

    # -- pieces ----------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The CSV file or URL (without credentials), or `None` for a DataFrame."""
        if not is_url(self._csv):
            return self._csv
        return storage.redact(self._csv, self.storage_options)

    def where(self, i: int) -> str:
        """Where row `i` (0-based position) is: `"line 12 of train.csv"` or `"row 10"`."""
        return place(self.frame, self._csv, i)

    def id_of(self, i: int) -> str | None:
        """The sample id of row `i`, or `None` when the manifest has no id column."""
        return None if self.ids is None or self.id_column is None else self.ids[i]

    def problem(
        self,
        message: str,
        row: int | None = None,
        column: str | None = None,
        path: str | None = None,
    ) -> None:
        """Records a problem of row `row` (its line and id are added), or of the manifest."""
        self.problems.append(
            Problem(
                message,
                line=None if row is None else self.where(row),
                id=None if row is None else self.id_of(row),
                column=column,
                path=path,
            )
        )

    def _text(self, column: Hashable) -> list[str]:
        """A column as stripped text, `""` where it is empty.

        Plain `str.strip` over a list: pandas' `.str` methods cost several times
        more per element, which matters at millions of rows.
        """
        values = self.frame[column]
        text = [v.strip() if type(v) is str else str(v).strip() for v in values.tolist()]
        for i in np.flatnonzero(values.isna().to_numpy()).tolist():
            text[i] = ""
        return text

    def _read_ids(self, id_column: str | None) -> None:
        if id_column is None:
            self.ids = [str(i) for i in range(len(self.frame))]
            return
        ids = self._text(id_column)
        self.ids = ids
        for i in [i for i, v in enumerate(ids) if not v]:
            self.problem("empty id", row=i, column=id_column)
        repeated = pd.Series(ids).duplicated(keep=False).to_numpy()
        rows_of: dict[str, list[int]] = {}
        for i in np.flatnonzero(repeated).tolist():
            if ids[i]:
                rows_of.setdefault(ids[i], []).append(int(i))
        for value, rows in rows_of.items():
            if len(rows) > 1:
                lines = ", ".join(self.where(r) for r in rows[:5])
                more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
                self.problems.append(
                    Problem(
                        f"duplicate id, on {plural(len(rows), 'row')}: {lines}{more}",
                        id=value,
                        column=id_column,
                    )
                )

    # -- more columns, for named inputs and outputs ---------------------

    def _has(self, columns: Sequence[str | None], role: str) -> bool:
        """Whether every column of `columns` is in the manifest; a problem for each that is not."""
        absent = [c for c in columns if c not in self.frame.columns]
        self.problems.extend(no_column(column, role, self.frame.columns) for column in absent)
        return not absent

    def files(
        self,
        column: str | None = None,
        template: str | None = None,
        role: str = "`path_column`",
        check: bool = True,
    ) -> list[str] | None:
        """The absolute file paths of a path column or a `str.format` template, one per row.

        Problems (a missing column, an empty path, a missing file) are added to
        `problems`; returns `None` when a column is missing.
        """
        fields = _template_fields(template) if template is not None else []
        if not self._has([column] if template is None else fields, role):
            return None
        return self._read_paths(column, template, fields, check)

    def numbers(self, columns: Sequence[str], role: str) -> npt.NDArray[np.float32] | None:
        """Numeric columns as a `float32` array `(rows, len(columns))`.

        A cell that is not a finite number is a problem naming its line and
        column; returns `None` when a column is missing.
        """
        if not self._has(columns, role):
            return None
        values = np.zeros((len(self.frame), len(columns)), dtype=np.float32)
        for j, column in enumerate(columns):
            cells = self.frame[column]
            number = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(number)
            for i in np.flatnonzero(bad).tolist():
                value = cells.iloc[i]
                what = (
                    "empty cell"
                    if is_missing(value) or not str(value).strip()
                    else f"expected a number, got {native(value)!r}"
                )
                self.problem(f"{what} ({role})", row=i, column=column)
            values[:, j] = np.where(bad, 0.0, number)
        return values

    def binary_columns(self, columns: Sequence[str]) -> npt.NDArray[np.int8]:
        """The 0/1 cells of `columns` as an `int8` matrix `(rows, len(columns))`.

        A cell that is neither 0 nor 1 (`"1"`, `1.0`, `true` count) is a problem
        naming its line and column, and reads as 0.
        """
        matrix = np.zeros((len(self.frame), len(columns)), dtype=np.int8)
        for j, column in enumerate(columns):
            for i, value in enumerate(self.frame[column].tolist()):
                bit = as_binary(value)
                if bit is None:
                    what = (
                        "empty label"
                        if is_missing(value)
                        else f"expected 0 or 1, got {native(value)!r}"
                    )
                    self.problem(what, row=i, column=column)
                else:
                    matrix[i, j] = bit
        return matrix

    def labels_of(
        self, column: LabelColumn, empty_labels: bool = False
    ) -> list[Any] | npt.NDArray[np.int8] | None:
        """The labels of a column (or 0/1 columns), as `labels` holds them; `None` when a
        column is missing."""
        columns = list(column) if isinstance(column, list | tuple) else [column]
        if not self._has(columns, "`label_column`"):
            return None
        return self._read_labels(column, columns, empty_labels)

    def _read_labels(
        self, label_column: LabelColumn, label_columns: Sequence[str], empty_labels: bool
    ) -> list[Any] | npt.NDArray[np.int8]:
        if isinstance(label_column, list | tuple):
            return self.binary_columns(label_columns)
        column = self.frame[label_column]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            text = self._text(label_column)  # "" where missing or blank
            empty = [i for i, t in enumerate(text) if not t]
        else:
            text = None
            empty = np.flatnonzero(column.isna().to_numpy()).tolist()
        if empty_labels:
            empty = []  # a sample with no label: the all-zero row
        for i in empty:
            self.problem("empty label", row=i, column=label_column)
        values = column.tolist()
        if self.source is not None:
            values = text if text is not None else self._text(label_column)
            if not empty:
                values = _int_or_text(values)
        return values

    def label_text(self, column: str | None = None) -> list[str] | None:
        """For a CSV's single label column (by default `label_column`), the labels as
        written (text), else `None`."""
        name = self.label_column if column is None else column
        if self.source is None or not isinstance(name, str):
            return None
        return self._text(name)

    def _read_paths(
        self,
        path_column: str | None,
        path_template: str | None,
        fields: Sequence[str],
        check: bool = True,
    ) -> list[str]:
        if path_template is not None:
            columns = {f: self._text(f) for f in fields}
            raw = []
            for i in range(len(self.frame)):
                row = {f: columns[f][i] for f in fields}
                try:
                    raw.append(path_template.format(**row))
                except (ValueError, KeyError, IndexError, AttributeError, TypeError) as e:
                    self.problem(
                        f"`path_template` {path_template!r} cannot be filled from this row ({e})",
                        row=i,
                    )
                    raw.append("")
        else:
            raw = self._text(path_column)
            for i in [i for i, v in enumerate(raw) if not v]:
                self.problem("empty path", row=i, column=path_column)
        remote = is_url(self.root) or has_urls(raw)
        if remote:
            paths = storage.resolve_all(self.root, raw)
        else:
            paths = _absolute(raw, self.root)
        if check:
            self._check_files(path_column, paths, raw, remote)
        return paths

    def _check_files(
        self,
        path_column: str | None,
        paths: Sequence[str],
        raw: Sequence[str],
        remote: bool = False,
    ) -> None:
        if remote:  # one listing per folder, not a request per object
            missing = storage.missing_objects(paths, self.storage_options)
            for i in missing:
                shown = storage.redact(paths[i], self.storage_options)
                self.problem("object not found", row=i, column=path_column, path=shown)
            return
        missing = missing_files(paths)
        hint = _root_hint(self, missing, raw) if len(missing) >= _HINT_AFTER else None
        if hint is not None:
            self.problems.append(Problem(hint))
        for i in missing:
            self.problem("file not found", row=i, column=path_column, path=paths[i])

    def __len__(self) -> int:
        return len(self.frame)


class Rows(Manifest):
    """A manifest read for its rows alone, as the tools read it: no ids, labels
    or paths are required.

    Rows are named by their line (`line 3 of train.csv`, or `row 5` of a
    DataFrame) and, when there is an `id` column, by their id; problems are
    collected in `problems`, as `Manifest` does.

    Args:
        source: Path or URL of a CSV file, or a pandas DataFrame.
        label_column: A column of labels to read, or `None`.
        empty_labels: Whether an empty label is a sample with none (multi-label).
    """

    _row_ids: list[str] | None = None

    def __init__(
        self,
        source: str | os.PathLike[str] | pd.DataFrame,
        label_column: LabelColumn | None = None,
        empty_labels: bool = False,
    ) -> None:
        super().__init__(
            source,
            id_column=None,
            label_column=label_column,
            require_paths=False,
            empty_labels=empty_labels,
        )

    def id_of(self, i: int) -> str | None:
        """The `id` cell of row `i` (`None` without an `id` column or when it is empty)."""
        if self._row_ids is None:
            one = list(self.frame.columns).count("id") == 1
            self._row_ids = self._text("id") if one else []
        return (self._row_ids[i] or None) if self._row_ids else None

    def require(self, argument: str, column: str) -> None:
        """Notes a problem unless the manifest has exactly one column `column`."""
        count = list(self.frame.columns).count(column)
        if count == 0:
            self.problems.append(no_column(column, f"`{argument}`", self.frame.columns))
        elif count > 1:
            self.problem(f"{count} columns named {column!r} (`{argument}`)", column=column)

    def check_ids(self, column: str = "id") -> None:
        """Notes in `problems` each empty and each repeated id of `column`, with the lines
        of every row that holds it, as `ManifestDataset` and `validate_manifest` do.

        A manifest without exactly one `column` has no ids to check.
        """
        if len(self) and list(self.frame.columns).count(column) == 1:
            self._read_ids(column)

    def values(self, column: str) -> list[Any]:
        """The cells of `column`, as Python values."""
        return self.frame[column].tolist()

    def raise_problems(self) -> None:
        """Raises `ManifestError` listing every problem found, if there is one."""
        if self.problems:
            raise ManifestError(self.problems, source=self.source)
