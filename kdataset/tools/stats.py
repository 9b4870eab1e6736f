"""Label statistics: samples per class, per manifest or split, and the imbalance."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from kdataset.errors import ManifestError
from kdataset.io.manifest import Rows
from kdataset.labels.encoding import LabelEncoder


@dataclasses.dataclass
class LabelStats:
    """Samples per class.

    Attributes:
        table: A DataFrame with one row per class (in index order) and one
            column of counts per manifest (`samples` for a single one; one per
            name plus `total` for several). A multi-label sample counts once
            for each of its classes.
        rows: Rows per manifest.
        label_encoder: A `LabelEncoder` with the classes found.
    """

    table: pd.DataFrame
    rows: dict[str, int]
    label_encoder: LabelEncoder

    @property
    def totals(self) -> pd.Series[int]:
        """Samples per class over all the manifests, as a Series."""
        return self.table["total"] if "total" in self.table else self.table.iloc[:, 0]

    @property
    def imbalance_ratio(self) -> float:
        """Samples of the largest class divided by those of the smallest."""
        totals = self.totals
        return (
            float(totals.max() / totals.min()) if len(totals) and totals.min() > 0 else float("inf")
        )

    def summary(self) -> str:
        """One line: rows, classes, imbalance ratio with the largest and smallest class."""
        totals = self.totals
        rows = ", ".join(f"{name} {count:,}" for name, count in self.rows.items())
        if len(totals) == 1:
            return (
                f"{sum(self.rows.values()):,} rows ({rows}), 1 class, {totals.index[0]!r} with "
                f"{int(totals.iloc[0]):,} samples: no imbalance to measure"
            )
        return (
            f"{sum(self.rows.values()):,} rows ({rows}), {len(totals)} classes; imbalance ratio "
            f"{self.imbalance_ratio:.2f} (largest {totals.idxmax()!r}: {int(totals.max()):,}, "
            f"smallest {totals.idxmin()!r}: {int(totals.min()):,})"
        )

    def __str__(self) -> str:
        return f"{self.table.to_string()}\n{self.summary()}"


def label_stats(
    manifests: str
    | os.PathLike[str]
    | pd.DataFrame
    | Mapping[str, str | os.PathLike[str] | pd.DataFrame],
    label_column: str | list[str] | tuple[str, ...] = "label",
    label_separator: str | None = None,
) -> LabelStats:
    """Counts the samples of each class, in one manifest or in several (such as splits).

    Args:
        manifests: A CSV path or DataFrame, or a dict of them by name (for
            instance the output of `split_manifest`, where an empty split
            counts no rows).
        label_column: The column of labels, or a list of 0/1 columns.
        label_separator: For multi-label data in one column, the string between
            labels (`"|"` in `"cat|dog"`). A row whose cell is empty has no
            label: it counts in `rows`, under no class.

    Returns:
        A `LabelStats`.

    Raises:
        ManifestError: a manifest has no rows, a column is missing, a label is
            empty (single-label), an `id` is empty or repeated (with the line of
            each row that holds it) or a 0/1 column holds anything else; every
            problem is listed, with its line, id (when there is an `id` column)
            and column.
        TypeError: a manifest is neither a path nor a DataFrame.
        FileNotFoundError: a CSV file does not exist.

    Example:

    >>> import pandas as pd
    >>> stats = label_stats(pd.DataFrame({"label": ["cat", "dog", "cat"]}))
    >>> stats.table["samples"].to_dict()
    {'cat': 2, 'dog': 1}
    >>> stats.imbalance_ratio
    2.0
    """
    named = manifests if isinstance(manifests, Mapping) else {"samples": manifests}
    multi_column = isinstance(label_column, list | tuple)
    encoder = LabelEncoder(
        classes=list(label_column) if multi_column else None,
        multi_label=multi_column or label_separator is not None,
        separator=label_separator,
    )
    # Read as the dataset reads it (`;` and tab-separated files too), once;
    # a multi-label row with an empty cell has no label.
    read_rows = {
        name: Rows(source, label_column=label_column, empty_labels=label_separator is not None)
        for name, source in named.items()
    }
    any_rows = any(len(m) for m in read_rows.values())
    read: dict[str, list[object] | npt.NDArray[np.int8]] = {}
    rows: dict[str, int] = {}
    for name, manifest in read_rows.items():
        if len(manifest) == 0 and any_rows:
            # An empty split (`test` of `split_manifest(..., test=0)`) counts no rows.
            read[name] = np.zeros((0, len(label_column)), np.int8) if multi_column else []
            rows[name] = 0
            continue
        manifest.check_ids()
        if manifest.problems:
            raise ManifestError(manifest.problems, source=manifest.source or name)
        labels = manifest.labels
        assert labels is not None  # read, with a label column and no problem
        read[name] = labels
        rows[name] = len(manifest)
    if multi_column:
        counts = {name: np.asarray(labels).sum(axis=0).tolist() for name, labels in read.items()}
    else:
        everything = [label for labels in read.values() for label in labels]
        encoder.fit(everything)
        counts = {}
        for name, labels in read.items():
            encoded = encoder.encode(labels)
            if encoder.multi_label:
                counts[name] = encoded.sum(axis=0).astype(int).tolist()
            else:
                counts[name] = (
                    pd.Series(encoded)
                    .value_counts()
                    .reindex(range(encoder.num_classes), fill_value=0)
                    .tolist()
                )
    table = pd.DataFrame(counts, index=pd.Index(encoder.classes, name="class"), dtype="int64")
    if len(named) > 1:
        table["total"] = table.sum(axis=1)
    return LabelStats(table=table, rows=rows, label_encoder=encoder)
