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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Self, TypeAlias, get_args

from kdataset.errors import (
    check_int,
    check_options,
    check_shard,
    listing,
    one_of,
)
from kdataset.labels.fields import (
    LABEL_MODES,
    Files,
    Labels,
    check_label_mode,
    named,
)
from kdataset.loading.loaders import get_loader

if TYPE_CHECKING:
    from kdataset.core.batches import Transform
    from kdataset.io.manifest import LabelColumn
    from kdataset.labels.encoding import Label, LabelEncoder
    from kdataset.labels.fields import Field, LabelMode
    from kdataset.loading.loaders import LoaderSpec

OnError: TypeAlias = Literal["raise", "skip"]
"""What a sample that cannot be loaded does (`on_error`): stop, or be left out."""

ON_ERROR: tuple[OnError, ...] = get_args(OnError)

Sampling: TypeAlias = Literal["balanced"]
"""How an epoch draws its rows (`sampling`), besides `None` (every row once)."""

SAMPLING: tuple[Sampling | None, ...] = (None, *get_args(Sampling))


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
    label_column: LabelColumn | None = "label"
    path_column: str | None = None
    path_template: str | None = None
    root_dir: str | os.PathLike[str] | None = None
    storage_options: dict[str, Any] | None = dataclasses.field(default=None, repr=False)
    loader: LoaderSpec = "auto"
    label_mode: LabelMode | None = "categorical"
    label_separator: str | None = None
    classes: Sequence[Label] | LabelEncoder | None = None
    inputs: Field | Mapping[str, Field] | None = None
    outputs: Field | Mapping[str, Field] | None = None
    sample_weight: str | None = None
    shuffle: bool = True
    seed: int | None = None
    sampling: Sampling | None = None
    transform: Transform | None = None
    batch_transform: Transform | None = None
    drop_remainder: bool = False
    pad_remainder: bool = False
    shard: tuple[int, int] | Literal["auto"] | None = None
    on_error: OnError = "raise"
    cache: str | os.PathLike[str] | None = None
    workers: int | Literal["auto"] = "auto"
    use_multiprocessing: bool = False
    max_queue_size: int | None = None

    def __post_init__(self) -> None:
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

    def _check_fields(self) -> None:
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

    def fields(
        self,
    ) -> tuple[Mapping[str | None, Field | None], bool, Mapping[str | None, Field], bool]:
        """`(inputs, x_is_dict, outputs, y_is_dict)`: each a `{name: field}` dict.

        Without `inputs` (`outputs`), the one input (target) is made of the
        path (label) arguments and named `None`; `outputs` is empty without
        labels.
        """
        inputs: Mapping[str | None, Field | None]
        outputs: Mapping[str | None, Field]
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

    def _legacy_labels(self) -> Labels:
        column, mode = self.label_column, self.label_mode
        assert column is not None and mode is not None  # called only when `has_labels`
        return Labels(column, mode, self.label_separator, self.classes)

    def _labels_outputs(self) -> list[tuple[str | None, Labels]]:
        """`[(name, Labels)]` of the outputs of class labels."""
        if self.outputs is None:
            return [(None, self._legacy_labels())] if self.has_labels else []
        return [
            (n, f) for n, f in named(self.outputs, "outputs")[0].items() if isinstance(f, Labels)
        ]

    @property
    def class_labels(self) -> tuple[str | None, Labels] | None:
        """`(name, Labels)` of the one target of class labels, or `None` if there is not one."""
        labels = self._labels_outputs()
        return labels[0] if len(labels) == 1 else None

    def _class_labels_found(self) -> str:
        if self.outputs is None:
            return f"Received: label_mode={self.label_mode!r}"
        labels = [name for name, _ in self._labels_outputs()]
        if not labels:
            return "The outputs hold no kd.Labels (regression or mask targets have no classes)."
        return f"The outputs {listing(labels)} all hold class labels: there must be one."

    def _check_labels(self) -> None:
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
    def from_kwargs(cls, **kwargs: Any) -> Self:
        """A spec from keyword arguments, naming any that is not a dataset argument.

        The arguments may be anything (a command line's, or `validate_manifest`'s
        `**dataset_kwargs`): the spec checks them, as `DatasetSpec(...)` does.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise TypeError(
                f"Unknown dataset {'argument' if len(unknown) == 1 else 'arguments'} "
                f"{listing(unknown)}. Expected any of: {', '.join(names)}"
            )
        return cls(**kwargs)

    @property
    def has_labels(self) -> bool:
        """Whether batches carry targets (`outputs`, or `label_column` and `label_mode` set)."""
        if self.outputs is not None:
            return True
        return self.label_column is not None and self.label_mode is not None
