"""Loading one batch with several threads or processes.

Kept free of Keras and of any backend: worker processes import this module (and
`kdataset.loading.loaders`), never the backend, so they are safe beside JAX.

Threads write straight into the batch. Processes write into a batch buffer
shared with the parent (a memory-mapped file in `/dev/shm` where there is one),
so only paths and a few numbers cross the pipe, never the arrays.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import math
import multiprocessing
import os
import pickle
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Literal, TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from kdataset.errors import SampleError
from kdataset.loading.loaders import Failures, Loader, Shape, load_each

#: A shared batch buffer: its file's path, and the array mapped onto it.
SharedBuffer: TypeAlias = tuple[str, np.memmap]
#: A loader's `load_many_into(paths, out, skip)`, which some loaders have.
LoadMany: TypeAlias = Callable[[Sequence[str], np.ndarray, bool], Failures]
P = TypeVar("P")  # what a batch's plan is
T = TypeVar("T")  # what loading a batch gives

MAX_AUTO_WORKERS = 8


def usable_cores() -> int:
    """How many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def missing_files(paths: Sequence[str], chunk: int = 50_000) -> list[int]:
    """Positions of the paths that do not exist (`""` is left to the empty-path check).

    With kdataset's C reader the checks run outside the GIL, a chunk of paths
    per thread: a million files are checked in a fraction of the time
    `os.path.exists` takes one by one.
    """
    missing: Callable[[Sequence[str]], list[tuple[int, int]]] | None
    try:
        from kdataset.loading._fastread import missing
    except ImportError:
        missing = None
    if missing is not None:
        check = missing
        starts = range(0, len(paths), chunk)
        threads = max(1, min(len(starts), usable_cores()))
        try:
            with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                found = pool.map(lambda a: [a + i for i, _ in check(paths[a : a + chunk])], starts)
                return [i for part in found for i in part if paths[i]]
        except ValueError:  # a path with a NUL character: cannot exist
            pass
    exists = os.path.exists
    return [i for i, p in enumerate(paths) if p and not exists(p)]


def plan_workers(
    loaders: Sequence[Loader], workers: int | Literal["auto"], use_multiprocessing: bool
) -> tuple[int, bool]:
    """`(num_workers, use_processes)` for the loaders of a dataset and the `workers` argument.

    `workers="auto"` gives a worker per usable core where they load in parallel,
    else one: threads help a loader only when it works outside the GIL, while
    processes always load in parallel. Beyond 8 the files, not the workers, set
    the pace. Processes are used only for loaders that hold the GIL: the others
    load as fast in threads, without every batch crossing between processes.
    """
    releases_gil = all(loader.releases_gil for loader in loaders)
    use_processes = bool(use_multiprocessing) and not releases_gil
    if workers != "auto":
        return workers, use_processes
    if not loaders:  # numbers and labels only: nothing to load
        return 1, False
    if use_multiprocessing or releases_gil:
        return max(1, min(usable_cores(), MAX_AUTO_WORKERS)), use_processes
    return 1, use_processes


def check_picklable(loaders: Iterable[Loader]) -> None:
    """Raises a `ValueError` naming the first of `loaders` that does not pickle (worker
    processes need each to)."""
    for loader in loaders:
        try:
            pickle.dumps(loader)
        except Exception as e:
            raise ValueError(
                "`use_multiprocessing=True` needs loaders that pickle (functions defined "
                f"at module level, not lambdas or closures). {loader!r} does not: {e}"
            ) from None


class WorkerDied(Exception):
    """A worker process died: `position` in the batch where its share began, `error` a SampleError."""

    def __init__(self, position: int, error: SampleError) -> None:
        super().__init__(position, error)
        self.position, self.error = position, error


def load_rows(
    loader: Loader, paths: Sequence[str], out: np.ndarray, skip: bool = False
) -> Failures:
    """Loads `paths` into `out[0]`, `out[1]`, ...

    Returns:
        The failures, as `[(position, SampleError)]`: the first one only,
        unless `skip`, when loading goes on past failed samples.
    """
    fast = cast("LoadMany | None", getattr(loader, "load_many_into", None))
    if fast is not None:
        return fast(paths, out, skip)
    return load_each(loader, paths, out, skip)


# -- worker processes ------------------------------------------------------

