"""The dataset's arguments, declared once, checked up front, and what they make of a manifest.

`ManifestDataset`, `validate_manifest`, `DataGenerator` and the `kdataset`
command all take the same arguments through `DatasetSpec`, so they cannot
drift apart. Reading a manifest with a spec (`DatasetSpec.read`) imports
nothing of Keras or of the loading threads: the command line runs without a
backend.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from kdataset.cells import is_missing, native
from kdataset.errors import (
    Problem,
    SampleError,
    check_int,
    check_options,
    check_shard,
    listing,
    one_of,
)
from kdataset.io.manifest import Manifest, no_column
from kdataset.io.sources import has_urls
from kdataset.labels.encoding import LabelEncoder, Targets
from kdataset.labels.fields import (
    LABEL_MODES,
    Files,
    Labels,
    Numbers,
    check_label_mode,
    named,
)
from kdataset.loading.loaders import get_loader

ON_ERROR = ("raise", "skip")
SAMPLING = (None, "balanced")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """The arguments of a `ManifestDataset`, checked when the spec is made.

    Each field is the `ManifestDataset` argument of the same name, with the
    same default; see its docstring for what they mean. Making a spec raises
    `ValueError` for a bad argument (before any file is read); `read` then
    applies it to a manifest.

    Example:

    >>> spec = DatasetSpec(batch_size=8, label_mode="int")
    >>> spec.has_labels
    True
    >>> DatasetSpec(batch_size=0)
    Traceback (most recent call last):
    ...
    ValueError: Invalid `batch_size`: expected an integer >= 1. Received: batch_size=0
    """

    batch_size: int = 32
    id_column: str | None = "id"
    label_column: object = "label"
    path_column: str | None = None
    path_template: str | None = None
    root_dir: object = None
    storage_options: dict | None = dataclasses.field(default=None, repr=False)
    loader: object = "auto"
    label_mode: str | None = "categorical"
    label_separator: str | None = None
    classes: object = None
    inputs: object = None
    outputs: object = None
    sample_weight: str | None = None
    shuffle: bool = True
    seed: int | None = None
    sampling: str | None = None
    transform: object = None
    batch_transform: object = None
    drop_remainder: bool = False
    pad_remainder: bool = False
    shard: object = None
    on_error: str = "raise"
    cache: object = None
    workers: object = "auto"
    use_multiprocessing: bool = False
    max_queue_size: int | None = None

    def __post_init__(self):
        fix = object.__setattr__  # frozen: normalise in place, once
        fix(self, "batch_size", check_int("batch_size", self.batch_size, 1))
        if self.workers != "auto":
            workers = check_int("workers", self.workers, 0, expected="'auto' or an integer >= 0")
            fix(self, "workers", workers or 1)
        fix(self, "seed", check_int("seed", self.seed, 0, allow_none=True))
        fix(self, "max_queue_size", check_int("max_queue_size", self.max_queue_size, 0, True))
        for name in ("shuffle", "drop_remainder", "pad_remainder", "use_multiprocessing"):
            fix(self, name, bool(getattr(self, name)))
        if self.drop_remainder and self.pad_remainder:
            raise ValueError(
                "`drop_remainder=True` and `pad_remainder=True` ask for opposite things: "
                "choose one (padding keeps every sample, with zero weight on the padding)."
            )
        check_options(self.storage_options)
        if self.shard not in (None, "auto"):
            fix(self, "shard", check_shard(self.shard))
        if self.on_error not in ON_ERROR:
            raise ValueError(
                f"Invalid `on_error`: expected one of {one_of(ON_ERROR)}. "
                f"Received: on_error={self.on_error!r}"
            )
        self._check_labels()
        self._check_fields()
        if self.transform is not None and self.inputs is not None:
            fields = [*named(self.inputs, "inputs")[0].values()]
            if self.outputs is not None:
                fields += named(self.outputs, "outputs")[0].values()
            if not any(isinstance(f, Files) for f in fields):
                raise ValueError(
                    "`transform` changes each sample's arrays read from files, and this "
                    "dataset reads none (only numbers and labels): use `batch_transform`."
                )
        for name, of in (("transform", "sample"), ("batch_transform", "batch")):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ValueError(
                    f"Invalid `{name}`: expected a function `fn({of}, rng) -> {of}` or "
                    f"None. Received: {name}={value!r}"
                )
        if self.sampling not in SAMPLING:
            raise ValueError(
                f"Invalid `sampling`: expected one of {one_of(SAMPLING)}. "
                f"Received: sampling={self.sampling!r}"
            )
        if self.sampling == "balanced":
            if self.class_labels is None or self.class_labels[1].mode == "multi_hot":
                raise ValueError(
                    "`sampling='balanced'` draws the classes of single-label data equally: it "
                    "needs one target of class labels with `label_mode` 'int', 'categorical' "
                    f"or 'binary'. {self._class_labels_found()}"
                )
            if not self.shuffle:
                raise ValueError(
                    "`sampling='balanced'` draws rows at random; `shuffle=False` asks for the "
                    "manifest's order: choose one."
                )
        if self.pad_remainder and not self.has_labels:
            raise ValueError(
                "`pad_remainder=True` marks padding with zero sample weights, which need labels: "
                "this dataset has none (for `predict`, keep the last batch as it is)."
            )
        if self.sample_weight is not None and not isinstance(self.sample_weight, str):
            raise ValueError(
                "Invalid `sample_weight`: expected None, 'balanced' or the name of a column of "
                f"weights. Received: sample_weight={self.sample_weight!r}"
            )
        if self.sample_weight == "balanced" and self.class_labels is None:
            raise ValueError(
                "`sample_weight='balanced'` weighs samples by their class: it needs one target "
                f"of class labels. {self._class_labels_found()}"
            )
        if self.cache is not None and not isinstance(self.cache, str | os.PathLike):
            raise ValueError(
                f"Invalid `cache`: expected a file path or None. Received: cache={self.cache!r}"
            )
        if self.loader not in ("auto", "npy", "image") and not callable(self.loader):
            get_loader(self.loader)  # raises, naming what is accepted

    def _check_fields(self):
        if self.inputs is not None:
            given = {
                "path_column": self.path_column,
                "path_template": self.path_template,
                "loader": None if self.loader == "auto" else self.loader,
            }
            clash = [name for name, value in given.items() if value is not None]
            if clash:
                raise ValueError(
                    f"`inputs` names every input, so {listing(clash)} cannot be given too: "
                    "put the path in the input, as `kd.Files(column='path', loader=...)`."
                )
            named(self.inputs, "inputs")
        if self.outputs is not None:
            defaults = {
                "label_column": "label",
                "label_mode": "categorical",
                "label_separator": None,
                "classes": None,
            }
            clash = [name for name, value in defaults.items() if getattr(self, name) != value]
            if clash:
                raise ValueError(
                    f"`outputs` names every target, so {listing(clash)} cannot be given too: "
                    "put class labels in an output, as `kd.Labels('label', mode='int')`."
                )
            named(self.outputs, "outputs")

    def fields(self):
        """`(inputs, x_is_dict, outputs, y_is_dict)`: each a `{name: field}` dict.

        Without `inputs` (`outputs`), the one input (target) is made of the
        path (label) arguments and named `None`; `outputs` is empty without
        labels.
        """
        if self.inputs is not None:
            inputs, x_dict = named(self.inputs, "inputs")
        else:
            inputs, x_dict = {None: None}, False  # the path arguments: see `read`
        if self.outputs is not None:
            outputs, y_dict = named(self.outputs, "outputs")
        elif self.has_labels:
            outputs, y_dict = {None: self._legacy_labels()}, False
        else:
            outputs, y_dict = {}, False
        return inputs, x_dict, outputs, y_dict

    def _legacy_labels(self):
        return Labels(self.label_column, self.label_mode, self.label_separator, self.classes)

    def _labels_outputs(self):
        """`[(name, Labels)]` of the outputs of class labels."""
        if self.outputs is None:
            return [(None, self._legacy_labels())] if self.has_labels else []
        return [
            (n, f) for n, f in named(self.outputs, "outputs")[0].items() if isinstance(f, Labels)
        ]

    @property
    def class_labels(self):
        """`(name, Labels)` of the one target of class labels, or `None` if there is not one."""
        labels = self._labels_outputs()
        return labels[0] if len(labels) == 1 else None

    def _class_labels_found(self):
        if self.outputs is None:
            return f"Received: label_mode={self.label_mode!r}"
        labels = [name for name, _ in self._labels_outputs()]
        if not labels:
            return "The outputs hold no kd.Labels (regression or mask targets have no classes)."
        return f"The outputs {listing(labels)} all hold class labels: there must be one."

    def _check_labels(self):
        mode, column = self.label_mode, self.label_column
        if mode is not None and mode not in LABEL_MODES:
            raise ValueError(
                f"Invalid `label_mode`: expected one of {one_of(LABEL_MODES)} or None. "
                f"Received: label_mode={mode!r}"
            )
        if column is not None and mode is not None:
            names = ("label_mode", "label_column", "label_separator")
            check_label_mode(mode, column, self.label_separator, names)

    @classmethod
    def from_kwargs(cls, **kwargs):
        """A spec from keyword arguments, naming any that is not a dataset argument."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise TypeError(
                f"Unknown dataset {'argument' if len(unknown) == 1 else 'arguments'} "
                f"{listing(unknown)}. Expected any of: {', '.join(names)}"
            )
        return cls(**kwargs)

    @property
    def has_labels(self):
        """Whether batches carry targets (`outputs`, or `label_column` and `label_mode` set)."""
        if self.outputs is not None:
            return True
        return self.label_column is not None and self.label_mode is not None

    def read(self, source):
        """Reads and checks a manifest with these arguments, collecting every problem.

        Problems in the data are collected, never raised. Labels are held as
        class indices (`Targets`), numbers as `float32`, and the first sample of
        every input or output read from files is loaded to learn its shape and
        dtype.

        Args:
            source: A CSV path or a pandas DataFrame.

        Returns:
            A `ReadManifest`.
        """
        inputs, x_dict, outputs, y_dict = self.fields()
        legacy_x, legacy_y = self.inputs is None, self.outputs is None and self.has_labels
        manifest = Manifest(
            source,
            id_column=self.id_column,
            label_column=self.label_column if legacy_y else None,
            path_column=self.path_column if legacy_x else None,
            path_template=self.path_template if legacy_x else None,
            root_dir=self.root_dir,
            require_paths=legacy_x,
            empty_labels=legacy_y and _empty_allowed(outputs[None]),
            storage_options=self.storage_options,
        )
        read = ReadManifest(manifest=manifest, problems=[], x_dict=x_dict, y_dict=y_dict)
        if manifest.ids is None:
            read.problems = list(manifest.problems)  # columns are missing: rows cannot be read
            return read
        encoding = []
        for role, fields, parts in (
            ("inputs", inputs, read.inputs),
            ("outputs", outputs, read.outputs),
        ):
            for name, field in fields.items():
                part, problems = self._read_field(manifest, role, name, field)
                encoding += problems
                parts.append(part)
        read.problems = [*manifest.problems, *encoding]
        class_labels = self.class_labels
        if class_labels is not None:
            part = read.outputs[list(outputs).index(class_labels[0])]
            read.label_encoder, read.targets = part.encoder, part.targets
        if self.sample_weight is not None:
            read.problems += self._weigh(read)
        if read.problems:
            return read
        for part in read.file_parts:
            part.loader = get_loader(part.loader, part.paths)
            if has_urls(part.paths):  # objects read through fsspec
                from kdataset.io.storage import RemoteLoader

                part.loader = RemoteLoader(part.loader, self.storage_options)
        read.probe(0)
        return read

    def _read_field(self, manifest, role, name, field):
        """`(part, problems)` for one input or output: problems of encoding labels (those of
        reading the cells go to `manifest.problems`)."""
        where = role if name is None else f"{role}[{name!r}]"
        if field is None:  # the path arguments
            return FilePart(name, manifest.paths, self.loader, self.path_column), []
        if isinstance(field, Files):
            paths = manifest.files(field.column, field.template, role=f"`{where}`")
            return FilePart(name, paths, field.loader, field.column), []
        if isinstance(field, Numbers):
            return NumberPart(name, manifest.numbers(field.columns, f"`{where}`")), []
        if name is None and role == "outputs" and self.outputs is None:
            labels = manifest.labels  # read with the manifest, by the label arguments
        else:
            labels = manifest.labels_of(field.column, empty_labels=_empty_allowed(field))
        part = LabelPart(name)
        if labels is None:
            return part, []
        problems = self._encode_labels(manifest, field, labels, part)
        return part, problems

    def _encode_labels(self, manifest, field, labels, part):
        mode, column, classes = field.mode, field.column, field.classes
        if isinstance(column, list | tuple):
            columns = [str(c) for c in column]
            encoder = classes if isinstance(classes, LabelEncoder) else None
            names = encoder.classes if encoder is not None else list(classes or columns)
            if sorted(map(str, names)) != sorted(columns):
                return [
                    Problem(
                        f"`classes` {listing(names)} must name the label columns {listing(columns)}"
                    )
                ]
            if manifest.problems:
                return []
            order = [columns.index(str(n)) for n in names]
            part.encoder = encoder or LabelEncoder(classes=names, multi_label=True)
            part.targets = Targets.from_matrix(labels[:, order])
            return []

        given = classes.classes if isinstance(classes, LabelEncoder) else classes
        if manifest.source is not None and given and all(isinstance(c, str) for c in given):
            labels = manifest.label_text(column)  # classes given as text: match the CSV's text
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
        part.targets = Targets.from_labels(encoder, labels, mode)
        if self.sampling == "balanced" and self.class_labels[1] == field:
            empty = np.flatnonzero(
                np.bincount(part.targets.indices, minlength=encoder.num_classes) == 0
            )
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

    def _weigh(self, read):
        manifest, column = read.manifest, self.sample_weight
        if column == "balanced":
            if read.targets is not None:  # else the labels have problems, already reported
                read.weights = read.targets.balanced_weights()
            return []
        if column not in manifest.frame.columns:
            return [no_column(column, "`sample_weight`", manifest.frame.columns)]
        problems, weights = [], np.ones(len(manifest), dtype=np.float32)
        for i, value in enumerate(manifest.frame[column].tolist()):
            try:
                weight = float(value)
            except (TypeError, ValueError):
                weight = float("nan")
            if not np.isfinite(weight) or weight < 0:
                what = (
                    "empty weight"
                    if is_missing(value)
                    else f"expected a weight >= 0, got {value!r}"
                )
                problems.append(_row_problem(manifest, i, what, column))
            else:
                weights[i] = weight
        read.weights = weights
        return problems


