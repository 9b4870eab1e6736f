"""Loading one batch with several threads or processes.

Kept free of Keras and of any backend: worker processes import this module (and
`kdataset.loaders`), never the backend, so they are safe beside JAX.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import multiprocessing
import os
import threading

import numpy as np

from kdataset.errors import SampleError


class ChunkError(Exception):
    """A sample failed in a chunk: `position` within the batch, `error` a SampleError."""

    def __init__(self, position, error):
        super().__init__(position, error)
        self.position = position
        self.error = error


def load_rows(loader, paths, out):
    """Loads `paths` into `out[0]`, `out[1]`, ...; raises `ChunkError` on the first failure."""
    for j, path in enumerate(paths):
        try:
            loader.load_into(path, out[j, ...])  # a view, also for 0-d samples
        except SampleError as e:
            raise ChunkError(j, e) from None
        except Exception as e:
            raise ChunkError(j, SampleError(f"{type(e).__name__}: {e}", path=path)) from e


# -- worker processes ------------------------------------------------------

_WORKER = {}


def _init_worker(loader, shape, dtype):
    _WORKER.update(loader=loader, shape=shape, dtype=dtype)


def _load_chunk(paths):
    out = np.empty((len(paths), *_WORKER["shape"]), dtype=_WORKER["dtype"])
    try:
        load_rows(_WORKER["loader"], paths, out)
    except ChunkError as e:
        return None, e.position, e.error.reason
    return out, os.getpid(), None


def _start_method():
    # fork is unsafe beside JAX's and TensorFlow's threads; forkserver starts
    # children from a clean server process, spawn from scratch.
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else "spawn"


class ParallelLoader:
    """Loads the samples of a batch into one buffer, split across workers.

    Args:
        loader: A `kdataset.loaders.Loader`.
        shape: The shape of one sample.
        dtype: Its dtype.
        workers: How many threads or processes share a batch.
        use_multiprocessing: Processes instead of threads.
    """

    def __init__(self, loader, shape, dtype, workers=1, use_multiprocessing=False):
        self.loader = loader
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.workers = max(1, int(workers))
        self.use_multiprocessing = bool(use_multiprocessing)
        self._executor = None
        self._lock = threading.Lock()

    def _get_executor(self):
        with self._lock:
            if self._executor is None:
                if self.use_multiprocessing:
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
            return self._executor

    def load(self, paths):
        """An array of shape `(len(paths), *shape)`; raises `ChunkError` naming the position."""
        out = np.empty((len(paths), *self.shape), dtype=self.dtype)
        parallel = self.workers > 1 or self.use_multiprocessing
        if not parallel or len(paths) == 0:
            load_rows(self.loader, paths, out)
            return out
        bounds = np.linspace(0, len(paths), min(self.workers, len(paths)) + 1).astype(int)
        spans = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
        executor = self._get_executor()
        if self.use_multiprocessing:
            futures = [executor.submit(_load_chunk, list(paths[a:b])) for a, b in spans]
            for (a, b), future in zip(spans, futures):
                try:
                    chunk, position, reason = future.result()
                except concurrent.futures.process.BrokenProcessPool as e:
                    self.close()
                    raise ChunkError(
                        a,
                        SampleError(
                            "a loading process died while loading this sample or one of the "
                            f"{b - a - 1} after it in the batch ({e})",
                            path=paths[a],
                        ),
                    ) from None
                if chunk is None:
                    raise ChunkError(a + position, SampleError(reason, path=paths[a + position]))
                out[a:b] = chunk
        else:
            futures = [
                executor.submit(load_rows, self.loader, paths[a:b], out[a:b]) for a, b in spans
            ]
            for (a, _), future in zip(spans, futures):
                try:
                    future.result()
                except ChunkError as e:
                    raise ChunkError(a + e.position, e.error) from None
        return out

    def close(self):
        """Stops the worker threads or processes."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_executor"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __del__(self):
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
