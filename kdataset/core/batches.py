"""The batch source: manifest rows in, the batch `(x, y, weight)` out.

A pure function of the rows it is given: it loads them (through the loader and
the packed cache, with threads or processes), leaves out or pads the samples
that fail, reshapes `x`, and adds the targets and weights. It holds no epoch,
no position and no lock: which rows come next is the stream's business, and
every way a dataset serves a batch (indexing, `fit`, `rest_of_epoch`) goes
through the same steps.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeAlias, TypeVar

import numpy as np

from kdataset.core.reading import FilePart, LabelPart, NumberPart, Part, ReadManifest
from kdataset.core.stream import BatchPlan
from kdataset.errors import SampleError, listing
from kdataset.io.cache import CacheWarning, PackedCache, source_fingerprint
from kdataset.io.manifest import Manifest
from kdataset.io.sources import is_url
from kdataset.labels.encoding import Targets
from kdataset.loading.loaders import Failures, Loader, Shape
from kdataset.loading.parallel import ParallelLoader, WorkerDied

V = TypeVar("V")
#: The arrays of a batch's `x` or `y`: one, or a dict by the model's input or output names.
Arrays: TypeAlias = np.ndarray | dict[str, np.ndarray]
#: A batch as `model.fit` takes it: `x`, `(x, y)` or `(x, y, sample_weight)`.
Batch: TypeAlias = Arrays | tuple[Arrays, Arrays] | tuple[Arrays, Arrays, np.ndarray]
#: `transform(sample, rng)` and `batch_transform(batch, rng)`: arrays by name in and out.
Transform: TypeAlias = Callable[[dict[str, np.ndarray], np.random.Generator], dict[str, Any]]


class Loaded(NamedTuple):
    """What `BatchSource.load` gives: the arrays read from files, by part name, and
    the samples that failed (`[(position in the batch, SampleError)]`, with
    `on_error="skip"` only)."""

    arrays: dict[str, np.ndarray]
    failures: Failures


class BatchSource:
    """Turns manifest rows into a batch.

    Both steps take the stream's `BatchPlan` of the batch (its rows, planned
    once): `load(plan)` does the file work and may run in any thread (it
    imports no backend), raising where a sample fails; `assemble(plan, loaded)`
    finishes the batch in the thread that serves it, with the class labels
    encoded there with `keras.ops`.

    A batch is `x`, `(x, y)` or `(x, y, weight)`, where `x` and `y` are each
    one array or a dict by name of the inputs and outputs of a `ReadManifest`:
    files (loaded, through the cache), numbers and class labels.

    Args:
        read: The `kdataset.core.reading.ReadManifest`, clean and probed.
        on_error: `"raise"` or `"skip"` a sample that fails to load.
        pad_to: Pad every batch to this many rows with zero-weight zeros, or `None`.
        x_shape: The shape each sample of the one input is given in the batch
            (a reshape of its loaded shape), or `None` to keep it.
        cache: A path for a `PackedCache` of the first files read (the others
            get the path with `.<name>` added), or `None`.
        workers: Threads (or processes) that share the loading of a batch.
        use_processes: Load with worker processes instead of threads.
        transform: `fn(sample, rng) -> sample` applied to each sample's
            arrays read from files, with a NumPy `Generator` of its own.
        batch_transform: `fn(batch, rng) -> batch` applied to every array of
            the batch, by name.
        seed: The seed that the `Generator`s are derived from.
    """

    def __init__(
        self,
        read: ReadManifest,
        *,
        on_error: Literal["raise", "skip"] = "raise",
        pad_to: int | None = None,
        x_shape: Shape | None = None,
        cache: str | os.PathLike[str] | None = None,
        workers: int = 1,
        use_processes: bool = False,
        transform: Transform | None = None,
        batch_transform: Transform | None = None,
        seed: int = 0,
    ) -> None:
        self.manifest = read.manifest
        self.x_dict, self.y_dict = read.x_dict, read.y_dict
        self.weights = read.weights
        self.skip = on_error == "skip"
        self.pad_to = pad_to
        self.x_shape = None if x_shape is None else tuple(x_shape)
        self.transform, self.batch_transform, self.seed = transform, batch_transform, seed
        self.parts = [("x", p) for p in read.inputs] + [("y", p) for p in read.outputs]
        self.has_targets = bool(read.outputs)
        self._files: dict[str, _Files] = {}
        for role, part in self.parts:
            if isinstance(part, FilePart):
                path = None if cache is None else os.fspath(cache)
                if path is not None and self._files:
                    path = f"{path}.{part.name or role}"
                self._files[_key(role, part)] = _Files(
                    self.manifest, part, path, workers, use_processes, self.skip
                )
        self._windows = {
            _key(role, part): _TargetWindow(_read(part.targets, part))
            for role, part in self.parts
            if isinstance(part, LabelPart)
        }

    @property
    def x_names(self) -> list[str]:
        """The names of the parts of `x` (`\"x\"` for the one input)."""
        return [_key(r, p) for r, p in self.parts if r == "x"]

    @property
    def y_names(self) -> list[str]:
        """The names of the parts of `y` (`\"y\"` for the one output)."""
        return [_key(r, p) for r, p in self.parts if r == "y"]

    @property
    def cache(self) -> PackedCache | None:
        """The `PackedCache` of the first files read, or `None`."""
        files = next(iter(self._files.values()), None)
        return None if files is None else files.cache

    def _targets(self, plan: BatchPlan) -> dict[str, np.ndarray]:
        """The class labels of the plan's rows, by part, encoded a window of the epoch's
        order at a time.

        One `keras.ops` call encodes the rows of several batches of an epoch's
        order (up to 4 MB of them), since the call's fixed cost (about 100 µs
        on JAX) would otherwise be paid by every batch.
        """
        start, stop = plan.start, plan.start + len(plan.rows)
        return {key: window.get(plan.order, start, stop) for key, window in self._windows.items()}

    def load(self, plan: BatchPlan, split: bool = True) -> Loaded:
        """Loads the samples of `plan.rows` from files (from the cache where it has them),
        and applies the per-sample `transform`.

        Args:
            plan: The stream's `BatchPlan`.
            split: Share the rows among the workers (a caller loading several
                batches at once passes `False`).

        Returns:
            A `Loaded`: the arrays by part, and with `on_error="skip"` the
            samples that failed, `[(position in the batch, SampleError)]`.

        Raises:
            SampleError: with `on_error="raise"`, the first sample that failed,
                naming its line, id, file and batch; or a worker process died.
        """
        rows = plan.rows
        arrays: dict[str, np.ndarray] = {}
        failed: dict[int, SampleError] = {}
        for key, files in self._files.items():
            try:
                arrays[key], failures = files.load(rows, split)
            except WorkerDied as e:
                raise self.error(int(rows[e.position]), e.error, plan.key) from None
            for position, error in failures:
                failed.setdefault(position, error)
        if self.transform is not None and arrays:
            self._transform(rows, arrays, failed, (plan.epoch, plan.positions))
        failures = sorted(failed.items())
        if failures and not self.skip:
            position, error = failures[0]
            raise self.error(int(rows[position]), error, plan.key)
        return Loaded(arrays, failures)

    def _transform(
        self,
        rows: np.ndarray,
        arrays: dict[str, np.ndarray],
        failed: dict[int, SampleError],
        where: tuple[int, np.ndarray] | None,
    ) -> None:
        transform = self.transform
        if transform is None:
            return
        epoch, positions = where if where is not None else (0, np.arange(len(rows)))
        out = dict(arrays)
        for i, position in enumerate(positions):
            if i in failed:
                continue
            sample = {key: array[i] for key, array in arrays.items()}
            try:
                result = transform(sample, sample_rng(self.seed, epoch, int(position)))
                _check_keys(result, sample, "transform")
                for key, value in result.items():
                    value = np.asarray(value)
                    array = out[key]
                    dtype = _transformed_dtype(array.dtype, value, key)
                    if array is arrays[key] and value.shape != array.shape[1:]:
                        array = out[key] = np.zeros((len(rows), *value.shape), dtype)
                    elif dtype != array.dtype:  # floats from uint8: the part becomes float32
                        array = out[key] = array.astype(dtype)  # exact for the samples so far
                    if value.shape != array.shape[1:]:
                        raise ValueError(
                            f"it returned {key!r} of shape {value.shape}, where the batch's "
                            f"other samples have {array.shape[1:]}"
                        )
                    array[i] = value
            except Exception as e:
                reason = e.reason if isinstance(e, SampleError) else f"{type(e).__name__}: {e}"
                failed[i] = SampleError(f"the transform failed: {reason}")
                if not self.skip:
                    break
        arrays.update(out)

    def assemble(self, plan: BatchPlan, loaded: Loaded) -> tuple[Batch, list[SampleError]]:
        """Finishes the batch of `plan` from what `load(plan)` gave.

        Returns:
            `(batch, skipped)`: the batch (`x`, `(x, y)` or `(x, y, weight)`)
            and the `SampleError`s of the samples left out with
            `on_error="skip"`.

        Raises:
            SampleError: every sample of the batch failed (with `on_error="skip"`
                and no padding).
        """
        rows, batch = plan.rows, plan.key
        encoded = self._targets(plan) if self._windows else {}
        arrays: dict[str, np.ndarray] = {}
        for role, part in self.parts:
            key = _key(role, part)
            if isinstance(part, FilePart):
                arrays[key] = loaded.arrays[key]
            elif isinstance(part, NumberPart):
                arrays[key] = _read(part.values, part)[rows]
            else:
                arrays[key] = encoded[key]
        if self.x_shape is not None:
            arrays["x"] = arrays["x"].reshape((len(rows), *self.x_shape))
        if encoded and (loaded.failures or self.batch_transform is not None):
            # Encoded labels are views of the window, shared by the batches after this
            # one: copied before padding zeroes rows, or a batch_transform changes them.
            arrays.update({key: arrays[key].copy() for key in encoded})
        keep, skipped = None, []
        if loaded.failures:
            keep = np.ones(len(rows), dtype=bool)
            for position, error in loaded.failures:
                keep[position] = False
                skipped.append(self.error(int(rows[position]), error, batch))
            if not keep.any() and self.pad_to is None:
                first = skipped[0]
                raise SampleError(
                    f"every sample of batch {batch[1]} (epoch {batch[0]}) failed to load, so "
                    f"there is nothing left to train on; the first: {first.path!r}: "
                    f"{first.reason}"
                )
        weights = None
        if self.has_targets:
            weights = None if self.weights is None else self.weights[rows]
            if self.pad_to is not None:
                weights = np.ones(len(rows), np.float32) if weights is None else weights.copy()
                if keep is not None:  # a skipped sample becomes padding: the shape holds
                    weights[~keep] = 0.0
                    for array in arrays.values():
                        array[~keep] = 0
                    keep = None
                arrays = {key: _pad(a, self.pad_to) for key, a in arrays.items()}
                weights = _pad(weights, self.pad_to)
        if keep is not None:
            arrays = {key: a[keep] for key, a in arrays.items()}
            weights = None if weights is None else weights[keep]
        if self.batch_transform is not None:
            rng = sample_rng(self.seed, plan.epoch, plan.start, _BATCH)
            result = self.batch_transform(dict(arrays), rng)
            _check_keys(result, arrays, "batch_transform")
            arrays.update(result)
        x = self._structure(arrays, "x", self.x_dict)
        if not self.has_targets:
            return x, skipped
        y = self._structure(arrays, "y", self.y_dict)
        return ((x, y) if weights is None else (x, y, weights)), skipped

    def _structure(self, arrays: dict[str, np.ndarray], role: str, as_dict: bool) -> Arrays:
        if not as_dict:
            return arrays[role]
        names = [_key(r, part) for r, part in self.parts if r == role]
        return {name: arrays[name] for name in names}

    def error(
        self, row: int, error: SampleError, batch: tuple[int, int] | None = None
    ) -> SampleError:
        """A `SampleError` for manifest row `row`, naming its line, id, file and batch."""
        path = error.path
        if path is None and self._files:  # the transform failed: name the sample's first file
            path = next(iter(self._files.values())).paths[row]
            if is_url(path):  # an object's URL, maybe signed: never shown whole
                from kdataset.io.storage import redact

                path = redact(path, self.manifest.storage_options)
        return SampleError(
            error.reason,
            path=path,
            line=self.manifest.where(row),
            id=self.manifest.id_of(row),
            batch=batch,
        )

    def close(self) -> None:
        """Stops the loading threads or processes (they restart when needed)."""
        for files in self._files.values():
            files.close()


_BATCH = 1  # tells a batch's Generator from its first sample's


def sample_rng(seed: int, epoch: int, position: int, kind: int = 0) -> np.random.Generator:
    """The NumPy `Generator` of the sample at `position` of `epoch`'s order (or, with
    `kind=1`, of the batch that starts there): a pure function of its arguments.

    Example:

    >>> int(sample_rng(7, 0, 3).integers(100)) == int(sample_rng(7, 0, 3).integers(100))
    True
    """
    return np.random.Generator(
        np.random.PCG64(
            np.random.SeedSequence([int(seed), int(epoch), int(position), kind, 0x6B64])
        )
    )


def _key(role: str, part: Part) -> str:
    """The name of a part in the batch: its own, or `x`/`y` for the one input/output."""
    return part.name if part.name is not None else role


def _transformed_dtype(dtype: np.dtype, value: np.ndarray, key: str) -> np.dtype:
    """The dtype of part `key` of a batch once a transform returned `value` for a sample.

    A float part keeps its dtype. An integer part (`uint8` images, masks) keeps
    its dtype for integers that fit it, and becomes `float32` for floats: a
    transform given `uint8` pixels may return them as they are or as floats
    (`x / 255`), never truncated. Return one dtype every time, so that every
    batch has one.

    Raises:
        ValueError: integers outside the part's dtype.
    """
    if dtype.kind not in "iu" or value.dtype == dtype:
        return dtype
    if value.dtype.kind not in "iub":
        return np.dtype(np.float32)
    info = np.iinfo(dtype)
    if value.size and (value.min() < info.min or value.max() > info.max):
        raise ValueError(
            f"it returned {key!r} with values from {value.min()} to {value.max()}, outside "
            f"{dtype}'s {info.min}..{info.max}"
        )
    return dtype


def _check_keys(result: object, given: Mapping[str, object], what: str) -> None:
    if not isinstance(result, dict):
        raise TypeError(
            f"`{what}` must return a dict of the arrays it was given ({listing(list(given))}); "
            f"it returned {type(result).__name__}"
        )
    extra = [k for k in result if k not in given]
    if extra:
        raise ValueError(
            f"`{what}` returned {listing(extra)}, which it was not given: it was given "
            f"{listing(list(given))}"
        )


def open_cache(manifest: Manifest, part: FilePart, path: str | os.PathLike[str]) -> PackedCache:
    """The `PackedCache` at `path` of a part read from files, as a dataset opens it: its
    samples stored in the loader's `storage_dtype` (else their own), served in their own.

    `kdataset.build_cache` fills the cache a dataset with the same manifest, loader
    and `cache` path opens, through this.

    Args:
        manifest: The `Manifest`.
        part: A `FilePart` of a clean, probed `ReadManifest`.
        path: The cache file.

    Returns:
        The `PackedCache` (made, or rebuilt when its fingerprint differs).

    Raises:
        OSError: the cache cannot be made; for a full disk, the message names
            the path, the bytes it needs and the bytes free.
    """
    paths = _read(part.paths, part)
    shape, dtype = _read(part.sample_shape, part), _read(part.sample_dtype, part)
    loader = part.loader
    if not isinstance(loader, Loader):
        raise TypeError(f"{part.name or 'x'}: its loader was not made: read the manifest first")
    stored = np.dtype(loader.storage_dtype or dtype)
    fingerprint = source_fingerprint(paths, shape, stored, loader)
    return PackedCache(path, fingerprint, len(manifest), shape, stored, served_as=dtype)


class _Files:
    """One input or output read from files: the loader's workers, and its cache.

    A cache that cannot be made or read (a full disk) is left out with a
    `CacheWarning`: the samples are then read from their files every epoch.
    """

    def __init__(
        self,
        manifest: Manifest,
        part: FilePart,
        cache: str | None,
        workers: int,
        use_processes: bool,
        skip: bool,
    ) -> None:
        self.paths = _read(part.paths, part)
        self.skip = skip
        shape, dtype = _read(part.sample_shape, part), _read(part.sample_dtype, part)
        loader = part.loader
        if not isinstance(loader, Loader):
            raise TypeError(f"{part.name or 'x'}: its loader was not made: read the manifest first")
        self.cache: PackedCache | None = None
        if cache is not None:
            try:
                self.cache = open_cache(manifest, part, cache)
            except OSError as e:  # its message names the cache's path
                self._without_cache(str(e))
        self._parallel = ParallelLoader(loader, shape, dtype, workers, use_processes)

    def _without_cache(self, reason: str) -> None:
        self.cache = None
        warnings.warn(
            f"{reason} The dataset goes on without the cache, reading the files every epoch.",
            CacheWarning,
            stacklevel=5,  # the user's ManifestDataset(...)
        )

    def load(self, rows: np.ndarray, split: bool) -> tuple[np.ndarray, Failures]:
        """`(x, failures)` for `rows`.

        Raises:
            WorkerDied: a worker process died; its `position` is in `rows`.
        """
        paths = self.paths
        if not len(rows):  # a host's share of an epoch's last step may be empty
            return self._parallel.batch_buffer(0), []
        cache = self.cache  # one for the batch: another thread may leave it out
        if cache is None:
            return self._parallel.load(
                [paths[r] for r in rows.tolist()], skip=self.skip, split=split
            )
        try:
            x, have = cache.gather(rows, self._parallel.batch_buffer(len(rows)))
        except OSError as e:  # its files could not be mapped (removed since, say)
            self._without_cache(f"The cache {cache.path!r} cannot be read: {e}.")
            return self.load(rows, split)
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
            cache.store(rows[missing[ok]], loaded[ok])
        return x, [(int(missing[position]), error) for position, error in failures]

    def close(self) -> None:
        self._parallel.close()


class _TargetWindow:
    """The encoded targets of a window of rows of one epoch's order (see `targets_for`)."""

    def __init__(self, targets: Targets, max_bytes: int = 4 << 20) -> None:
        self.targets = targets
        self.max_rows = max(1, max_bytes // (4 * max(1, targets.num_classes)))
        self._lock = threading.Lock()
        self._order: np.ndarray | None = None
        self._start = 0
        self._y: np.ndarray | None = None

    def get(self, order: np.ndarray, start: int, stop: int) -> np.ndarray:
        with self._lock:
            y = self._y
            if (
                y is None
                or order is not self._order
                or not (self._start <= start and stop <= self._start + len(y))
            ):
                end = min(len(order), start + max(self.max_rows, stop - start))
                y = self._y = self.targets.encode(order[start:end])
                self._order, self._start = order, start
            return y[start - self._start : stop - self._start]  # a view: see `assemble`

    def __getstate__(self) -> dict[str, object]:
        return {"targets": self.targets, "max_rows": self.max_rows}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._order, self._start, self._y = None, 0, None


def _read(value: V | None, part: Part) -> V:
    """`value`, a field of `part` that reading a clean manifest set, or a `TypeError`."""
    if value is None:
        raise TypeError(
            f"{part.name or 'the part'} was not read: a batch source takes a clean, probed "
            "ReadManifest"
        )
    return value


def _pad(a: np.ndarray, size: int) -> np.ndarray:
    """`a` with zero rows appended up to `size` rows."""
    missing = size - len(a)
    if missing <= 0:
        return a
    return np.concatenate([a, np.zeros((missing, *a.shape[1:]), a.dtype)])