def _row_problem(manifest, row, message, column=None):
    return Problem(message, line=manifest.where(row), id=manifest.id_of(row), column=column)


def _unknown_labels(manifest, encoder, labels, column):
    """Problems for labels outside the encoder's given classes, one per row."""
    if not encoder.is_fitted:
        return []
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


def _empty_allowed(field):
    """Whether an empty label cell is a sample with no label (multi-hot from one column)."""
    return field.mode == "multi_hot" and isinstance(field.column, str)


@dataclasses.dataclass
class FilePart:
    """An input or output read from files: its paths, loader, and sample shape and dtype."""

    name: str | None
    paths: list | None
    loader: object
    column: str | None = None
    sample_shape: tuple | None = None
    sample_dtype: np.dtype | None = None


@dataclasses.dataclass
class NumberPart:
    """An input or output of numeric columns: a `float32` array `(rows, columns)`."""

    name: str | None
    values: np.ndarray | None


@dataclasses.dataclass
class LabelPart:
    """An input or output of class labels: the rows' `Targets` and their `LabelEncoder`."""

    name: str | None
    targets: Targets | None = None
    encoder: LabelEncoder | None = None


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
    problems: list
    inputs: list = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)
    x_dict: bool = False
    y_dict: bool = False
    label_encoder: LabelEncoder | None = None
    targets: Targets | None = None
    weights: np.ndarray | None = None
    first_sample_error: SampleError | None = None

    @property
    def file_parts(self):
        """The inputs and outputs read from files, inputs first."""
        return [p for p in (*self.inputs, *self.outputs) if isinstance(p, FilePart)]

    @property
    def _first(self):
        parts = self.file_parts
        return parts[0] if parts else None

    loader = property(lambda self: self._first and self._first.loader)
    sample_shape = property(lambda self: self._first and self._first.sample_shape)
    sample_dtype = property(lambda self: self._first and self._first.sample_dtype)

    def probe(self, row):
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


def probe(manifest, part, row):
    """Loads sample `row` of a part read from files to learn its shape and dtype (set on
    the part).

    Returns:
        `None` if it loaded, else its `SampleError`, naming the row.
    """
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
