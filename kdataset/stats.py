"""Label statistics: samples per class, per manifest or split, and the imbalance."""

from __future__ import annotations

import dataclasses

import pandas as pd

from kdataset.errors import ManifestError
from kdataset.labels import LabelEncoder
from kdataset.manifest import Manifest


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
    rows: dict
    label_encoder: LabelEncoder

    @property
    def totals(self):
        """Samples per class over all the manifests, as a Series."""
        return self.table["total"] if "total" in self.table else self.table.iloc[:, 0]

    @property
    def imbalance_ratio(self):
        """Samples of the largest class divided by those of the smallest."""
        totals = self.totals
        return (
            float(totals.max() / totals.min()) if len(totals) and totals.min() > 0 else float("inf")
        )

    def summary(self):
        """One line: rows, classes, imbalance ratio with the largest and smallest class."""
        totals = self.totals
        rows = ", ".join(f"{name} {count:,}" for name, count in self.rows.items())
        return (
            f"{sum(self.rows.values()):,} rows ({rows}), {len(totals)} classes; imbalance ratio "
            f"{self.imbalance_ratio:.2f} (largest {totals.idxmax()!r}: {int(totals.max()):,}, "
            f"smallest {totals.idxmin()!r}: {int(totals.min()):,})"
        )

    def __str__(self):
        return f"{self.table.to_string()}\n{self.summary()}"


def _columns(source):
    """The column names of a DataFrame, or of a CSV file from its header alone."""
    if isinstance(source, pd.DataFrame):
        return list(source.columns)
    try:
        return list(pd.read_csv(source, nrows=0).columns)
    except (OSError, ValueError, pd.errors.ParserError):
        return []  # reading the manifest itself reports what is wrong


def label_stats(manifests, label_column="label", label_separator=None):
    """Counts the samples of each class, in one manifest or in several (such as splits).

    Args:
        manifests: A CSV path or DataFrame, or a dict of them by name (for
            instance the output of `split_manifest`).
        label_column: The column of labels, or a list of 0/1 columns.
        label_separator: For multi-label data in one column, the string between
            labels (`"|"` in `"cat|dog"`).

    Returns:
        A `LabelStats`.

    Raises:
        ManifestError: a column is missing or a label is empty (named with its line).

    Example:

    >>> import pandas as pd
    >>> stats = label_stats(pd.DataFrame({"label": ["cat", "dog", "cat"]}))
    >>> stats.table["samples"].to_dict()
    {'cat': 2, 'dog': 1}
    >>> stats.imbalance_ratio
    2.0
    """
    named = manifests if isinstance(manifests, dict) else {"samples": manifests}
    multi_column = isinstance(label_column, list | tuple)
    encoder = LabelEncoder(
        classes=list(label_column) if multi_column else None,
        multi_label=multi_column or label_separator is not None,
        separator=label_separator,
    )
    read = {}
    for name, source in named.items():
        id_column = "id" if "id" in _columns(source) else None  # only to name rows in errors
        manifest = Manifest(
            source, id_column=id_column, label_column=label_column, require_paths=False
        )
        if manifest.problems:
            raise ManifestError(manifest.problems, source=manifest.source or name)
        read[name] = manifest
    if multi_column:
        counts = {name: m.labels.sum(axis=0).tolist() for name, m in read.items()}
    else:
        everything = [label for m in read.values() for label in m.labels]
        encoder.fit(everything)
        counts = {}
        for name, m in read.items():
            encoded = encoder.encode(m.labels)
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
    return LabelStats(table=table, rows={n: len(m) for n, m in read.items()}, label_encoder=encoder)
