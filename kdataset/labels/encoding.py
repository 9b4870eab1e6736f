"""Labels: class order, encoding and decoding, one-hot through `keras.ops`, class weights."""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self, SupportsFloat, TypeAlias, TypedDict

import numpy as np
import numpy.typing as npt

from kdataset.cells import is_missing, native
from kdataset.errors import listing, plural

if TYPE_CHECKING:
    from kdataset.labels.fields import LabelMode

_FORMAT = "kdataset.LabelEncoder"
_FORMAT_VERSION = 1

Label: TypeAlias = Hashable
"""A class name: any hashable cell value (a string, an integer, ...)."""

SampleLabels: TypeAlias = Label | Iterable[Label]
"""The label of one sample: a class name, or for multi-label data a list of them, one
string split on the encoder's `separator`, or a missing value (no label)."""

Rows: TypeAlias = npt.NDArray[np.integer] | Sequence[int]
"""Positions of rows, such as those of one batch."""

Tensor: TypeAlias = Any
"""A tensor of the active Keras backend (`jax.Array`, `tf.Tensor`, `torch.Tensor`, or a
NumPy array): Keras gives no one type for it."""


class LabelEncoderConfig(TypedDict):
    """`LabelEncoder.get_config()`: the encoder as plain, JSON-safe data."""

    format: str
    version: int
    classes: list[Label]
    multi_label: bool
    separator: str | None


def _as_number(value: object) -> float | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Number) and isinstance(value, SupportsFloat):  # not complex
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


def sort_classes(values: Iterable[Label]) -> list[Label]:
    """Class names in the order kdataset gives them indices.

    Numbers (and strings that are numbers) sort numerically, so `2` comes before
    `10`; anything else sorts as text.

    Args:
        values: An iterable of class names; duplicates are dropped.

    Returns:
        A list of distinct class names, in index order.
    """
    distinct = list(dict.fromkeys(native(v) for v in values))
    numbers_ = [_as_number(v) for v in distinct]
    if distinct and all(n is not None for n in numbers_):
        return [v for _, _, v in sorted(zip(numbers_, map(str, distinct), distinct))]
    return sorted(distinct, key=str)


