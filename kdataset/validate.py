"""Checking a manifest: every problem, each with its line, id, column and path."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import math
import threading

import numpy as np

from kdataset._parallel import load_rows, usable_cores
from kdataset.errors import Problem, SampleError, listing, one_of
from kdataset.labels import LabelEncoder, _is_missing, _native, encode_targets, sample_weights
from kdataset.loaders import get_loader
from kdataset.manifest import Manifest, release_memory

LABEL_MODES = ("int", "categorical", "binary", "multi_hot")


def check_label_arguments(label_column, label_mode, label_separator):
    """The `(label_column, label_mode)` to use; raises `ValueError` for bad combinations."""
    if label_mode is not None and label_mode not in LABEL_MODES:
        raise ValueError(
            f"Invalid `label_mode`: expected one of {one_of(LABEL_MODES)} or None. "
            f"Received: label_mode={label_mode!r}"
        )
    if label_column is None or label_mode is None:
        return None, None
    if isinstance(label_column, list | tuple) and label_mode != "multi_hot":
        raise ValueError(
            "A list of `label_column`s holds 0/1 columns, one per class: use "
            f"`label_mode='multi_hot'`. Received: label_mode={label_mode!r}"
        )
    if label_separator is not None and label_mode != "multi_hot":
        raise ValueError(
            "`label_separator` splits one column into several labels: use "
            f"`label_mode='multi_hot'`. Received: label_mode={label_mode!r}"
        )
    return label_column, label_mode


@dataclasses.dataclass
class CheckedManifest:
    """A manifest read and checked with the arguments of a `ManifestDataset`.

    Attributes:
        manifest: The `Manifest`.
        problems: Every problem found in the manifest and its labels.
        label_encoder: The fitted `LabelEncoder`, or `None`.
        indices: Class index per row (single-label), or `None`.
        targets: The `y` of every row, or `None`.
        weights: The sample weight of every row, or `None`.
        loader: The loader, once the manifest is clean.
        sample_shape: Shape of the first sample, once it loaded.
        sample_dtype: Its dtype.
        first_sample_error: A `SampleError` if the first sample would not load.
    """

    manifest: Manifest
    problems: list
    label_encoder: LabelEncoder | None = None
    indices: np.ndarray | None = None
    targets: np.ndarray | None = None
    weights: np.ndarray | None = None
    loader: object = None
    sample_shape: tuple | None = None
    sample_dtype: np.dtype | None = None
    first_sample_error: SampleError | None = None


def check_manifest(
    source,
    *,
    id_column="id",
    label_column="label",
    path_column=None,
    path_template=None,
    root_dir=None,
    loader="auto",
    label_mode="categorical",
    label_separator=None,
    classes=None,
    sample_weight=None,
    check_files=True,
):
    """Reads a manifest, checks it and encodes its labels, collecting every problem.

    The work behind `ManifestDataset`'s constructor and `validate_manifest`.
    Arguments are those of `ManifestDataset`. Bad arguments raise `ValueError`;
    problems in the data are collected, never raised.

    Returns:
        A `CheckedManifest`.
    """
    label_column, label_mode = check_label_arguments(label_column, label_mode, label_separator)
    manifest = Manifest(
        source,
        id_column=id_column,
        label_column=label_column,
        path_column=path_column,
        path_template=path_template,
        root_dir=root_dir,
        check_files=check_files,
    )
    checked = CheckedManifest(manifest=manifest, problems=list(manifest.problems))
    if manifest.ids is None:
        return checked  # columns are missing: rows cannot be read
    if label_column is not None and manifest.labels is not None:
        checked.problems += _encode_labels(
            checked, label_column, label_mode, classes, label_separator
        )
    if sample_weight is not None:
        checked.problems += _weigh(checked, sample_weight, label_mode)
    if manifest.paths is None or checked.problems:
        return checked
    checked.loader = get_loader(loader, manifest.paths)
    if len(manifest) > 100_000:
        release_memory()
    try:
        shape, dtype = checked.loader.probe(manifest.paths[0])
        checked.sample_shape, checked.sample_dtype = tuple(shape), np.dtype(dtype)
    except Exception as e:
        error = e if isinstance(e, SampleError) else SampleError(f"{type(e).__name__}: {e}")
        checked.first_sample_error = SampleError(
            error.reason, path=manifest.paths[0], line=manifest.where(0), id=manifest.id_of(0)
        )
    return checked


def _row_problem(manifest, row, message, column=None):
    return Problem(message, line=manifest.where(row), id=manifest.id_of(row), column=column)


def _encode_labels(checked, label_column, mode, classes, separator):
    manifest = checked.manifest
    labels = manifest.labels
    if isinstance(label_column, list | tuple):
        columns = [str(c) for c in label_column]
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
        checked.label_encoder = encoder or LabelEncoder(classes=names, multi_label=True)
        checked.targets = np.ascontiguousarray(labels[:, order], dtype=np.float32)
        return []

    given = classes.classes if isinstance(classes, LabelEncoder) else classes
    if manifest.source is not None and given and all(isinstance(c, str) for c in given):
        labels = manifest.label_text()  # classes given as text: match the CSV's text
    if isinstance(classes, LabelEncoder):
        encoder = classes
        if encoder.multi_label != (mode == "multi_hot"):
            kind = "multi" if encoder.multi_label else "single"
            raise ValueError(
                f"The `classes` encoder is {kind}-label but `label_mode={mode!r}` is not."
            )
    else:
        encoder = LabelEncoder(
            classes=classes, multi_label=mode == "multi_hot", separator=separator
        )
    problems = []
    if not encoder.multi_label:
        if encoder._classes is not None:
            # Distinct labels first: a manifest may have millions of rows and ten classes.
            unknown = {
                v
                for v in dict.fromkeys(labels)
                if not _is_missing(v) and _native(v) not in encoder._index
            }
            problems = [
                _row_problem(
                    manifest,
                    i,
                    f"unknown label {listing([_native(label)])}; `classes` are "
                    f"{listing(encoder.classes)}",
                    label_column,
                )
                for i, label in enumerate(labels)
                if label in unknown
            ]
        labels_checked = True
    else:
        labels_checked = False
    missing_rows = set() if labels_checked else {i for i, v in enumerate(labels) if _is_missing(v)}
    for i, label in enumerate([] if labels_checked else labels):
        if i in missing_rows:
            continue  # reported by the manifest as an empty label
        names = encoder.split(label)
        if not names:
            problems.append(_row_problem(manifest, i, "empty label", label_column))
        elif encoder._classes is not None:
            unknown = [n for n in names if n not in encoder._index]
            if unknown:
                problems.append(
                    _row_problem(
                        manifest,
                        i,
                        f"unknown label {listing(unknown)}; `classes` are {listing(encoder.classes)}",
                        label_column,
                    )
                )
    if problems or manifest.problems:
        return problems
    if encoder._classes is None:
        encoder.fit(labels)
    if mode == "binary" and encoder.num_classes != 2:
        return [
            Problem(
                f"`label_mode='binary'` needs exactly 2 classes; found {encoder.num_classes}: "
                f"{listing(encoder.classes)}",
                column=label_column,
            )
        ]
    checked.label_encoder = encoder
    checked.indices, checked.targets = encode_targets(encoder, labels, mode)
    return []


def _weigh(checked, sample_weight, mode):
    manifest = checked.manifest
    if sample_weight == "balanced":
        if mode is None:
            raise ValueError("`sample_weight='balanced'` needs labels: `label_mode` is None.")
        if checked.targets is None:
            return []  # the labels have problems, already reported
        by = checked.indices if checked.indices is not None else checked.targets
        checked.weights = sample_weights(by, classes=checked.label_encoder)
        return []
    if not isinstance(sample_weight, str):
        raise ValueError(
            "Invalid `sample_weight`: expected None, 'balanced' or the name of a column of "
            f"weights. Received: sample_weight={sample_weight!r}"
        )
    if sample_weight not in manifest.frame.columns:
        return [
            Problem(
                f"no column {sample_weight!r} (`sample_weight`). Columns: "
                f"{listing([str(c) for c in manifest.frame.columns])}",
                column=sample_weight,
            )
        ]
    problems, weights = [], np.ones(len(manifest), dtype=np.float32)
    for i, value in enumerate(manifest.frame[sample_weight].tolist()):
        try:
            weight = float(value)
        except (TypeError, ValueError):
            weight = float("nan")
        if not np.isfinite(weight) or weight < 0:
            what = (
                "empty weight" if _is_missing(value) else f"expected a weight >= 0, got {value!r}"
            )
            problems.append(_row_problem(manifest, i, what, sample_weight))
        else:
            weights[i] = weight
    checked.weights = weights
    return problems


def validate_manifest(manifest, *, deep=False, progress=False, **dataset_kwargs):
    """Every problem of a manifest, as `ManifestDataset` would find them.

    Checks what the dataset constructor checks (columns, ids, labels, that
    every file exists and that the first sample loads) and returns the
    problems instead of raising. With `deep=True` it also loads every sample
    and checks that each has the shape and dtype of the first.

    Args:
        manifest: Path to a CSV file, or a pandas DataFrame.
        deep: Load every sample, not just the first.
        progress: Show a progress bar while loading (with `deep=True`).
        **dataset_kwargs: The arguments you give `ManifestDataset`
            (`path_template`, `label_column`, `classes`, ...). Arguments about
            batching and order are accepted and ignored.

    Returns:
        A list of `kd.Problem` (`line`, `id`, `column`, `path`, `message`);
        empty when the manifest is clean.

    Raises:
        ValueError: an argument is invalid.

    Example:

    ```python
    problems = kd.validate_manifest("train.csv", path_template="data/{id}.npy")
    for problem in problems:
        print(problem)
    ```
    """
    for name in (
        "batch_size",
        "shuffle",
        "seed",
        "drop_remainder",
        "workers",
        "use_multiprocessing",
        "max_queue_size",
    ):
        dataset_kwargs.pop(name, None)
    checked = check_manifest(manifest, **dataset_kwargs)
    problems = list(checked.problems)
    error = checked.first_sample_error
    if error is not None:
        problems.append(Problem(error.reason, line=error.line, id=error.id, path=error.path))
    elif deep and checked.loader is not None and not problems:
        problems += _load_all(checked, progress)
    return problems


def _load_all(checked, progress, block=1024, scratch_bytes=4 << 20):
    """Problems found by loading every sample, in chunks that threads load into scratch buffers.

    Each chunk goes through the loader's batch path (for `.npy` files the C
    reader, outside the GIL), going on past samples that fail.
    """
    manifest = checked.manifest
    sample_bytes = max(1, math.prod(checked.sample_shape) * checked.sample_dtype.itemsize)
    chunk = max(1, min(256, scratch_bytes // sample_bytes))
    local = threading.local()

    def load(start):
        rows = range(start, min(start + chunk, len(manifest)))
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            shape = (chunk, *checked.sample_shape)
            buffer = local.buffer = np.empty(shape, checked.sample_dtype)
        paths = [manifest.paths[i] for i in rows]
        failures = load_rows(checked.loader, paths, buffer[: len(paths)], skip=True)
        return [
            Problem(
                e.reason, line=manifest.where(rows[j]), id=manifest.id_of(rows[j]), path=paths[j]
            )
            for j, e in failures
        ]

    problems = []
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(concurrent.futures.ThreadPoolExecutor(usable_cores()))
        bar = task = None
        if progress:
            from rich.progress import Progress

            bar = stack.enter_context(Progress(transient=True))
            task = bar.add_task("Loading samples", total=len(manifest))
        for start in range(0, len(manifest), block):
            end = min(start + block, len(manifest))
            for found in pool.map(load, range(start, end, chunk)):
                problems += found
            if bar is not None:
                bar.update(task, advance=end - start)
    return problems