_WORKER: dict[str, Any] = {"buffers": {}}  # a worker process's loader and mapped buffers


def _init_worker(loader: Loader, shape: Shape, dtype: np.dtype) -> None:
    _WORKER.update(loader=loader, shape=shape, dtype=dtype)


def _buffer(path: str, rows: int) -> np.ndarray:
    buffers = _WORKER["buffers"]
    array = buffers.get(path)
    if array is None or len(array) != rows:
        if len(buffers) > 8:
            buffers.clear()
        array = buffers[path] = np.memmap(
            path, dtype=np.dtype(_WORKER["dtype"]), mode="r+", shape=(rows, *_WORKER["shape"])
        )
    return array  # type: ignore[no-any-return]


def _load_chunk(
    buffer_path: str, rows: int, start: int, paths: Sequence[str], skip: bool
) -> list[tuple[int, str]]:
    """Loads `paths` into rows `start...` of the shared buffer; returns `[(position, reason)]`."""
    out = _buffer(buffer_path, rows)[start : start + len(paths)]
    return [(j, e.reason) for j, e in load_rows(_WORKER["loader"], paths, out, skip)]


def _start_method() -> str:
    # fork is unsafe beside JAX's and TensorFlow's threads; forkserver starts
    # children from a clean server process, spawn from scratch.
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


def _remove(paths: set[str] | list[str]) -> None:
    for path in list(paths):
        try:
            os.unlink(path)
        except OSError:
            pass
    paths.clear()


