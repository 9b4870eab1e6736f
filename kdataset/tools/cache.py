"""Building a dataset's packed cache ahead of training, on every core, resumable.

`build_cache` fills the cache that `ManifestDataset(..., cache=path)` opens with the
same manifest and loader, so training never reads a sample file (`kdataset cache`
runs it). A build stopped at any moment (Ctrl-C, SIGKILL, a lost machine) goes on
where it stopped when run again: a sample is written, written through to the disk,
and only then flagged filled, so no flag ever claims a sample that is not there. A
build for other files or another loader starts clean, as the dataset would.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np

from kdataset.core.batches import open_cache
from kdataset.core.reading import FilePart, read_manifest
from kdataset.core.spec import DatasetSpec
from kdataset.errors import ManifestError, Problem
from kdataset.io.cache import PackedCache
from kdataset.io.manifest import Manifest
from kdataset.loading.loaders import Loader, LoaderSpec
from kdataset.loading.parallel import load_rows, plan_workers

if TYPE_CHECKING:
    import pandas as pd

# Rows loaded per task: enough to keep a thread busy, few enough for a fine progress bar
# and little lost work when a build is killed.
_CHUNK_ROWS = 32
_CHUNK_BYTES = 1 << 20
# A chunk loaded: the rows written into the cache, and `(row, problem)` of those that failed.
_Chunk: TypeAlias = tuple[np.ndarray, list[tuple[int, Problem]]]


@dataclasses.dataclass(frozen=True)
class CacheReport:
    """What `build_cache` did.

    Attributes:
        path: The cache file, absolute (beside it: `.filled` and `.json`).
        samples: The samples of the manifest: the cache holds them all once complete.
        already: Samples that were in the cache when the build began: a build
            that resumed one stopped part-way (or found it complete).
        written: Samples it loaded and wrote.
        failed: The samples that did not load, as `kd.Problem`s (line, id, path,
            reason): they are not in the cache, and the dataset reads them (and
            fails or skips them, by its `on_error`) when it meets them.
        started_clean: Whether it began an empty cache: none was there, or the
            one there was of other files or another loader (or sample shape).
        shape: The shape of one sample.
        dtype: The dtype the cache stores samples in.
        nbytes: The size of the cache file.
        seconds: How long it took, reading the manifest included.
    """

    path: str
    samples: int
    already: int
    written: int
    failed: list[Problem]
    started_clean: bool
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether the cache holds every sample: a dataset opening it reads no sample file."""
        return self.already + self.written == self.samples

    @property
    def resumed(self) -> bool:
        """Whether the build went on from samples already in the cache."""
        return self.already > 0


def build_cache(
    manifest: str | os.PathLike[str] | pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    id_column: str | None = "id",
    path_column: str | None = None,
    path_template: str | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    storage_options: dict[str, Any] | None = None,
    loader: LoaderSpec = "auto",
    workers: int | Literal["auto"] = "auto",
    progress: bool = True,
) -> CacheReport:
    """Fills the packed cache of a manifest's samples ahead of training.

    The cache is the one `kd.ManifestDataset(manifest, cache=path, ...)` opens
    with the same manifest and the same file arguments (`path_template`,
    `root_dir`, the `loader` and its settings): a dataset that opens a complete
    cache reads no sample file in any epoch. The samples are loaded by threads
    on every core (the image and `.npy` loaders work outside the GIL), each
    stored in the loader's `storage_dtype` (`uint8` for pixels that were not
    interpolated) as the dataset stores it.

    Run again, it goes on where it stopped, even after the process was killed:
    the samples already in the cache (its `.filled` flags) are not loaded again.
    A cache of other files (paths, sizes, modification times), another loader
    or another sample shape is started clean. The cache's disk space is
    reserved first, so a disk too small for it fails at once.

    Args:
        manifest: Path to a CSV file (or URL), or a pandas DataFrame.
        path: The cache file, as given to `ManifestDataset(cache=...)`.
        id_column: As in `ManifestDataset`.
        path_column: As in `ManifestDataset`.
        path_template: As in `ManifestDataset`, e.g. `"images/{id}.jpg"`.
        root_dir: As in `ManifestDataset`.
        storage_options: As in `ManifestDataset`, for files in object storage.
        loader: As in `ManifestDataset`: `"auto"`, `"npy"`, `"image"`, a
            loader such as `kd.ImageLoader(image_size=(224, 224))`, or a function.
        workers: Loading threads; `"auto"` for one per core where the loader
            works outside the GIL (else one).
        progress: Show a progress bar (rows, rows/s, time left) on stderr.

    Returns:
        A `kd.CacheReport`: the samples already there, written, and failed.

    Raises:
        ManifestError: the manifest has problems (every one, located).
        SampleError: the first sample does not load (its shape sets the cache's).
        OSError: the cache cannot be made; for a full disk the message names
            the path, the bytes the cache needs and the bytes free.
        ValueError: an argument is invalid.

    Example:

    ```python
    loader = kd.ImageLoader(image_size=(224, 224))
    report = kd.build_cache("train.csv", "train.kdcache", path_template="images/{id}.jpg",
                            loader=loader)
    print(f"{report.already} were there, {report.written} written")
    train = kd.ManifestDataset("train.csv", batch_size=64, path_template="images/{id}.jpg",
                               loader=loader, cache="train.kdcache")  # reads no image
    ```
    """
    began = time.perf_counter()
    spec = DatasetSpec(
        id_column=id_column,
        label_column=None,  # labels do not change what is cached
        label_mode=None,
        path_column=path_column,
        path_template=path_template,
        root_dir=root_dir,
        storage_options=storage_options,
        loader=loader,
        cache=path,
        workers=workers,
    )
    read = read_manifest(spec, manifest)
    if read.problems:
        raise ManifestError(read.problems, source=read.manifest.source)
    if read.first_sample_error is not None:
        raise read.first_sample_error
    (part,) = read.file_parts  # the one input, read from files
    cache = open_cache(read.manifest, part, path)
    missing = cache.missing_rows()
    already = cache.count - len(missing)
    made = part.loader
    assert isinstance(made, Loader)  # made by reading a clean manifest
    threads, _ = plan_workers([made], spec.workers, use_multiprocessing=False)
    failed = _fill(read.manifest, part, cache, missing, threads, progress)
    return CacheReport(
        path=cache.path,
        samples=cache.count,
        already=already,
        written=len(missing) - len(failed),
        failed=failed,
        started_clean=cache.rebuilt,
        shape=cache.shape,
        dtype=cache.dtype.name,
        nbytes=cache.nbytes,
        seconds=time.perf_counter() - began,
    )


