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

from kdataset.errors import Problem, SampleError, check_int, listing, one_of
from kdataset.labels import LabelEncoder, Targets, _is_missing, _native
from kdataset.loaders import get_loader
from kdataset.manifest import Manifest

LABEL_MODES = ("int", "categorical", "binary", "multi_hot")
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
    loader: object = "auto"
    label_mode: str | None = "categorical"
    label_separator: str | None = None
    classes: object = None
    sample_weight: str | None = None
    shuffle: bool = True
    seed: int | None = None
    sampling: str | None = None
    drop_remainder: bool = False
    pad_remainder: bool = False
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
        if self.on_error not in ON_ERROR:
            raise ValueError(
                f"Invalid `on_error`: expected one of {one_of(ON_ERROR)}. "
                f"Received: on_error={self.on_error!r}"
            )
        self._check_labels()
        if self.sampling not in SAMPLING:
            raise ValueError(
                f"Invalid `sampling`: expected one of {one_of(SAMPLING)}. "
                f"Received: sampling={self.sampling!r}"
            )
        if self.sampling == "balanced":
            if not self.has_labels or self.label_mode == "multi_hot":
                raise ValueError(
                    "`sampling='balanced'` draws the classes of single-label data equally: it "
                    f"needs `label_mode` 'int', 'categorical' or 'binary'. Received: "
                    f"label_mode={self.label_mode!r}"
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
        if self.sample_weight == "balanced" and not self.has_labels:
            raise ValueError("`sample_weight='balanced'` needs labels: `label_mode` is None.")
        if self.cache is not None and not isinstance(self.cache, str | os.PathLike):
            raise ValueError(
                f"Invalid `cache`: expected a file path or None. Received: cache={self.cache!r}"
            )
        if self.loader not in ("auto", "npy", "image") and not callable(self.loader):
            get_loader(self.loader)  # raises, naming what is accepted

    def _check_labels(self):
        mode, column = self.label_mode, self.label_column
        if mode is not None and mode not in LABEL_MODES:
            raise ValueError(
                f"Invalid `label_mode`: expected one of {one_of(LABEL_MODES)} or None. "
                f"Received: label_mode={mode!r}"
            )
        if column is None or mode is None:
            return
        if isinstance(column, list | tuple) and mode != "multi_hot":
            raise ValueError(
                "A list of `label_column`s holds 0/1 columns, one per class: use "
                f"`label_mode='multi_hot'`. Received: label_mode={mode!r}"
            )
        if self.label_separator is not None and mode != "multi_hot":
            raise ValueError(
                "`label_separator` splits one column into several labels: use "
                f"`label_mode='multi_hot'`. Received: label_mode={mode!r}"
            )

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
        """Whether batches carry labels (`label_column` and `label_mode` both set)."""
        return self.label_column is not None and self.label_mode is not None

    def read(self, source):
        """Reads and checks a manifest with these arguments, collecting every problem.

        Problems in the data are collected, never raised. The labels are held as
        class indices (`Targets`), and the first sample is loaded to learn the
        shape and dtype of every sample.

        Args:
            source: A CSV path or a pandas DataFrame.

        Returns:
            A `ReadManifest`.
        """
        multi = self.has_labels and self.label_mode == "multi_hot"
        manifest = Manifest(
            source,
            id_column=self.id_column,
            label_column=self.label_column if self.has_labels else None,
            path_column=self.path_column,
            path_template=self.path_template,
            root_dir=self.root_dir,
            empty_labels=multi and isinstance(self.label_column, str),
        )
        read = ReadManifest(manifest=manifest, problems=list(manifest.problems))
        if manifest.ids is None:
            return read  # columns are missing: rows cannot be read
        if self.has_labels and manifest.labels is not None:
            read.problems += self._encode_labels(read)
        if self.sample_weight is not None:
            read.problems += self._weigh(read)
        if manifest.paths is None or read.problems:
            return read
        read.loader = get_loader(self.loader, manifest.paths)
        read.probe(0)
        return read

    def _encode_labels(self, read):
        manifest, mode, column = read.manifest, self.label_mode, self.label_column
        labels = manifest.labels
        if isinstance(column, list | tuple):
            columns = [str(c) for c in column]
            encoder = self.classes if isinstance(self.classes, LabelEncoder) else None
            names = encoder.classes if encoder is not None else list(self.classes or columns)
            if sorted(map(str, names)) != sorted(columns):
                return [
                    Problem(
                        f"`classes` {listing(names)} must name the label columns {listing(columns)}"
                    )
                ]
            if manifest.problems:
                return []
            order = [columns.index(str(n)) for n in names]
            read.label_encoder = encoder or LabelEncoder(classes=names, multi_label=True)
            read.targets = Targets.from_matrix(labels[:, order])
            return []

        given = self.classes.classes if isinstance(self.classes, LabelEncoder) else self.classes
        if manifest.source is not None and given and all(isinstance(c, str) for c in given):
            labels = manifest.label_text()  # classes given as text: match the CSV's text
        if isinstance(self.classes, LabelEncoder):
            encoder = self.classes
            if encoder.multi_label != (mode == "multi_hot"):
                kind = "multi" if encoder.multi_label else "single"
                raise ValueError(
                    f"The `classes` encoder is {kind}-label but `label_mode={mode!r}` is not."
                )
        else:
            encoder = LabelEncoder(
                classes=self.classes,
                multi_label=mode == "multi_hot",
                separator=self.label_separator,
            )
        problems = _unknown_labels(manifest, encoder, labels, column)
        if problems or manifest.problems:
            return problems
        if encoder._classes is None:
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
        read.label_encoder = encoder
        read.targets = Targets.from_labels(encoder, labels, mode)
        if self.sampling == "balanced":
            empty = np.flatnonzero(
                np.bincount(read.targets.indices, minlength=encoder.num_classes) == 0
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
            return [
                Problem(
                    f"no column {column!r} (`sample_weight`). Columns: "
                    f"{listing([str(c) for c in manifest.frame.columns])}",
                    column=column,
                )
            ]
        problems, weights = [], np.ones(len(manifest), dtype=np.float32)
        for i, value in enumerate(manifest.frame[column].tolist()):
            try:
                weight = float(value)
            except (TypeError, ValueError):
                weight = float("nan")
            if not np.isfinite(weight) or weight < 0:
                what = (
                    "empty weight"
                    if _is_missing(value)
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
    if encoder._classes is None:
        return []
    known = encoder._index
    if not encoder.multi_label:
        # Distinct labels first: a manifest may have millions of rows and ten classes.
        unknown = {
            v for v in dict.fromkeys(labels) if not _is_missing(v) and _native(v) not in known
        }
        found = [(i, [_native(label)]) for i, label in enumerate(labels) if label in unknown]
    else:
        found = []
        for i, label in enumerate(labels):
            names = [n for n in encoder.split(label) if n not in known]
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


@dataclasses.dataclass
class ReadManifest:
    """A manifest read and checked with a `DatasetSpec`.

    Attributes:
        manifest: The `Manifest`.
        problems: Every problem found in the manifest and its labels.
        label_encoder: The fitted `LabelEncoder`, or `None`.
        targets: The labels of every row as `Targets` (class indices), or `None`.
        weights: The sample weight of every row, or `None`.
        loader: The loader, once the manifest is clean.
        sample_shape: Shape of the first sample that loaded.
        sample_dtype: Its dtype.
        first_sample_error: A `SampleError` if the first sample would not load.
    """

    manifest: Manifest
    problems: list
    label_encoder: LabelEncoder | None = None
    targets: Targets | None = None
    weights: np.ndarray | None = None
    loader: object = None
    sample_shape: tuple | None = None
    sample_dtype: np.dtype | None = None
    first_sample_error: SampleError | None = None

    def probe(self, row):
        """Loads sample `row` to learn the sample shape and dtype.

        Returns:
            `None` if it loaded, else its `SampleError` (the first one is also
            kept as `first_sample_error`).
        """
        manifest = self.manifest
        try:
            shape, dtype = self.loader.probe(manifest.paths[row])
        except Exception as e:
            error = e if isinstance(e, SampleError) else SampleError(f"{type(e).__name__}: {e}")
            error = SampleError(
                error.reason,
                path=manifest.paths[row],
                line=manifest.where(row),
                id=manifest.id_of(row),
            )
            if self.first_sample_error is None:
                self.first_sample_error = error
            return error
        self.sample_shape, self.sample_dtype = tuple(shape), np.dtype(dtype)
        return None
