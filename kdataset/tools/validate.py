"""Checking a manifest: every problem, each with its line, id, column and path."""

from __future__ import annotations

import concurrent.futures
import math
import os
import re
import threading

import numpy as np
import pandas as pd

from kdataset.core.reading import FilePart, probe, read_manifest
from kdataset.core.spec import DatasetSpec
from kdataset.errors import Problem, SampleError
from kdataset.io.manifest import Manifest
from kdataset.loading.loaders import Loader
from kdataset.loading.parallel import load_rows, usable_cores
from kdataset.tools.progress import progress_bar

# What differs between problems of one kind: shapes, quoted names and paths, numbers.
_SHAPE = re.compile(r"\(\s*\d[\d\s,]*\)")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"(?<![\w`-])\d[\d,.]*(?<![,.])(?:x\d+)*")


def validate_manifest(
    manifest: str | os.PathLike[str] | pd.DataFrame,
    *,
    deep: bool = False,
    progress: bool = False,
    **dataset_kwargs: object,
) -> list[Problem]:
    """Every problem of a manifest, as `ManifestDataset` would find them.

    Checks what the dataset constructor checks (columns, ids, labels, that
    every file exists and that the first sample loads) and returns the
    problems instead of raising. With `deep=True` it also loads every sample
    and checks that each has the shape and dtype of the first that loads.

    Args:
        manifest: Path to a CSV file, or a pandas DataFrame.
        deep: Load every sample, not just the first.
        progress: Show a progress bar while loading (with `deep=True`).
        **dataset_kwargs: Any argument of `ManifestDataset` (`path_template`,
            `label_column`, `classes`, `pad_remainder`, `cache`, ...), checked
            as the dataset checks them. Those about batching, order and
            loading threads do not change what is found.

    Returns:
        A list of `kd.Problem` (`line`, `id`, `column`, `path`, `message`);
        empty when the manifest is clean.

    Raises:
        ValueError: an argument is invalid.
        TypeError: an argument is not one of `ManifestDataset`'s.

    Example:

    ```python
    problems = kd.validate_manifest("train.csv", path_template="data/{id}.npy")
    for problem in problems:
        print(problem)
    ```
    """
    read = read_manifest(DatasetSpec.from_kwargs(**dataset_kwargs), manifest)
    problems = list(read.problems)
    if not read.file_parts or problems:
        return problems
    if read.first_sample_error is not None:
        problems.append(_problem(read.first_sample_error))
    if not deep:
        return problems
    # Deep: every sample of every input and output read from files that does not
    # load is reported, the first ones too; for each, the first sample that loads
    # sets the shape.
    for part in read.file_parts:
        first = 0
        while part.sample_shape is None and first < len(read.manifest):
            error = probe(read.manifest, part, first)
            if error is not None:
                problems.append(_problem(error))
            first += 1
        if part.sample_shape is not None:
            problems += _load_all(read.manifest, part, first, progress)
    return list(dict.fromkeys(problems))  # the first sample's error, found twice once


def problem_kind(message: str) -> str:
    """The kind of a problem: its message without the numbers and quoted names that differ from
    one file to the next (`"has shape (480, 640, 3)"` -> `"has shape (...)"`)."""
    message = _SHAPE.sub("(...)", message)
    message = _QUOTED.sub(lambda m: m.group(0)[0] + "..." + m.group(0)[0], message)
    return _NUMBER.sub(lambda m: "x".join(["N"] * (m.group(0).count("x") + 1)), message)


def _problem(error: SampleError) -> Problem:
    return Problem(error.reason, line=error.line, id=error.id, path=error.path)


def _load_all(
    manifest: Manifest,
    part: FilePart,
    first: int,
    progress: bool,
    block: int = 1024,
    scratch_bytes: int = 4 << 20,
) -> list[Problem]:
    """Problems found by loading the samples from `first` on, in chunks that threads
    load into scratch buffers.

    Each chunk goes through the loader's batch path (for `.npy` files the C
    reader, outside the GIL), going on past samples that fail.
    """
    shape, dtype, files, loader = part.sample_shape, part.sample_dtype, part.paths, part.loader
    # A part of a clean manifest whose first sample loaded has them all, and its `Loader`.
    assert shape is not None and dtype is not None and files is not None
    assert isinstance(loader, Loader)
    sample_bytes = max(1, math.prod(shape) * dtype.itemsize)
    chunk = max(1, min(256, scratch_bytes // sample_bytes))
    local = threading.local()

    def load(start: int) -> list[Problem]:
        rows = range(start, min(start + chunk, len(manifest)))
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = np.empty((chunk, *shape), dtype)
        paths = [files[i] for i in rows]
        failures = load_rows(loader, paths, buffer[: len(paths)], skip=True)
        return [
            Problem(
                e.reason,
                line=manifest.where(rows[j]),
                id=manifest.id_of(rows[j]),
                path=e.path or paths[j],
            )
            for j, e in failures
        ]

    problems: list[Problem] = []
    with (
        concurrent.futures.ThreadPoolExecutor(usable_cores()) as pool,
        progress_bar(progress, "Loading samples", len(manifest) - first) as advance,
    ):
        for start in range(first, len(manifest), block):
            end = min(start + block, len(manifest))
            for found in pool.map(load, range(start, end, chunk)):
                problems += found
            advance(end - start)
    return problems