class LabelEncoder:
    """Maps class names to indices and back, in a fixed, saved order.

    Classes are sorted (numerically when they are numbers, so `2` comes
    before `10`) unless given explicitly. Encoding a label the encoder has not
    seen raises an error naming it.

    Args:
        classes: Optional list of class names in index order. When given,
            `fit` only checks labels against it.
        multi_label: Whether each sample may carry several labels (a list of
            names, or one string split on `separator`).
        separator: For multi-label data held in one string per sample, the
            string between labels, e.g. `"|"` for `"cat|dog"`.

    Example:

    >>> enc = LabelEncoder().fit(["cat", "dog", "cat", "bird"])
    >>> enc.classes
    ['bird', 'cat', 'dog']
    >>> enc.encode(["dog", "bird"]).tolist()
    [2, 0]
    >>> enc.decode([1, 2])
    ['cat', 'dog']
    """

    def __init__(
        self,
        classes: Iterable[Label] | None = None,
        multi_label: bool = False,
        separator: str | None = None,
    ) -> None:
        if separator is not None and not (isinstance(separator, str) and separator):
            raise ValueError(
                "Invalid `separator`: expected a non-empty string or None. "
                f"Received: separator={separator!r}"
            )
        self.multi_label = bool(multi_label or separator is not None)
        self.separator = separator
        self._classes: list[Label] | None = None
        self._index: dict[Label, int] | None = None
        if classes is not None:
            self._set_classes(list(classes), source="`classes`")

    # -- fitting ---------------------------------------------------------

    def _set_classes(self, classes: Iterable[Label], source: str) -> None:
        names = [native(c) for c in classes]
        if not names:
            raise ValueError(f"Invalid {source}: expected at least one class. Received: []")
        missing = [c for c in names if is_missing(c)]
        if missing:
            raise ValueError(f"Invalid {source}: class names cannot be empty. Received: {names!r}")
        seen: set[Label] = set()
        duplicates: list[Label] = []
        for c in names:
            if c in seen:
                duplicates.append(c)
            seen.add(c)
        if duplicates:
            raise ValueError(
                f"Invalid {source}: class names must be distinct. Repeated: {listing(duplicates)}"
            )
        self._classes = names
        self._index = {c: i for i, c in enumerate(names)}

    def split(self, label: SampleLabels) -> list[Label]:
        """The list of class names one sample carries (multi-label encoders)."""
        if isinstance(label, str):
            if self.separator is None:
                return [label.strip()] if label.strip() else []
            return [part.strip() for part in label.split(self.separator) if part.strip()]
        if isinstance(label, list | tuple | set | frozenset | np.ndarray):
            return [native(v) for v in label]
        if is_missing(label):
            return []
        return [native(label)]

    def _flat(self, labels: Iterable[SampleLabels]) -> list[Label]:
        if self.multi_label:
            return [name for label in labels for name in self.split(label)]
        return [native(label) for label in labels]

    def fit(self, labels: Iterable[SampleLabels]) -> Self:
        """Learns the classes from labels, or checks them against given classes.

        Args:
            labels: An iterable of labels, one per sample (for multi-label
                encoders, lists of names or separated strings).

        Returns:
            The encoder itself.

        Raises:
            ValueError: a single-label sample is empty, or, with `classes`
                given, a label is unknown. A multi-label sample may carry no
                label at all (as scikit-learn's `MultiLabelBinarizer` allows):
                it encodes as a row of zeros.
        """
        labels = list(labels)
        if self.multi_label:
            flat = self._flat(labels)  # a sample with no label is the all-zero row
        else:
            # Distinct labels first: there may be millions of rows and a few classes.
            flat = [native(v) for v in dict.fromkeys(labels)]
            if any(is_missing(v) for v in flat):
                empty = [i for i, label in enumerate(labels) if is_missing(label)]
                raise ValueError(
                    f"Empty labels at {plural(len(empty), 'position')} {listing(empty)}: "
                    "every sample needs a label."
                )
        if self._classes is None:
            if not flat:
                raise ValueError("Cannot learn classes: no sample carries a label.")
            self._set_classes(sort_classes(flat), source="labels")
        else:
            self._check_known(flat)
        return self

    def _check_known(self, names: Iterable[Label]) -> None:
        unknown = self.unknown(names)
        if unknown:
            raise ValueError(
                f"Unknown {plural(len(unknown), 'label')}: {listing(unknown)}. "
                f"Known classes: {listing(self._require_fitted()[0])}"
            )

    # -- using -----------------------------------------------------------

    def _require_fitted(self) -> tuple[list[Label], dict[Label, int]]:
        """The classes and the index of each; a `ValueError` if there are none yet."""
        if self._classes is None or self._index is None:
            raise ValueError(
                "This LabelEncoder has no classes yet: call `fit(labels)` first or pass `classes=`."
            )
        return self._classes, self._index

    @property
    def is_fitted(self) -> bool:
        """Whether the encoder has classes (given, learnt with `fit`, or loaded)."""
        return self._classes is not None

    def unknown(self, names: Iterable[Label]) -> list[Label]:
        """The names among `names` that are not classes, each once, in order."""
        _, index = self._require_fitted()
        return [n for n in dict.fromkeys(names) if n not in index]

    @property
    def classes(self) -> list[Label]:
        """Class names in index order."""
        classes, _ = self._require_fitted()
        return list(classes)

    @property
    def num_classes(self) -> int:
        """How many classes there are."""
        return len(self.classes)

    def index(self, name: Label) -> int:
        """The index of one class name."""
        _, index = self._require_fitted()
        self._check_known([native(name)])
        return index[native(name)]

    def encode(self, labels: Iterable[SampleLabels]) -> np.ndarray:
        """Class indices for single-label data, multi-hot rows for multi-label data.

        Args:
            labels: An iterable of labels, one per sample.

        Returns:
            For single-label encoders an `int32` array of shape `(n,)`; for
            multi-label encoders a `float32` array of shape `(n, num_classes)`.
            NumPy, with no backend involved: `one_hot` and `multi_hot` give
            backend tensors.

        Raises:
            ValueError: a label is not one of `classes`.
        """
        _, class_index = self._require_fitted()
        labels = list(labels)
        if self.multi_label:
            rows = [self.split(label) for label in labels]
            self._check_known([n for row in rows for n in row])
            hot = np.zeros((len(rows), self.num_classes), dtype=np.float32)
            for i, row in enumerate(rows):
                hot[i, [class_index[n] for n in row]] = 1.0
            return hot
        lookup = {label: native(label) for label in dict.fromkeys(labels)}
        self._check_known(list(lookup.values()))
        index = {label: class_index[name] for label, name in lookup.items()}
        return np.fromiter((index[label] for label in labels), dtype=np.int32, count=len(labels))

    def one_hot(self, labels: Iterable[SampleLabels]) -> Tensor:
        """One-hot rows through `keras.ops`, as a tensor of the active backend.

        Args:
            labels: An iterable of class names (single-label encoders).

        Returns:
            A `float32` tensor of shape `(n, num_classes)`.
        """
        if self.multi_label:
            return self.multi_hot(labels)
        indices = self.encode(labels)
        return Targets("categorical", self.num_classes, indices).tensor(np.arange(len(indices)))

    def multi_hot(self, labels: Iterable[SampleLabels]) -> Tensor:
        """Multi-hot rows through `keras.ops`, as a tensor of the active backend.

        Args:
            labels: An iterable of labels, each a list of class names or, with
                `separator`, one string.

        Returns:
            A `float32` tensor of shape `(n, num_classes)`; a row has a 1 for
            each class the sample carries.
        """
        self._require_fitted()
        labels = list(labels)
        if self.multi_label:
            targets = Targets.from_labels(self, labels, "multi_hot")
        else:
            offsets = np.arange(len(labels) + 1)
            targets = Targets("multi_hot", self.num_classes, self.encode(labels), offsets)
        return targets.tensor(np.arange(len(labels)))

    def decode(
        self, encoded: npt.ArrayLike | Tensor, threshold: float = 0.5
    ) -> list[Label] | list[list[Label]]:
        """Class names from indices, one-hot rows or predicted probabilities.

        Args:
            encoded: Class indices of shape `(n,)`, or rows of shape
                `(n, num_classes)` such as `model.predict` output. Rows are
                argmaxed for single-label encoders and thresholded for
                multi-label ones. A tensor of any backend is accepted.
            threshold: For multi-label encoders, the score at or above which a
                class is taken.

        Returns:
            A list of class names (single-label), or of lists of class names
            (multi-label).
        """
        classes, _ = self._require_fitted()
        array = _to_numpy(encoded)
        if array.ndim == 2:
            if array.shape[1] != self.num_classes:
                raise ValueError(
                    f"Invalid `encoded`: expected rows of {self.num_classes} scores, "
                    f"one per class. Received shape {array.shape}"
                )
            if self.multi_label:
                return [[classes[j] for j in np.flatnonzero(row >= threshold)] for row in array]
            indices = array.argmax(axis=1)
        elif array.ndim == 1:
            if array.size and not np.issubdtype(array.dtype, np.integer):
                if not np.all(np.mod(array, 1) == 0):
                    raise ValueError(
                        "Invalid `encoded`: a 1-D input must hold class indices. "
                        f"Received values such as {array[:3].tolist()}"
                    )
            indices = array.astype(np.int64)
            bad = indices[(indices < 0) | (indices >= self.num_classes)]
            if bad.size:
                raise ValueError(
                    f"Invalid `encoded`: class indices must be in [0, {self.num_classes}). "
                    f"Received: {listing(np.unique(bad).tolist())}"
                )
        else:
            raise ValueError(
                "Invalid `encoded`: expected indices of shape (n,) or rows of shape "
                f"(n, num_classes). Received shape {array.shape}"
            )
        if self.multi_label:
            return [[classes[i]] for i in indices]
        return [classes[i] for i in indices]

    # -- saving ----------------------------------------------------------

    def get_config(self) -> LabelEncoderConfig:
        """The encoder as plain data (JSON-safe)."""
        classes, _ = self._require_fitted()
        return {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "classes": list(classes),
            "multi_label": self.multi_label,
            "separator": self.separator,
        }

    @classmethod
    def from_config(cls, config: LabelEncoderConfig) -> Self:
        """Rebuilds an encoder from `get_config()` output."""
        if not isinstance(config, dict) or "classes" not in config:
            raise ValueError(
                "Invalid label encoder config: expected a dict with 'classes'. "
                f"Received: {str(config)[:100]}"
            )
        return cls(
            classes=config["classes"],
            multi_label=config.get("multi_label", False),
            separator=config.get("separator"),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the encoder as readable JSON, to ship beside a model."""
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            json.dump(self.get_config(), f, indent=2, ensure_ascii=False)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Reads an encoder written by `save`."""
        file = os.fspath(path)
        try:
            with open(file, encoding="utf-8") as f:
                config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"Invalid label encoder file {file!r}: not JSON ({e})") from None
        return cls.from_config(config)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LabelEncoder)
            and self._classes == other._classes
            and self.multi_label == other.multi_label
            and self.separator == other.separator
        )

    def __repr__(self) -> str:
        classes = "unfitted" if self._classes is None else f"classes={self._classes!r}"
        extra = ", multi_label=True" if self.multi_label else ""
        return f"LabelEncoder({classes}{extra})"


