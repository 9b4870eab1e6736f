"""Reading a manifest with a dataset's arguments: its parts, labels as class indices, the
first samples probed.

The spec (`kdataset.core.spec`) declares and checks the arguments; this room
reads the manifest with them, through the reader (`kdataset.io.manifest`), and
collects every problem, never raising one for the data.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

from kdataset.cells import is_missing, native
from kdataset.errors import Problem, SampleError, listing
from kdataset.io.manifest import Manifest, no_column
from kdataset.io.sources import has_urls
from kdataset.labels.encoding import LabelEncoder, Targets
from kdataset.labels.fields import Files, Labels, Numbers
from kdataset.loading.loaders import Loader, get_loader

if TYPE_CHECKING:
    import pandas as pd

    from kdataset.core.spec import DatasetSpec
    from kdataset.labels.encoding import Label
    from kdataset.labels.fields import Field
    from kdataset.loading.loaders import LoaderSpec, Shape


def read_manifest(spec: DatasetSpec, source: str | os.PathLike[str] | pd.DataFrame) -> ReadManifest:
    """Reads and checks a manifest with the arguments of `spec`, collecting every problem.

    Problems in the data are collected, never raised. Labels are held as
    class indices (`Targets`), numbers as `float32`, and the first sample of
    every input or output read from files is loaded to learn its shape and
    dtype.

    Args:
        spec: The dataset's arguments.
        source: A CSV path or a pandas DataFrame.

    Returns:
        A `ReadManifest`.
    """
    inputs, x_dict, outputs, y_dict = spec.fields()
    legacy_x, legacy_y = spec.inputs is None, spec.outputs is None and spec.has_labels
    manifest = Manifest(
        source,
        id_column=spec.id_column,
        label_column=spec.label_column if legacy_y else None,
        path_column=spec.path_column if legacy_x else None,
        path_template=spec.path_template if legacy_x else None,
        root_dir=spec.root_dir,
        require_paths=legacy_x,
        empty_labels=legacy_y and _empty_allowed(outputs[None]),
        storage_options=spec.storage_options,
    )
    read = ReadManifest(manifest=manifest, problems=[], x_dict=x_dict, y_dict=y_dict)
    if manifest.ids is None:
        read.problems = list(manifest.problems)  # columns are missing: rows cannot be read
        return read
    encoding: list[Problem] = []
    for role, fields, parts in (
        ("inputs", inputs, read.inputs),
        ("outputs", outputs, read.outputs),
    ):
        for name, field in fields.items():
            part, problems = _read_field(spec, manifest, role, name, field)
            encoding += problems
            parts.append(part)
    read.problems = [*manifest.problems, *encoding]
    class_labels = spec.class_labels
    if class_labels is not None:
        part = read.outputs[list(outputs).index(class_labels[0])]
        assert isinstance(part, LabelPart)  # the part of a `Labels` output
        read.label_encoder, read.targets = part.encoder, part.targets
    if spec.sample_weight is not None:
        read.problems += _weigh(spec, read)
    if read.problems:
        return read
    for part in read.file_parts:
        assert part.paths is not None  # a part without paths is a problem: none here
        part.loader = get_loader(part.loader, part.paths)
        if has_urls(part.paths):  # objects read through fsspec
            from kdataset.io.storage import RemoteLoader

            part.loader = RemoteLoader(part.loader, spec.storage_options)
    read.probe(0)
    return read


def _read_field(
    spec: DatasetSpec, manifest: Manifest, role: str, name: str | None, field: Field | None
) -> tuple[Part, list[Problem]]:
    """`(part, problems)` for one input or output: problems of encoding labels (those of
    reading the cells go to `manifest.problems`)."""
    where = role if name is None else f"{role}[{name!r}]"
    if field is None:  # the path arguments
        return FilePart(name, manifest.paths, spec.loader, spec.path_column), []
    if isinstance(field, Files):
        paths = manifest.files(field.column, field.template, role=f"`{where}`")
        return FilePart(name, paths, field.loader, field.column), []
    if isinstance(field, Numbers):
        return NumberPart(name, manifest.numbers(field.columns, f"`{where}`")), []
    if name is None and role == "outputs" and spec.outputs is None:
        labels = manifest.labels  # read with the manifest, by the label arguments
    else:
        labels = manifest.labels_of(field.column, empty_labels=_empty_allowed(field))
    part = LabelPart(name)
    if labels is None:
        return part, []
    problems = _encode_labels(spec, manifest, field, labels, part)
    return part, problems


def _encode_labels(
    spec: DatasetSpec,
    manifest: Manifest,
    field: Labels,
    labels: list[Any] | npt.NDArray[np.int8],
    part: LabelPart,
) -> list[Problem]:
    """Encodes `labels` (as `Manifest.labels_of` reads them: one cell per row, or a 0/1
    matrix for several columns) into `part`; returns the problems found."""
    mode, column, classes = field.mode, field.column, field.classes
    encoder: LabelEncoder | None
    names: list[Label]
    if isinstance(column, list | tuple):
        columns = [str(c) for c in column]
        if isinstance(classes, LabelEncoder):
            encoder, names = classes, classes.classes
        else:
            encoder, names = None, list(classes or columns)
        if sorted(map(str, names)) != sorted(columns):
            return [
                Problem(
                    f"`classes` {listing(names)} must name the label columns {listing(columns)}"
                )
            ]
        if manifest.problems:
            return []
        order = [columns.index(str(n)) for n in names]
        assert isinstance(labels, np.ndarray)  # 0/1 columns are read as a matrix
        part.encoder = encoder or LabelEncoder(classes=names, multi_label=True)
        part.targets = Targets.from_matrix(labels[:, order])
        return []

    given = classes.classes if isinstance(classes, LabelEncoder) else classes
    if manifest.source is not None and given and all(isinstance(c, str) for c in given):
        text = manifest.label_text(column)  # classes given as text: match the CSV's text
        if text is not None:  # always, for a CSV's column
            labels = text
    if isinstance(classes, LabelEncoder):
        encoder = classes
        if encoder.multi_label != (mode == "multi_hot"):
            kind = "multi" if encoder.multi_label else "single"
            raise ValueError(
                f"The `classes` encoder is {kind}-label but `label_mode={mode!r}` is not."
            )
    else:
        encoder = LabelEncoder(
            classes=classes,
            multi_label=mode == "multi_hot",
            separator=field.separator,
        )
    problems = _unknown_labels(manifest, encoder, labels, column)
    if problems or manifest.problems:
        return problems
    if not encoder.is_fitted:
        try:
            encoder.fit(labels)
        except ValueError as e:  # no sample carries a label
            return [Problem(str(e), column=column)]
    if mode == "binary" and encoder.num_classes != 2:
        return [
            Problem(
                f"`label_mode='binary'` needs exactly 2 classes; found {encoder.num_classes}: "
                f"{listing(encoder.classes)}",
                column=column,
            )
        ]
    part.encoder = encoder
    part.targets = targets = Targets.from_labels(encoder, labels, mode)
    class_labels = spec.class_labels if spec.sampling == "balanced" else None
    if class_labels is not None and class_labels[1] == field:
        empty = np.flatnonzero(np.bincount(targets.indices, minlength=encoder.num_classes) == 0)
        if len(empty):
            names = [encoder.classes[i] for i in empty]
            return [
                Problem(
                    f"`sampling='balanced'` draws every class, but {listing(names)} "
                    f"{'has' if len(names) == 1 else 'have'} no rows",
                    column=column,
                )
            ]
    return []


def _weigh(spec: DatasetSpec, read: ReadManifest) -> list[Problem]:
    """The problems of the `sample_weight` column (or none for `"balanced"`); sets
    `read.weights`."""
    manifest, column = read.manifest, spec.sample_weight
    if column == "balanced":
        if read.targets is not None:  # else the labels have problems, already reported
            read.weights = read.targets.balanced_weights()
        return []
    if column not in manifest.frame.columns:
        return [no_column(column, "`sample_weight`", manifest.frame.columns)]
    problems: list[Problem] = []
    weights = np.ones(len(manifest), dtype=np.float32)
    for i, value in enumerate(manifest.frame[column].tolist()):
        try:
            weight = float(value)
        except (TypeError, ValueError):
            weight = float("nan")
        if not np.isfinite(weight) or weight < 0:
            what = "empty weight" if is_missing(value) else f"expected a weight >= 0, got {value!r}"
            problems.append(_row_problem(manifest, i, what, column))
        else:
            weights[i] = weight
    read.weights = weights
    return problems


def _row_problem(manifest: Manifest, row: int, message: str, column: str | None = None) -> Problem:
    return Problem(message, line=manifest.where(row), id=manifest.id_of(row), column=column)


def _unknown_labels(
    manifest: Manifest,
    encoder: LabelEncoder,
    labels: list[Any] | npt.NDArray[np.int8],
    column: str,
) -> list[Problem]:
    """Problems for labels outside the encoder's given classes, one per row."""
    if not encoder.is_fitted:
        return []
    found: list[tuple[int, list[Label]]]
    if not encoder.multi_label:
        # Distinct labels first: a manifest may have millions of rows and ten classes.
        distinct = [v for v in dict.fromkeys(labels) if not is_missing(v)]
        bad = set(encoder.unknown([native(v) for v in distinct]))
        unknown = {v for v in distinct if native(v) in bad}
        found = [(i, [native(label)]) for i, label in enumerate(labels) if label in unknown]
    else:
        found = []
        for i, label in enumerate(labels):
            names = encoder.unknown(encoder.split(label))
            if names:
                found.append((i, names))
    return [
        _row_problem(
            manifest,
            i,
            f"unknown label {listing(names)}; `classes` are {listing(encoder.classes)}",
            column,
        )
        for i, names in found
    ]


