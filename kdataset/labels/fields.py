"""What a batch holds, column by column: files, numbers and class labels.

`ManifestDataset(inputs=..., outputs=...)` takes these to build batches for
models with several inputs or outputs, regression targets and masks. Each
says which columns of the manifest it reads and how; the dataset checks them
all before training starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, TypeAlias, get_args

from kdataset.errors import one_of

if TYPE_CHECKING:
    from kdataset.labels.encoding import Label, LabelEncoder
    from kdataset.loading.loaders import LoaderSpec

LabelMode: TypeAlias = Literal["int", "categorical", "binary", "multi_hot"]
"""How class labels are encoded in a batch (`label_mode`, `kd.Labels(mode=...)`)."""

LABEL_MODES: tuple[LabelMode, ...] = get_args(LabelMode)

LabelColumn: TypeAlias = str | list[str] | tuple[str, ...]
"""A column of class labels, or a list of 0/1 columns, one per class (multi-hot)."""


def check_label_mode(
    mode: object,
    column: object,
    separator: object,
    names: tuple[str, str, str] = ("mode", "column", "separator"),
) -> None:
    """The label-mode rules, in one place, for `kd.Labels` and `ManifestDataset`.

    Args:
        mode: One of `LABEL_MODES`.
        column: The label column, or a list of 0/1 columns (`"multi_hot"` only).
        separator: The string between labels in one cell (`"multi_hot"` only).
        names: The names of the three arguments, as the caller's user typed them.

    Raises:
        ValueError: naming the argument and what it expects.
    """
    mode_name, column_name, separator_name = names
    if mode not in LABEL_MODES:
        raise ValueError(
            f"Invalid `{mode_name}`: expected one of {one_of(LABEL_MODES)}. "
            f"Received: {mode_name}={mode!r}"
        )
    if isinstance(column, list | tuple) and mode != "multi_hot":
        raise ValueError(
            f"A list of `{column_name}`s holds 0/1 columns, one per class: use "
            f"`{mode_name}='multi_hot'`. Received: {mode_name}={mode!r}"
        )
    if separator is not None and mode != "multi_hot":
        raise ValueError(
            f"`{separator_name}` splits one column into several labels: use "
            f"`{mode_name}='multi_hot'`. Received: {mode_name}={mode!r}"
        )


@dataclasses.dataclass(frozen=True)
class Files:
    """Samples read from files: an image, an array, a mask.

    Args:
        column: Column of file paths (relative ones resolve against the
            dataset's `root_dir`).
        template: Instead of `column`, a path made from each row with
            `str.format`, e.g. `"masks/{id}.png"`.
        loader: How to read a file: `"auto"` (by extension), `"npy"`,
            `"image"`, a loader such as `kd.ImageLoader(image_size=(128, 128))`
            or `kd.MaskLoader(image_size=(128, 128))`, or a function
            `fn(path) -> array`.

    Example:

    >>> Files("scan", loader="npy")
    Files(column='scan', template=None, loader='npy')
    """

    column: str | None = None
    template: str | None = None
    loader: LoaderSpec = "auto"

    def __post_init__(self) -> None:
        if (self.column is None) == (self.template is None):
            raise ValueError(
                "`kd.Files` reads paths from a `column` or a `template`: pass exactly one. "
                f"Received: column={self.column!r}, template={self.template!r}"
            )
        for name in ("column", "template"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"Invalid `{name}`: expected a string. Received: {value!r}")

    @property
    def columns(self) -> list[str]:
        return [self.column] if self.column is not None else []


@dataclasses.dataclass(frozen=True, init=False)
class Numbers:
    """Numeric columns, as `float32`: features for an input, or regression targets.

    Batches hold them as `(batch, len(columns))`; one column name gives
    `(batch, 1)`, as a `Dense(1)` output or a `keras.Input(shape=(1,))`
    expects. Every cell must be a finite number: an empty cell or text is
    reported with its line and column when the dataset is built.

    Args:
        columns: A column name, or a list of them.

    Example:

    >>> Numbers(["age", "weight"]).columns
    ['age', 'weight']
    """

    columns: list[str]

    def __init__(self, columns: str | Sequence[str]) -> None:
        names = [columns] if isinstance(columns, str) else columns
        if (
            not isinstance(names, list | tuple)
            or not names
            or not all(isinstance(c, str) for c in names)
        ):
            raise ValueError(
                "Invalid `columns`: expected a column name or a non-empty list of them. "
                f"Received: {columns!r}"
            )
        object.__setattr__(self, "columns", list(names))


@dataclasses.dataclass(frozen=True)
class Labels:
    """Class labels, encoded as `ManifestDataset`'s `label_mode` says.

    Args:
        column: Column of labels, or a list of 0/1 columns (multi-hot).
        mode: `"categorical"`, `"int"`, `"binary"` or `"multi_hot"` (see
            `ManifestDataset`'s `label_mode`).
        separator: For `"multi_hot"` from one column, the string between labels.
        classes: Class names in index order, or a `kd.LabelEncoder`.

    Example:

    >>> Labels("diagnosis", mode="int").mode
    'int'
    """

    column: LabelColumn = "label"
    mode: LabelMode = "categorical"
    separator: str | None = None
    classes: Sequence[Label] | LabelEncoder | None = None

    def __post_init__(self) -> None:
        check_label_mode(self.mode, self.column, self.separator)

    @property
    def columns(self) -> list[str]:
        return list(self.column) if isinstance(self.column, list | tuple) else [self.column]


Field: TypeAlias = Files | Numbers | Labels
"""What a named input or output of a batch reads: `kd.Files`, `kd.Numbers` or `kd.Labels`."""

FIELDS = (Files, Numbers, Labels)


def named(value: object, argument: str) -> tuple[dict[str | None, Field], bool]:
    """`{name: field}` and whether the batch holds a dict, for `inputs`/`outputs`.

    A single field is the batch's array itself (name `None`); a dict names
    each array as a functional model's inputs or outputs are named.
    """
    if isinstance(value, FIELDS):
        return {None: value}, False
    if isinstance(value, dict) and value:
        for name, field in value.items():
            if not isinstance(name, str) or not name:
                raise ValueError(
                    f"Invalid `{argument}`: names are non-empty strings (a model's "
                    f"{argument[:-1]} names). Received: {name!r}"
                )
            if not isinstance(field, FIELDS):
                raise ValueError(
                    f"Invalid `{argument}[{name!r}]`: expected kd.Files, kd.Numbers or "
                    f"kd.Labels. Received: {field!r}"
                )
        return dict(value), True
    raise ValueError(
        f"Invalid `{argument}`: expected kd.Files, kd.Numbers, kd.Labels or a non-empty dict "
        f"of them by name. Received: {argument}={value!r}"
    )


__all__ = ["Files", "Labels", "Numbers"]