def _to_numpy(x: npt.ArrayLike | Tensor) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__array__") or isinstance(x, list | tuple):
        try:
            return np.asarray(x)
        except (TypeError, ValueError, RuntimeError):
            pass
    import keras

    array: np.ndarray = keras.ops.convert_to_numpy(x)
    return array


class Targets:
    """The labels of every row, held compactly and encoded one batch at a time.

    Single-label data is one `int32` class index per row; multi-label data is
    held sparse (each row's class indices), so the memory grows with the rows
    and their labels, never with rows x classes. `encode(rows)` gives a batch's
    `y` for the `label_mode`, one-hot and multi-hot through `keras.ops` on the
    active backend, as NumPy.

    Args:
        mode: `"int"`, `"categorical"`, `"binary"` or `"multi_hot"`.
        num_classes: How many classes there are.
        indices: Single-label: the class index of each row. Multi-label: the
            class indices of every row, one row after the other.
        offsets: Multi-label only: row `i` holds `indices[offsets[i]:offsets[i + 1]]`.
    """

    def __init__(
        self,
        mode: LabelMode,
        num_classes: int,
        indices: npt.ArrayLike,
        offsets: npt.ArrayLike | None = None,
    ) -> None:
        self.mode = mode
        self.num_classes = int(num_classes)
        self.indices: npt.NDArray[np.int32] = np.ascontiguousarray(indices, dtype=np.int32)
        self.offsets: npt.NDArray[np.int64] | None = (
            None if offsets is None else np.ascontiguousarray(offsets, dtype=np.int64)
        )

    @classmethod
    def from_labels(
        cls, encoder: LabelEncoder, labels: Iterable[SampleLabels], mode: LabelMode
    ) -> Self:
        """Targets for `labels` (one per row) with a fitted `LabelEncoder`."""
        if mode != "multi_hot":
            return cls(mode, encoder.num_classes, encoder.encode(labels))
        rows = [encoder.split(label) for label in labels]
        encoder._check_known([n for row in rows for n in row])
        _, index = encoder._require_fitted()
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(row) for row in rows], out=offsets[1:])
        flat = np.fromiter(
            (index[n] for row in rows for n in row), dtype=np.int32, count=int(offsets[-1])
        )
        return cls(mode, encoder.num_classes, flat, offsets)

    @classmethod
    def from_matrix(cls, hot: npt.ArrayLike) -> Self:
        """Multi-hot targets from a `(rows, classes)` array of 0/1."""
        matrix = np.asarray(hot)
        rows, columns = np.nonzero(matrix)
        offsets = np.zeros(len(matrix) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(matrix)), out=offsets[1:])
        return cls("multi_hot", np.shape(matrix)[1], columns, offsets)

    @property
    def multi_label(self) -> bool:
        return self.offsets is not None

    def classes_of(self, rows: Rows) -> npt.NDArray[np.int32]:
        """Multi-label: the class indices of `rows`, as a `(len(rows), widest)` array
        padded with `num_classes` (one past the last class)."""
        if self.offsets is None:
            raise TypeError("`classes_of` is for multi-label targets; these are single-label")
        positions = np.asarray(rows)
        starts = self.offsets[positions]
        counts = self.offsets[positions + 1] - starts
        padded = np.full(
            (len(positions), int(counts.max(initial=0)) or 1), self.num_classes, np.int32
        )
        row = np.repeat(np.arange(len(positions)), counts)
        column = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        padded[row, column] = self.indices[np.repeat(starts, counts) + column]
        return padded

    def encode(self, rows: Rows) -> np.ndarray:
        """The `y` of a batch of rows, as NumPy.

        `int32 (n,)` for `"int"`, `float32 (n, 1)` for `"binary"`, `float32
        (n, num_classes)` for `"categorical"` (`keras.ops.one_hot`) and
        `"multi_hot"` (`keras.ops.multi_hot`; a row with no label is zeros).
        """
        if self.mode == "int":
            return self.indices[rows]
        if self.mode == "binary":
            return self.indices[rows].astype(np.float32)[:, None]
        import keras

        return np.ascontiguousarray(keras.ops.convert_to_numpy(self.tensor(rows)), dtype=np.float32)

    def tensor(self, rows: Rows) -> Tensor:
        """One-hot (`"categorical"`) or multi-hot rows as a `float32` tensor of the backend."""
        import keras

        if self.offsets is None:
            return keras.ops.one_hot(self.indices[rows], self.num_classes, dtype="float32")
        # The padding index (one past the last class) is sliced off, so a row
        # with no label is zeros on every backend (torch's one-hot raises on an
        # out-of-range index).
        encoded = keras.ops.multi_hot(self.classes_of(rows), self.num_classes + 1, dtype="float32")
        return encoded[:, : self.num_classes]

    def digest(self) -> bytes:
        """Bytes that identify the targets, for fingerprints."""
        parts = [self.mode.encode(), str(self.num_classes).encode(), self.indices.tobytes()]
        if self.offsets is not None:
            parts.append(self.offsets.tobytes())
        return b"\0".join(parts)

    def balanced_weights(self) -> npt.NDArray[np.float32]:
        """`sample_weights` of the rows, computed without a rows x classes matrix."""
        if self.offsets is None:
            offsets = np.arange(len(self.indices) + 1, dtype=np.int64)
        else:
            offsets = self.offsets
        return _balanced(offsets, self.indices, self.num_classes)