def _fill(
    manifest: Manifest,
    part: FilePart,
    cache: PackedCache,
    missing: np.ndarray,
    threads: int,
    progress: bool,
) -> list[Problem]:
    """Loads the `missing` rows in chunks on `threads` threads and stores each chunk in
    the cache; returns the problems of the samples that did not load.

    The threads write each chunk's samples into the cache; this thread, idle
    otherwise, writes them through to the disk and only then flags them
    (`PackedCache.commit`), so the threads never wait for the disk. Stopped
    (Ctrl-C), it lets the chunks under way finish, flushes, and raises.
    """
    shape, dtype, paths, loader = part.sample_shape, part.sample_dtype, part.paths, part.loader
    assert shape is not None and dtype is not None and paths is not None  # probed
    assert isinstance(loader, Loader)
    sample_bytes = max(1, math.prod(shape) * dtype.itemsize)
    size = max(1, min(_CHUNK_ROWS, _CHUNK_BYTES // sample_bytes))
    chunks = [missing[i : i + size] for i in range(0, len(missing), size)]
    local = threading.local()

    def load(rows: np.ndarray) -> _Chunk:
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = np.empty((size, *shape), dtype)
        out = buffer[: len(rows)]
        files = [paths[r] for r in rows.tolist()]
        failures = load_rows(loader, files, out, skip=True)
        ok = np.ones(len(rows), dtype=bool)
        ok[[j for j, _ in failures]] = False
        cache.write(rows[ok], out[ok])
        return rows[ok], [
            (
                int(rows[j]),
                Problem(
                    error.reason,
                    line=manifest.where(int(rows[j])),
                    id=manifest.id_of(int(rows[j])),
                    path=error.path or files[j],
                ),
            )
            for j, error in failures
        ]

    problems: list[tuple[int, Problem]] = []
    with contextlib.ExitStack() as stack:
        advance = stack.enter_context(_bar(cache.count, cache.count - len(missing), progress))
        pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="kdataset-cache")
        stack.callback(cache.flush)  # after the pool's chunks: samples, then flags
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        pending: dict[concurrent.futures.Future[_Chunk], int] = {}
        queue = list(reversed(chunks))
        while queue and len(pending) < 4 * threads:  # a few chunks per thread in flight
            rows = queue.pop()
            pending[pool.submit(load, rows)] = len(rows)
        while pending:
            done, _ = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                if queue:
                    rows = queue.pop()
                    pending[pool.submit(load, rows)] = len(rows)
                written, failed = future.result()
                cache.commit(written, sync=True)  # samples on the disk, then their flags
                problems += failed
                advance(pending.pop(future))
    return [problem for _, problem in sorted(problems, key=lambda found: found[0])]


@contextlib.contextmanager
def _bar(total: int, done: int, shown: bool) -> Iterator[Any]:
    """`advance(rows)` of a progress bar on stderr (rows, rows/s, time left), or of none."""
    if not shown:
        yield lambda rows: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} rows/s")

    bar = Progress(
        TextColumn("Caching"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task("cache", total=total, completed=done)
        yield lambda rows: bar.update(task, advance=rows)