class _SharedBuffers:
    """Batch buffers in memory-mapped files that worker processes write into."""

    def __init__(self, shape: Shape, dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype
        self.folder = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        self._free: list[SharedBuffer] = []
        self._lock = threading.Lock()
        self._closed = False
        self.paths: set[str] = set()
        # Files are removed when the loader closes, is collected, or the process exits.
        self._finalizer = weakref.finalize(self, _remove, self.paths)

    def acquire(self, rows: int) -> SharedBuffer:
        with self._lock:
            for i, (_, array) in enumerate(self._free):
                if len(array) == rows:
                    return self._free.pop(i)
        fd, path = tempfile.mkstemp(prefix="kdataset-batch-", suffix=".buf", dir=self.folder)
        os.close(fd)
        self.paths.add(path)
        return path, np.memmap(path, dtype=self.dtype, mode="w+", shape=(rows, *self.shape))

    def release(self, buffer: SharedBuffer) -> None:
        # A load that outlived `close` (closing does not wait for the prefetching
        # threads) gives back a buffer that no finalizer will remove: removed here.
        with self._lock:
            if not self._closed and len(self._free) < 4:
                self._free.append(buffer)
                return
        path, _ = buffer
        self.paths.discard(path)
        _remove([path])

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._free.clear()
        self._finalizer()


class BatchBuffers:
    """Batch arrays used again once nothing but this pool refers to them.

    A fresh array of tens of MB (64 images of 224x224x3 in float32 is 38 MB)
    comes from the kernel as zeroed pages, which costs about as much as
    resizing the images into it. A batch handed out is used again only when
    its reference count says that no one else (Keras, a backend tensor that
    shares its memory, a view, your code) holds it any more, so a batch you
    keep is never written over.

    Args:
        shape: The shape of one sample.
        dtype: Its dtype.
        keep: How many arrays the pool holds at most.
    """

    # Below this many bytes the allocator reuses freed memory by itself.
    MIN_BYTES = 4 << 20

    def __init__(self, shape: Shape, dtype: npt.DTypeLike, keep: int = 16) -> None:
        self.shape, self.dtype, self.keep = tuple(shape), np.dtype(dtype), keep
        self._size = math.prod(self.shape)
        self._pool: list[np.ndarray] = []
        self._lock = threading.Lock()

    def get(self, rows: int) -> np.ndarray:
        """An array of `rows` samples, uninitialised."""
        shape = (rows, *self.shape)
        if rows * self.dtype.itemsize * self._size < self.MIN_BYTES:
            return np.empty(shape, self.dtype)
        with self._lock:
            for array in self._pool:
                if array.shape == shape and sys.getrefcount(array) == _UNSHARED:
                    return array
            array = np.empty(shape, self.dtype)
            if len(self._pool) < self.keep:
                self._pool.append(array)
            return array


def _unshared_count() -> int:
    """What `sys.getrefcount` says, in `BatchBuffers.get`'s loop, of an array only its pool
    holds (3 on CPython 3.10 to 3.13: the list, the loop, the call's argument)."""
    pool = [np.empty(0)]
    for array in pool:
        return sys.getrefcount(array)
    raise AssertionError("unreachable")


_UNSHARED = _unshared_count()


class ParallelLoader:
    """Loads the samples of a batch into one buffer, split across workers.

    Args:
        loader: A `kdataset.loading.loaders.Loader`.
        shape: The shape of one sample.
        dtype: Its dtype.
        workers: How many threads or processes share a batch.
        use_multiprocessing: Processes instead of threads.
    """

    def __init__(
        self,
        loader: Loader,
        shape: Shape,
        dtype: npt.DTypeLike,
        workers: int = 1,
        use_multiprocessing: bool = False,
    ) -> None:
        self.loader = loader
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.workers = max(1, int(workers))
        self.use_multiprocessing = bool(use_multiprocessing)
        self._executor: concurrent.futures.Executor | None = None
        self._buffers: _SharedBuffers | None = None
        self._batches = BatchBuffers(self.shape, self.dtype)
        self._lock = threading.Lock()

    def _get_executor(self) -> tuple[concurrent.futures.Executor, _SharedBuffers | None]:
        with self._lock:
            if self._executor is None:
                if self.use_multiprocessing:
                    self._buffers = _SharedBuffers(self.shape, self.dtype)
                    self._executor = concurrent.futures.ProcessPoolExecutor(
                        max_workers=self.workers,
                        mp_context=multiprocessing.get_context(_start_method()),
                        initializer=_init_worker,
                        initargs=(self.loader, self.shape, self.dtype),
                    )
                else:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        max_workers=self.workers, thread_name_prefix="kdataset-loader"
                    )
            return self._executor, self._buffers

    def batch_buffer(self, rows: int) -> np.ndarray:
        """An array for a batch of `rows` samples (see `BatchBuffers`)."""
        return self._batches.get(rows)

    def load(
        self, paths: Sequence[str], skip: bool = False, split: bool = True
    ) -> tuple[np.ndarray, Failures]:
        """Loads a batch.

        Args:
            paths: The files of the batch.
            skip: Go on past samples that fail (their rows are left as they are).
            split: Share the batch among the workers. A caller that loads several
                batches at once (a prefetcher) passes `False`: with threads the
                batch is loaded in the calling thread, with processes by one process.

        Returns:
            `(array of shape (len(paths), *shape), [(position, SampleError)])`.
        """
        pieces = min(self.workers, len(paths)) if split else 1
        if not self.use_multiprocessing and pieces < 2:
            out = self._batches.get(len(paths))
            return out, load_rows(self.loader, paths, out, skip)
        bounds = np.linspace(0, len(paths), max(pieces, 1) + 1).astype(int)
        spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]
        executor, buffers = self._get_executor()
        if buffers is not None:  # worker processes
            return self._load_in_processes(executor, buffers, paths, spans, skip)
        out = self._batches.get(len(paths))
        futures = [
            executor.submit(load_rows, self.loader, paths[a:b], out[a:b], skip) for a, b in spans
        ]
        failures = [(a + j, error) for (a, _), f in zip(spans, futures) for j, error in f.result()]
        return out, failures if skip else failures[:1]

    def _load_in_processes(
        self,
        executor: concurrent.futures.Executor,
        buffers: _SharedBuffers,
        paths: Sequence[str],
        spans: Sequence[tuple[int, int]],
        skip: bool,
    ) -> tuple[np.ndarray, Failures]:
        buffer = buffers.acquire(len(paths))
        try:
            futures = []
            for a, b in spans:
                # Closed by another thread (the dataset stopping on an error) while this
                # batch loads ahead: RuntimeError, and the batch is abandoned. Starting a
                # new pool here would leave its processes behind after `close`.
                futures.append(
                    executor.submit(_load_chunk, buffer[0], len(paths), a, list(paths[a:b]), skip)
                )
            failures, died = [], None
            for (a, b), future in zip(spans, futures):
                try:
                    failures += [
                        (a + j, SampleError(reason, path=paths[a + j]))
                        for j, reason in future.result()
                    ]
                except concurrent.futures.process.BrokenProcessPool as e:
                    reason = (
                        "a loading process died while loading this sample or one of the "
                        f"{b - a - 1} after it in the batch ({e})"
                    )
                    died = died or WorkerDied(a, SampleError(reason, path=paths[a]))
            out = np.array(buffer[1])  # a private copy: the buffer is reused
        finally:
            buffers.release(buffer)
        if died:
            self.close()  # a broken pool cannot be reused; the next batch starts a new one
            raise died
        return out, failures if skip else failures[:1]

    def close(self) -> None:
        """Stops the worker threads or processes and removes shared buffers.

        Loads not started are cancelled. Worker processes are waited for, since
        the shared buffers they write into are removed next. Worker threads are
        not: each writes into the batch of the `load` call that started it, and
        one still running may be stuck on a storage server that froze, until its
        loader's deadline (see `Prefetcher.close`); it ends by itself.
        """
        with self._lock:
            executor, self._executor = self._executor, None
            buffers, self._buffers = self._buffers, None
        if executor is not None:
            processes = isinstance(executor, concurrent.futures.ProcessPoolExecutor)
            executor.shutdown(wait=processes, cancel_futures=True)
        if buffers is not None:
            buffers.close()

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.update(_executor=None, _buffers=None, _lock=None, _batches=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._batches = BatchBuffers(self.shape, self.dtype)

    def __del__(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


class Prefetcher(Generic[P, T]):
    """Loads the batches that come next while the current one is in use.

    Args:
        plan: `(epoch, index) -> plan`: what to load for a batch (the stream's plan).
        load: `plan -> loaded`, run in the prefetcher's threads (the batch
            source's load). A load that fails raises, and `take` raises it again
            in the thread that takes the batch.
        threads: How many batches load at once.
    """

    def __init__(
        self,
        plan: Callable[[int, int], P],
        load: Callable[[P], T],
        threads: int,
    ) -> None:
        self._plan = plan
        self._load = load
        self._threads = max(1, int(threads))
        self._futures: dict[tuple[int, int], concurrent.futures.Future[T]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def take(self, key: tuple[int, int], upcoming: Iterable[tuple[int, int]] = ()) -> T | None:
        """What `load` gave for batch `key` if it was loaded ahead, else `None` (load it
        then); then schedules the batches of the keys `upcoming`."""
        with self._lock:
            future = self._futures.pop(key, None)
        self.schedule(upcoming)
        if future is None:
            return None
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            return None  # the loaders were closed meanwhile: load it now

    def schedule(self, keys: Iterable[tuple[int, int]]) -> None:
        """Starts loading the batches of `keys` not already loading."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._threads, thread_name_prefix="kdataset-prefetch"
                )
            for key in keys:
                if key not in self._futures:
                    self._futures[key] = self._executor.submit(self._load_key, key)

    def _load_key(self, key: tuple[int, int]) -> T:
        return self._load(self._plan(*key))

    def reset(self) -> None:
        """Forgets what was loaded ahead (the order changed)."""
        with self._lock:
            futures, self._futures = self._futures, {}
        for future in futures.values():
            future.cancel()

    def close(self, wait: bool = False) -> None:
        """Forgets what was loaded ahead and stops the threads; with `wait=False`, without
        waiting for the loads still running.

        A dataset closes when a sample fails to load, and training stops there.
        By then the threads have gone on to the batches scheduled next; if the
        storage server froze, those loads wait on it until their loader's
        deadline (`RemoteLoader`'s `timeout`) counted from when they began, after
        the failed one: waiting for them would double the time to the error.
        Their batches are no one's any more (each load writes into arrays of its
        own), so they are left to end by themselves, within that deadline. The
        interpreter joins the threads of a `ThreadPoolExecutor` at exit, so a
        stuck load holds up exit no longer than its own deadline.

        With worker processes behind the loads, pass `wait=True`: a load still
        running would start a new process pool after its loader closed, and
        leave its processes behind.
        """
        self.reset()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=True)

    def __getstate__(self) -> dict[str, object]:
        return {"_plan": self._plan, "_load": self._load, "_threads": self._threads}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Prefetcher.__init__(self, state["_plan"], state["_load"], state["_threads"])