def _balanced(
    offsets: npt.NDArray[np.int64], indices: npt.NDArray[np.int32], num_classes: int
) -> npt.NDArray[np.float32]:
    """Per row, the mean balanced weight of its classes (1 for a row with none)."""
    rows = len(offsets) - 1
    counts = np.bincount(indices, minlength=num_classes)
    present = counts > 0
    weight = np.zeros(num_classes, dtype=np.float64)
    weight[present] = rows / (present.sum() * counts[present])
    per_row = np.diff(offsets)
    owner = np.repeat(np.arange(rows), per_row)
    totals = np.bincount(owner, weights=weight[indices], minlength=rows)
    out = np.ones(rows, dtype=np.float64)
    labelled = per_row > 0
    out[labelled] = totals[labelled] / per_row[labelled]
    return out.astype(np.float32)


def continuous_values(values: Sequence[Label]) -> str:
    """Why labels look like a measurement rather than classes (numbers with
    fractions), or `""`. Whole numbers may be class codes: they pass."""
    try:
        # Any label is tried: the TypeError of one `float` does not take says it is no number.
        numbers = np.array([float(v) for v in values])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if not np.isfinite(numbers).all():
        return ""
    fractions = numbers != np.round(numbers)
    if fractions.any():
        return f"numbers with fractions (such as {native(values[int(np.argmax(fractions))])!r})"
    return ""