def _empty_allowed(field: Field) -> bool:
    """Whether an empty label cell is a sample with no label (multi-hot from one column)."""
    return isinstance(field, Labels) and field.mode == "multi_hot" and isinstance(field.column, str)


@dataclasses.dataclass
class FilePart:
    """An input or output read from files: its paths, loader, and sample shape and dtype.

    Attributes:
        name: The input's or output's name, or `None` for the one input or output.
        paths: The absolute path of every row's file, or `None` if the column is missing.
        loader: The `loader` argument as given; the `Loader` made of it once
            `read_manifest` found the manifest clean.
        column: The column of paths, if any.
        sample_shape: The shape of the first sample that loaded (`probe`).
        sample_dtype: Its dtype.
    """

    name: str | None
    paths: list[str] | None
    loader: LoaderSpec
    column: str | None = None
    sample_shape: Shape | None = None
    sample_dtype: np.dtype | None = None


@dataclasses.dataclass
class NumberPart:
    """An input or output of numeric columns: a `float32` array `(rows, columns)`."""

    name: str | None
    values: npt.NDArray[np.float32] | None


@dataclasses.dataclass
class LabelPart:
    """An input or output of class labels: the rows' `Targets` and their `LabelEncoder`."""

    name: str | None
    targets: Targets | None = None
    encoder: LabelEncoder | None = None


