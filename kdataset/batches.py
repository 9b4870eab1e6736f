"""The batch source: manifest rows in, the batch `(x, y, weight)` out.

A pure function of the rows it is given: it loads them (through the loader and
the packed cache, with threads or processes), leaves out or pads the samples
that fail, reshapes `x`, and adds the targets and weights. It holds no epoch,
no position and no lock: which rows come next is the stream's business, and
every way a dataset serves a batch (indexing, `fit`, `rest_of_epoch`) goes
through the same steps.
"""

from __future__ import annotations

import threading

import numpy as np

from kdataset._parallel import ParallelLoader, WorkerDied
from kdataset.cache import PackedCache, source_fingerprint
from kdataset.errors import SampleError


class BatchSource:
    """Turns manifest rows into a batch.

    `load(rows)` does the file work and may run in any thread (it imports no
    backend); `assemble(rows, loaded, y)` finishes the batch in the thread that
    serves it, with the targets `targets_for` encoded there with `keras.ops`.

    Args:
        manifest: The `kdataset.manifest.Manifest` (paths, and how to name a row).
        loader: The `kdataset.loaders.Loader`.
        sample_shape: Shape of every sample as loaded.
        sample_dtype: Its dtype.
        targets: `kdataset.labels.Targets`, or `None` for batches of `x` alone.
        weights: A `float32` weight per row, or `None`.
        on_error: `"raise"` or `"skip"` a sample that fails to load.
        pad_to: Pad every batch to this many rows with zero-weight zeros, or `None`.
        x_shape: The shape each sample is given in the batch (a reshape of
            `sample_shape`), or `None` to keep it.
        cache: A path for a `PackedCache`, or `None`.
        workers: Threads (or processes) that share the loading of a batch.
        use_processes: Load with worker processes instead of threads.
    """

    def __init__(
        self,
        manifest,
        loader,
        sample_shape,
        sample_dtype,
        *,
        targets=None,
        weights=None,
        on_error="raise",
        pad_to=None,
        x_shape=None,
        cache=None,
        workers=1,
        use_processes=False,
    ):
        self.manifest = manifest
        sample_shape, sample_dtype = tuple(sample_shape), np.dtype(sample_dtype)
        self.targets = targets
        self.weights = weights
        self.skip = on_error == "skip"
        self.pad_to = pad_to
        self.x_shape = None if x_shape is None else tuple(x_shape)
        self.cache = None
        if cache is not None:
            stored = np.dtype(loader.storage_dtype or sample_dtype)
            fingerprint = source_fingerprint(manifest.paths, sample_shape, stored, loader)
            self.cache = PackedCache(
                cache, fingerprint, len(manifest), sample_shape, stored, served_as=sample_dtype
            )
        self._parallel = ParallelLoader(loader, sample_shape, sample_dtype, workers, use_processes)
        self._window = None if targets is None else _TargetWindow(targets)

    def targets_for(self, order, start, stop):
        """The targets of rows `order[start:stop]`, encoded a window of `order` at a time.

        One `keras.ops` call encodes the rows of several batches of an epoch's
        order (up to 4 MB of them), since the call's fixed cost (about 100 µs
        on JAX) would otherwise be paid by every batch.
        """
        return self._window.get(order, start, stop)

    @property
    def from_memory(self):
        """Whether every sample is served from the complete cache (no file work left)."""
        return self.cache is not None and self.cache.complete

    def load(self, rows, split=True):
        """Loads the samples of `rows` (from the cache where it has them).

        Args:
            rows: Manifest row positions.
            split: Share the rows among the workers (a caller loading several
                batches at once passes `False`).

        Returns:
            `(x, failures)` with failures `[(position, SampleError)]`, or the
            `WorkerDied` error of a worker process that died.
        """
        paths = self.manifest.paths
        try:
            if self.cache is None:
                return self._parallel.load(
                    [paths[r] for r in rows.tolist()], skip=self.skip, split=split
                )
            x, have = self.cache.gather(rows, self._parallel.batch_buffer(len(rows)))
            if have.all():
                return x, []
            missing = np.flatnonzero(~have)
            try:
                loaded, failures = self._parallel.load(
                    [paths[r] for r in rows[missing].tolist()], skip=self.skip, split=split
                )
            except WorkerDied as e:
                raise WorkerDied(int(missing[e.position]), e.error) from None
            x[missing] = loaded
            ok = np.ones(len(missing), dtype=bool)
            ok[[position for position, _ in failures]] = False
            if not failures or self.skip:
                self.cache.store(rows[missing[ok]], loaded[ok])
            return x, [(int(missing[position]), error) for position, error in failures]
        except WorkerDied as e:
            return e

    def assemble(self, rows, loaded, y, batch=None):
        """Finishes a batch from what `load` gave, and `y`, the rows' targets
        (`targets_for`; `None` without labels). `batch` names it in errors, as
        `(epoch, index)`.

        Returns:
            `(batch, skipped)`: the batch (`x`, `(x, y)` or `(x, y, weight)`)
            and the `SampleError`s of the samples left out with
            `on_error="skip"`.

        Raises:
            SampleError: a sample failed to load (with `on_error="raise"`), or
                every sample of the batch failed.
        """
        if isinstance(loaded, WorkerDied):
            raise self.error(int(rows[loaded.position]), loaded.error, batch)
        x, failures = loaded
        if self.x_shape is not None:
            x = x.reshape((len(x), *self.x_shape))
        keep, skipped = None, []
        if failures:
            if not self.skip:
                position, error = failures[0]
                raise self.error(int(rows[position]), error, batch)
            keep = np.ones(len(rows), dtype=bool)
            for position, error in failures:
                keep[position] = False
                skipped.append(self.error(int(rows[position]), error, batch))
            if not keep.any() and self.pad_to is None:
                first = skipped[0]
                where = "" if batch is None else f" {batch[1]} (epoch {batch[0]})"
                raise SampleError(
                    f"every sample of batch{where} failed to load, so there is nothing left "
                    f"to train on; the first: {first.path!r}: {first.reason}"
                )
        if self.targets is None:
            return (x if keep is None else x[keep]), skipped
        weights = None if self.weights is None else self.weights[rows]
        if self.pad_to is not None:
            weights = np.ones(len(rows), np.float32) if weights is None else weights.copy()
            if keep is not None:  # a skipped sample becomes padding: the shape holds
                weights[~keep] = 0.0
                x[~keep] = 0
                y[~keep] = 0
                keep = None
            x, y, weights = (_pad(a, self.pad_to) for a in (x, y, weights))
        if keep is not None:
            x, y = x[keep], y[keep]
            weights = None if weights is None else weights[keep]
        return ((x, y) if weights is None else (x, y, weights)), skipped

    def error(self, row, error, batch=None):
        """A `SampleError` for manifest row `row`, naming its line, id, file and batch."""
        return SampleError(
            error.reason,
            path=self.manifest.paths[row],
            line=self.manifest.where(row),
            id=self.manifest.id_of(row),
            batch=batch,
        )

    def close(self):
        """Stops the loading threads or processes (they restart when needed)."""
        self._parallel.close()


class _TargetWindow:
    """The encoded targets of a window of rows of one epoch's order (see `targets_for`)."""

    def __init__(self, targets, max_bytes=4 << 20):
        self.targets = targets
        self.max_rows = max(1, max_bytes // (4 * max(1, targets.num_classes)))
        self._lock = threading.Lock()
        self._order, self._start, self._y = None, 0, None

    def get(self, order, start, stop):
        with self._lock:
            y = self._y
            if order is not self._order or not (
                self._start <= start and stop <= self._start + len(y)
            ):
                end = min(len(order), start + max(self.max_rows, stop - start))
                y = self._y = self.targets.encode(order[start:end])
                self._order, self._start = order, start
            return y[start - self._start : stop - self._start].copy()

    def __getstate__(self):
        return {"targets": self.targets, "max_rows": self.max_rows}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._order, self._start, self._y = None, 0, None


def _pad(a, size):
    """`a` with zero rows appended up to `size` rows."""
    missing = size - len(a)
    if missing <= 0:
        return a
    return np.concatenate([a, np.zeros((missing, *a.shape[1:]), a.dtype)])