def class_weights(
    labels: Iterable[Label], classes: Sequence[Label] | LabelEncoder | None = None
) -> dict[int, float]:
    """Balanced class weights, as scikit-learn's `compute_class_weight("balanced")`.

    `n_samples / (n_classes * count)` per class, so rare classes weigh more.

    Args:
        labels: Class names, one per sample (single-label data).
        classes: Optional class order (a list or a `LabelEncoder`); by default
            the sorted classes of `labels`.

    Returns:
        A dict `{class_index: weight}` for `model.fit(class_weight=...)`.

    Raises:
        ValueError: a class in `classes` has no sample (its weight would be
            infinite), or a label is unknown.

    Example:

    >>> class_weights(["a", "a", "a", "b"])
    {0: 0.6666666666666666, 1: 2.0}
    """
    encoder = classes if isinstance(classes, LabelEncoder) else LabelEncoder(classes=classes)
    if encoder.multi_label:
        raise ValueError(
            "`class_weights` is for single-label data: `fit(class_weight=...)` argmaxes "
            "multi-hot targets, so every row would get its first class's weight."
        )
    labels = list(labels)
    continuous = continuous_values(labels) if not encoder.is_fitted else ""
    if continuous:
        raise ValueError(
            f"`class_weights` weighs classes, but these labels are {continuous}: a "
            "regression target has no classes to weigh. Bin it into classes first "
            "(pandas.qcut), or weigh samples with a column of your own."
        )
    encoder = encoder.fit(labels) if not encoder.is_fitted else encoder
    return balanced_class_weights(encoder.encode(labels), encoder)