Part: TypeAlias = FilePart | NumberPart | LabelPart
"""An input or output of a `ReadManifest`, as read: from files, numbers or class labels."""


@dataclasses.dataclass
class ReadManifest:
    """A manifest read and checked with a `DatasetSpec`.

    Attributes:
        manifest: The `Manifest`.
        problems: Every problem found in the manifest and its labels.
        inputs: A part (`FilePart`, `NumberPart` or `LabelPart`) per input.
        outputs: A part per output (none without labels).
        x_dict: Whether `x` is a dict by input name (else the one input).
        y_dict: Whether `y` is a dict by output name.
        label_encoder: The `LabelEncoder` of the class labels, or `None`.
        targets: The class labels of every row as `Targets`, or `None`.
        weights: The sample weight of every row, or `None`.
        loader: The first input's loader, once the manifest is clean.
        sample_shape: Shape of the first input's first sample that loaded.
        sample_dtype: Its dtype.
        first_sample_error: A `SampleError` if a first sample would not load.
    """

    manifest: Manifest
    problems: list[Problem]
    inputs: list[Part] = dataclasses.field(default_factory=list)
    outputs: list[Part] = dataclasses.field(default_factory=list)
    x_dict: bool = False
    y_dict: bool = False
    label_encoder: LabelEncoder | None = None
    targets: Targets | None = None
    weights: npt.NDArray[np.float32] | None = None
    first_sample_error: SampleError | None = None

    @property
    def file_parts(self) -> list[FilePart]:
        """The inputs and outputs read from files, inputs first."""
        return [p for p in (*self.inputs, *self.outputs) if isinstance(p, FilePart)]

    @property
    def _first(self) -> FilePart | None:
        parts = self.file_parts
        return parts[0] if parts else None

    @property
    def loader(self) -> LoaderSpec | None:
        """The first input's loader (a `Loader` once the manifest is clean), or `None`."""
        first = self._first
        return None if first is None else first.loader

    @property
    def sample_shape(self) -> Shape | None:
        """The shape of the first input's first sample that loaded, or `None`."""
        first = self._first
        return None if first is None else first.sample_shape

    @property
    def sample_dtype(self) -> np.dtype | None:
        """Its dtype, or `None`."""
        first = self._first
        return None if first is None else first.sample_dtype

    def probe(self, row: int) -> SampleError | None:
        """Loads the samples of `row` to learn every sample shape and dtype.

        Returns:
            `None` if they loaded, else the first `SampleError` (the first one
            ever is also kept as `first_sample_error`).
        """
        for part in self.file_parts:
            error = probe(self.manifest, part, row)
            if error is not None:
                if self.first_sample_error is None:
                    self.first_sample_error = error
                return error
        return None


def probe(manifest: Manifest, part: FilePart, row: int) -> SampleError | None:
    """Loads sample `row` of a part read from files to learn its shape and dtype (set on
    the part).

    Returns:
        `None` if it loaded, else its `SampleError`, naming the row.
    """
    # A part of a clean manifest: `read_manifest` made its loader.
    assert isinstance(part.loader, Loader) and part.paths is not None
    try:
        shape, dtype = part.loader.probe(part.paths[row])
    except Exception as e:
        error = e if isinstance(e, SampleError) else SampleError(f"{type(e).__name__}: {e}")
        return SampleError(
            error.reason,
            path=error.path or part.paths[row],
            line=manifest.where(row),
            id=manifest.id_of(row),
        )
    part.sample_shape, part.sample_dtype = tuple(shape), np.dtype(dtype)
    return None