def balanced_class_weights(
    indices: npt.NDArray[np.integer], encoder: LabelEncoder
) -> dict[int, float]:
    """`class_weights` from class indices: `{class_index: weight}`."""
    counts = np.bincount(indices, minlength=encoder.num_classes)
    empty = [encoder.classes[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(
            f"Cannot weigh {plural(len(empty), 'class', 'classes')} with no samples: {listing(empty)}"
        )
    total, n = len(indices), encoder.num_classes
    return {i: total / (n * int(c)) for i, c in enumerate(counts)}


def sample_weights(
    labels: Iterable[SampleLabels] | np.ndarray,
    classes: Sequence[Label] | LabelEncoder | None = None,
) -> npt.NDArray[np.float32]:
    """Balanced weights per sample, for single-label or multi-label data.

    `fit(class_weight=...)` argmaxes 2-D targets, so with multi-hot labels every
    row would get its first class's weight. Weights per sample work for both:
    each class gets the balanced weight `n_samples / (n_classes * count)` (as
    scikit-learn's `"balanced"`), and a sample gets the mean weight of its
    classes (the class's weight for single-label data; 1 for a sample with no
    class).

    Args:
        labels: Class names per sample (lists of names or separated strings
            for a multi-label `classes` encoder), class indices (`int` array of
            shape `(n,)`), or multi-hot rows (array of shape `(n, classes)`).
        classes: A `LabelEncoder` or a list of class names; by default learnt
            from `labels`.

    Returns:
        A `float32` array of shape `(n,)`, to pass as sample weights (for
        instance with `ManifestDataset(sample_weight="balanced")`).

    Example:

    >>> sample_weights([["a"], ["a", "b"], ["a"]], classes=LabelEncoder(multi_label=True)).tolist()
    [0.5, 1.0, 0.5]
    """
    encoder = classes if isinstance(classes, LabelEncoder) else None
    array = labels if isinstance(labels, np.ndarray) else None
    if array is not None and array.ndim == 2:
        targets = Targets.from_matrix(array.astype(bool))
    elif array is not None and array.ndim == 1 and np.issubdtype(array.dtype, np.integer):
        width = encoder.num_classes if encoder is not None else int(array.max(initial=-1)) + 1
        targets = Targets("int", width, array)
    else:
        labels = list(labels)
        if isinstance(classes, LabelEncoder):
            encoder = classes
        else:
            multi = any(isinstance(v, list | tuple | set) for v in labels)
            encoder = LabelEncoder(classes=classes, multi_label=multi)
        if not encoder.is_fitted:
            encoder = encoder.fit(labels)
        targets = Targets.from_labels(
            encoder, labels, "multi_hot" if encoder.multi_label else "int"
        )
    return targets.balanced_weights()
