"""`ManifestDataset`: a CSV manifest as a `keras.utils.PyDataset`."""

from __future__ import annotations

import hashlib
import math
import operator
import pickle
import random
import sys
import threading
import warnings

import keras
import numpy as np

from kdataset._parallel import ParallelLoader, Prefetcher, WorkerDied, usable_cores
from kdataset.cache import PackedCache, source_fingerprint
from kdataset.errors import ManifestError, SampleError, one_of
from kdataset.labels import class_weights
from kdataset.order import epoch_order
from kdataset.validate import check_manifest


def _check_int(name, value, minimum, allow_none=False, expected=None):
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        expected = expected or f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"Invalid `{name}`: expected {expected}. Received: {name}={value!r}")
    return int(value)


MAX_AUTO_WORKERS = 8


def _auto_workers(loader, use_multiprocessing):
    """`workers="auto"`: a worker per usable core where they load in parallel, else one.

    Threads help a loader only when it works outside the GIL; processes always
    load in parallel. Beyond 8 the files, not the workers, set the pace.
    """
    if use_multiprocessing or loader.releases_gil:
        return max(1, min(usable_cores(), MAX_AUTO_WORKERS))
    return 1


class ManifestDataset(keras.utils.PyDataset):
    """Batches of samples listed in a CSV manifest, for `model.fit` on any backend.

    Each row of the manifest is one sample: an id, a file (a path column or a
    path template filled from the row) and labels. The manifest is checked in
    full when the dataset is built, so a missing column, a duplicate id, an empty
    label or a missing file is reported, with its line, before training starts.

    Batches are NumPy: `(x, y)`, or `x` alone when there are no labels. The
    samples are shuffled per epoch as a pure function of `seed` and the epoch
    number, so the same seed gives the same order on every backend; `ds[i]` is
    fixed within an epoch, and every sample appears exactly once per epoch
    whatever order `fit` asks for the batches in. The last, smaller batch is
    kept unless `drop_remainder=True`.

    Args:
        manifest: Path to a CSV file, or a pandas DataFrame. Ids and paths are
            read as text, so an id `007` stays `007`.
        batch_size: Samples per batch.
        id_column: Column of unique sample ids; `None` numbers the rows.
        label_column: Column of labels; a list of 0/1 columns for multi-hot
            labels; `None` for prediction (batches carry `x` only).
        path_column: Column of file paths.
        path_template: Path made from each row with `str.format`, e.g.
            `"data/{id}.npy"`. With neither this nor `path_column`, a `path`
            column is used. Relative paths resolve against `root_dir`.
        root_dir: Folder for relative paths; by default the manifest's folder
            (the working directory for a DataFrame).
        loader: `"auto"` (by extension: `.npy` or images), `"npy"`, `"image"`,
            a loader such as `kd.ImageLoader(image_size=(224, 224))`, or any
            function `fn(path) -> array`. `.npy` files are never unpickled.
        label_mode: `"categorical"` (one-hot `float32`), `"int"` (`int32`
            indices), `"binary"` (`float32` of shape `(batch, 1)`, exactly two
            classes), `"multi_hot"` (`float32`, several labels per sample), or
            `None` for no labels.
        label_separator: For `"multi_hot"` from one column, the string between
            labels, e.g. `"|"` in `"cat|dog"`.
        classes: Class names in index order, or a `kd.LabelEncoder`. By default
            the sorted labels (numerically when they are numbers: 2 before 10).
            A label not among given classes is an error.
        sample_weight: `None`; `"balanced"` to weigh each sample by its
            class's balanced weight (the mean over its classes for multi-hot
            labels, where `fit(class_weight=...)` cannot work); or the name of
            a column of weights. Batches are then `(x, y, weight)`.
        shuffle: Whether to shuffle the samples each epoch.
        seed: Seed of the shuffle. `None` draws one from Python's `random`
            (so `keras.utils.set_random_seed` makes it reproducible).
        drop_remainder: Drop the last batch when it is smaller than `batch_size`.
        pad_remainder: Pad the last batch to `batch_size` with zeros of zero
            sample weight, so every batch has one shape (JAX and XLA never
            recompile) and no sample is dropped. Batches are then
            `(x, y, weight)`.
        cache: A file path for a packed cache, or `None`. The first epoch
            writes every sample into this one memory-mapped file; later epochs
            gather from it instead of opening each file. A fingerprint of the
            files (paths, sizes, modification times), the sample shape and the
            loader is kept beside it, and the cache is rebuilt when any of them
            changes. Give each loader configuration its own path.
        on_error: `"raise"` (default) stops at a sample that cannot be loaded,
            naming its line, id, file and batch. `"skip"` leaves it out of its
            batch (or, with `pad_remainder`, makes it zero-weight padding),
            records it in `ds.skipped` and warns at the end of the epoch.
        workers: Threads (or processes) that load batches: `"auto"` (the
            default) gives one per usable core, up to 8, to loaders that
            work outside Python's GIL (`kd.NpyLoader` with kdataset's C reader,
            `kd.ImageLoader`, `kd.FunctionLoader(fn, releases_gil=True)`) and
            with `use_multiprocessing`; one thread to a plain function, which
            more threads would slow down. `ds.num_workers` tells the number.
        use_multiprocessing: Load with worker processes instead of threads,
            for loaders that hold the GIL (plain Python functions). The loader
            must pickle. Processes start with forkserver (spawn where there is
            none), never fork, so they are safe beside JAX and TensorFlow;
            guard your script's entry point with `if __name__ == "__main__":`.
            Loaders that work outside the GIL (`loader.releases_gil`, as
            `kd.NpyLoader` and `kd.ImageLoader`) load in threads even so:
            they are as fast there, and processes would add the cost of
            moving every batch between them (`ds.use_processes` tells).
        max_queue_size: How many batches to load ahead while Keras drives an
            epoch (the next ones in the dataset's order, by `workers` threads
            or processes); `None` for twice `workers`, at least 2; `0` loads
            each batch only when asked. kdataset presents itself to Keras as a
            single worker (`ds.workers == 1`), because Keras's own worker queue
            replays batches across epochs.

    Raises:
        ManifestError: the manifest has problems; `.problems` lists them all.
        SampleError: the first sample cannot be loaded.
        ValueError: an argument is invalid.

    Example:

    ```python
    import kdataset as kd

    train = kd.ManifestDataset(
        "train.csv", batch_size=32, path_template="data/{id}.npy",
        label_column="label", seed=7,
    )
    model.fit(train, epochs=5)
    train.classes  # class names in index order
    ```
    """

    def __init__(
        self,
        manifest,
        batch_size=32,
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
        shuffle=True,
        seed=None,
        drop_remainder=False,
        pad_remainder=False,
        on_error="raise",
        cache=None,
        workers="auto",
        use_multiprocessing=False,
        max_queue_size=None,
    ):
        # Keras sees one worker: its enqueuer would replay batches across epochs.
        super().__init__(workers=1, use_multiprocessing=False)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        if workers != "auto":
            workers = _check_int("workers", workers, 0, expected="'auto' or an integer >= 0") or 1
        self.seed = _check_int("seed", seed, 0, allow_none=True)
        if self.seed is None:
            self.seed = random.randrange(2**31)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.pad_remainder = bool(pad_remainder)
        if self.drop_remainder and self.pad_remainder:
            raise ValueError(
                "`drop_remainder=True` and `pad_remainder=True` ask for opposite things: "
                "choose one (padding keeps every sample, with zero weight on the padding)."
            )
        if on_error not in ON_ERROR:
            raise ValueError(
                f"Invalid `on_error`: expected one of {one_of(ON_ERROR)}. Received: on_error={on_error!r}"
            )
        self.on_error = on_error

        checked = check_manifest(
            manifest,
            id_column=id_column,
            label_column=label_column,
            path_column=path_column,
            path_template=path_template,
            root_dir=root_dir,
            loader=loader,
            label_mode=label_mode,
            label_separator=label_separator,
            classes=classes,
            sample_weight=sample_weight,
        )
        self.manifest = checked.manifest
        if self.pad_remainder and checked.targets is None and not checked.problems:
            raise ValueError(
                "`pad_remainder=True` marks padding with zero sample weights, which need labels: "
                "this dataset has none (for `predict`, keep the last batch as it is)."
            )
        if checked.problems:
            raise ManifestError(checked.problems, source=self.manifest.source)
        self.label_mode = label_mode if checked.label_encoder is not None else None
        self.label_encoder = checked.label_encoder
        self._indices, self._targets, self._weights = (
            checked.indices,
            checked.targets,
            checked.weights,
        )
        self.num_samples = len(self.manifest)
        if self.__len__() == 0:
            raise ValueError(
                f"`drop_remainder=True` with {self.num_samples} samples and "
                f"batch_size={self.batch_size} leaves no batch: lower `batch_size`."
            )
        if checked.first_sample_error is not None:
            raise checked.first_sample_error
        self.loader = checked.loader
        # Processes pay only for loaders that hold the GIL: the others load as fast
        # in threads, without every batch crossing between processes.
        self.use_processes = bool(use_multiprocessing) and not self.loader.releases_gil
        self.num_workers = (
            _auto_workers(self.loader, use_multiprocessing) if workers == "auto" else workers
        )
        self.sample_shape, self.sample_dtype = checked.sample_shape, checked.sample_dtype
        if self.use_processes:
            try:
                pickle.dumps(self.loader)
            except Exception as e:
                raise ValueError(
                    "`use_multiprocessing=True` needs a loader that pickles (a function defined "
                    f"at module level, not a lambda or a closure). {self.loader!r} does not: {e}"
                ) from None
        self.cache = None
        if cache is not None:
            fingerprint = source_fingerprint(
                self.manifest.paths, self.sample_shape, self.sample_dtype, self.loader
            )
            self.cache = PackedCache(
                cache, fingerprint, self.num_samples, self.sample_shape, self.sample_dtype
            )
        self._batches = ParallelLoader(
            self.loader, self.sample_shape, self.sample_dtype, self.num_workers, self.use_processes
        )
        self._prefetch_depth = (
            max(2, 2 * self.num_workers)
            if max_queue_size is None
            else _check_int("max_queue_size", max_queue_size, 0)
        )
        self._prefetcher = Prefetcher(self._load, self.num_workers)
        self._fingerprint = _fingerprint(self)
        self._lock = threading.Lock()
        self._epoch = 0  # the stream: the next batch Keras gets is (epoch, position)
        self._position = 0
        self._served_in_epoch = None  # batches served in the epoch Keras drives; None outside
        self._order = None
        self.skipped = []
        self._skipped_rows = set()
        self._skipped_reported = 0

    def _sample_error(self, row, error, batch=None):
        return SampleError(
            error.reason,
            path=self.manifest.paths[row],
            line=self.manifest.where(row),
            id=self.manifest.id_of(row),
            batch=batch,
        )

    # -- the PyDataset protocol -------------------------------------------

    def __len__(self):
        if self.drop_remainder:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def num_batches(self):
        return len(self)

    def _epoch_rows(self, epoch):
        # The orders of the last two epochs are kept: batches of the next epoch
        # are loaded ahead while the current one is still being served.
        orders = self._order or {}
        rows = orders.get(epoch)
        if rows is None:
            rows = epoch_order(self.num_samples, self.seed, epoch, self.shuffle)
            self._order = {**{e: r for e, r in orders.items() if e == epoch - 1}, epoch: rows}
        return rows

    def batch_rows(self, index, epoch=None):
        """Manifest row positions of batch `index` of an epoch (by default the current one)."""
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(
                f"Batch indices are integers. Received: {index!r} of type {type(index).__name__}"
            ) from None
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index out of range: expected 0 <= index < {len(self)}. "
                f"Received: index={index}"
            )
        start = index * self.batch_size
        rows = self._epoch_rows(self._epoch if epoch is None else epoch)
        return rows[start : start + self.batch_size]

    def _next_in_stream(self):
        """(epoch, position) of the next batch of the stream, which then moves on."""
        with self._lock:
            epoch, position = self._epoch, self._position
            self._position += 1
            if self._position == len(self):
                self._epoch, self._position = epoch + 1, 0
        return epoch, position

    def __getitem__(self, index):
        """A batch: `(x, y)`, `(x, y, weight)` with weights, or `x` alone without labels.

        Outside an epoch driven by Keras (or by iterating the dataset), batch
        `index` of the current epoch. Inside one, the next batch of the
        dataset's own order, whatever `index` Keras asks for: every batch once
        per epoch, in an order that depends only on `seed`.
        """
        if self._driven():
            operator.index(index)  # still a type check for the caller
            return self._serve_next()
        return self._batch(self.batch_rows(index), (self._epoch, index))

    def _driven(self):
        """Whether a request belongs to an epoch Keras drives, and so gets the next batch.

        JAX and PyTorch read one batch to build the model inside an epoch they then
        abandon; it can only be the epoch's first request, so only then is the
        call stack looked at.
        """
        served = self._served_in_epoch
        if served is None or (served == 0 and _keras_is_building_model()):
            return False
        self._served_in_epoch = served + 1
        return True

    def _serve_next(self):
        """The next batch of the stream, loaded ahead where it could be."""
        epoch, position = self._next_in_stream()
        rows = self.batch_rows(position, epoch)
        if self._prefetch_depth and not (self.cache is not None and self.cache.complete):
            loaded = self._prefetcher.get((epoch, position), self._upcoming())
            return self._batch(rows, (epoch, position), loaded)
        return self._batch(rows, (epoch, position))

    def _upcoming(self):
        """The keys of the next batches of the stream, to load ahead."""
        with self._lock:
            epoch, position = self._epoch, self._position
        keys = []
        for _ in range(self._prefetch_depth):
            keys.append((epoch, position))
            position += 1
            if position == len(self):
                epoch, position = epoch + 1, 0
        return keys

    def _load(self, key):
        """Loads batch `key = (epoch, position)` ahead: see `_read`."""
        epoch, position = key
        return self._read(self.batch_rows(position, epoch), split=False)

    def _read(self, rows, split=True):
        """`(x, failures)` for manifest rows (from the cache where it has them), or the
        `WorkerDied` error of a dead worker."""
        skip = self.on_error == "skip"
        paths = self.manifest.paths
        try:
            if self.cache is None:
                return self._batches.load([paths[r] for r in rows.tolist()], skip=skip, split=split)
            x, have = self.cache.gather(rows)
            if have.all():
                return x, []
            missing = np.flatnonzero(~have)
            try:
                loaded, failures = self._batches.load(
                    [paths[r] for r in rows[missing].tolist()], skip=skip, split=split
                )
            except WorkerDied as e:
                raise WorkerDied(int(missing[e.position]), e.error) from None
            x[missing] = loaded
            ok = np.ones(len(missing), dtype=bool)
            ok[[position for position, _ in failures]] = False
            if not failures or skip:
                self.cache.store(rows[missing[ok]], loaded[ok])
            return x, [(int(missing[position]), error) for position, error in failures]
        except WorkerDied as e:
            return e

    def _batch(self, rows, where, loaded=None):
        if loaded is None:
            loaded = self._read(rows)
        if isinstance(loaded, WorkerDied):
            self.close()  # training stops here: leave no loading process behind
            raise self._sample_error(int(rows[loaded.position]), loaded.error, where)
        x, failures = loaded
        skip = self.on_error == "skip"
        keep = None
        if failures:
            if not skip:
                self.close()  # training stops here: leave no loading process behind
                position, error = failures[0]
                raise self._sample_error(int(rows[position]), error, where)
            keep = self._skip(rows, failures, where)
        if self._targets is None:
            return x if keep is None else x[keep]
        y = self._targets[rows]
        weights = None if self._weights is None else self._weights[rows]
        if self.pad_remainder:
            weights = np.ones(len(rows), np.float32) if weights is None else weights.copy()
            if keep is not None:  # a skipped sample becomes padding: the shape holds
                weights[~keep] = 0.0
                x[~keep] = 0
                y = y.copy()
                y[~keep] = 0
                keep = None
            x, y, weights = _pad(x, y, weights, self.batch_size)
        if keep is not None:
            x, y = x[keep], y[keep]
            weights = None if weights is None else weights[keep]
        return (x, y) if weights is None else (x, y, weights)

    def _skip(self, rows, failures, where):
        keep = np.ones(len(rows), dtype=bool)
        errors = []
        for position, error in failures:
            keep[position] = False
            row = int(rows[position])
            errors.append(self._sample_error(row, error, where))
            if (where[0], row) in self._skipped_rows:
                continue  # read twice in one epoch (Keras reads a batch to build the model)
            self._skipped_rows.add((where[0], row))
            e = errors[-1]
            self.skipped.append(
                {
                    "epoch": where[0],
                    "batch": where[1],
                    "line": e.line,
                    "id": e.id,
                    "path": e.path,
                    "reason": e.reason,
                }
            )
        if not keep.any() and not self.pad_remainder:
            raise SampleError(
                f"every sample of batch {where[1]} (epoch {where[0]}) failed to load, so there is "
                f"nothing left to train on; the first: {errors[0].path!r}: {errors[0].reason}"
            )
        return keep

    def __iter__(self):
        """Yields the batches of one epoch, in the dataset's order, then moves on to the next."""
        self.on_epoch_begin()
        try:
            for index in range(len(self)):
                yield self[index]
        finally:
            self.on_epoch_end()

    def on_epoch_begin(self):
        self._served_in_epoch = 0

    def on_epoch_end(self):
        self._served_in_epoch = None
        skipped = len(self.skipped) - self._skipped_reported
        if skipped:
            self._skipped_reported = len(self.skipped)
            first = self.skipped[-skipped]
            warnings.warn(
                f"{skipped} sample{'s' if skipped != 1 else ''} could not be loaded and "
                f"{'were' if skipped != 1 else 'was'} skipped (`on_error='skip'`); the first: "
                f"{first['line']}, path {first['path']!r}: {first['reason']}. "
                "`ds.skipped` lists them all.",
                SkippedSamplesWarning,
                stacklevel=2,
            )

    # -- position, state and resuming ----------------------------------------

    @property
    def epoch(self):
        """The epoch of the next batch, counted from 0."""
        return self._epoch

    @property
    def position(self):
        """How many batches of the current epoch have been served."""
        return self._position

    def set_epoch(self, epoch):
        """Starts epoch `epoch` from its first batch (for custom training loops)."""
        with self._lock:
            self._epoch, self._position = _check_int("epoch", epoch, 0), 0
        self._prefetcher.reset()

    def get_state(self):
        """Where the dataset stands, as small plain data (JSON-safe).

        Returns:
            A dict with `epoch`, `position` (batches of that epoch already
            served), `seed`, and what the state belongs to (`num_samples`,
            `batch_size`, `fingerprint` of the ids and labels).
        """
        with self._lock:
            epoch, position = self._epoch, self._position
        return {
            "version": 1,
            "epoch": epoch,
            "position": position,
            "seed": self.seed,
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "fingerprint": self._fingerprint,
        }

    def state_at(self, epoch, position):
        """The state of batch `position` of `epoch` (it may run past the epoch's end).

        For checkpoints: a callback knows which batches the model has trained on,
        while the dataset may have loaded some ahead.
        """
        epoch, position = epoch + position // len(self), position % len(self)
        return {**self.get_state(), "epoch": int(epoch), "position": int(position)}

    def set_state(self, state):
        """Continues from a `get_state()`: the next batches are exactly those not yet served.

        Raises:
            ValueError: the state is of another manifest (other ids or labels),
                batch size or number of samples.
        """
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError(
                f"Invalid `state`: expected a dict from `get_state()`. Received: {state!r}"
            )
        expected = {
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "fingerprint": self._fingerprint,
        }
        for key, mine in expected.items():
            if state.get(key) != mine:
                what = "ids or labels" if key == "fingerprint" else f"`{key}`"
                raise ValueError(
                    f"This state belongs to another dataset: its {what} differ "
                    f"({state.get(key)!r} in the state, {mine!r} here)."
                )
        position = _check_int("position", state["position"], 0)
        if position >= len(self):
            raise ValueError(
                f"Invalid state: position {position} is past the last batch ({len(self)})."
            )
        with self._lock:
            self.seed = _check_int("seed", state["seed"], 0)
            self._epoch, self._position = _check_int("epoch", state["epoch"], 0), position
            self._order = None
        self._prefetcher.reset()

    def rest_of_epoch(self):
        """This epoch's batches not yet served, as a dataset of their own.

        After `set_state`, fit on it first so that Keras's epochs stay in step:
        `model.fit(ds.rest_of_epoch(), epochs=ds.epoch + 1, initial_epoch=ds.epoch)`,
        then `model.fit(ds, epochs=..., initial_epoch=ds.epoch)`.
        """
        return _RestOfEpoch(self)

    @property
    def classes(self):
        """Class names in index order, or `None` without labels."""
        return None if self.label_encoder is None else self.label_encoder.classes

    @property
    def ids(self):
        """Sample ids, in manifest order."""
        return list(self.manifest.ids)

    def class_weight(self):
        """Balanced class weights, `{class_index: weight}`, for `model.fit(class_weight=...)`.

        Raises:
            ValueError: without labels, or for multi-hot labels (Keras argmaxes
                2-D targets, so weights per class cannot work there).
        """
        if self._indices is None:
            if self.label_mode == "multi_hot":
                raise ValueError(
                    "`class_weight()` is for single-label data: `fit(class_weight=...)` argmaxes "
                    "multi-hot targets, so every row would get its first class's weight."
                )
            raise ValueError("`class_weight()` needs labels: this dataset has `label_mode=None`.")
        return class_weights(
            [self.label_encoder.classes[i] for i in self._indices], classes=self.label_encoder
        )

    def close(self):
        """Stops the loading threads or processes (they restart when needed)."""
        self._prefetcher.close()
        self._batches.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_order=None, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        labels = (
            f"label_mode={self.label_mode!r}, classes={len(self.classes)}"
            if self.classes
            else "no labels"
        )
        return (
            f"<ManifestDataset {self.num_samples} samples, {len(self)} batches of "
            f"{self.batch_size}, x {self.sample_shape} {self.sample_dtype.name}, {labels}>"
        )


ON_ERROR = ("raise", "skip")


class SkippedSamplesWarning(UserWarning):
    """Samples were skipped with `on_error='skip'`; `ds.skipped` lists them."""


def _keras_is_building_model():
    """Whether Keras is reading one batch only to build the model (`_symbolic_build`).

    JAX and PyTorch do so inside an epoch before the first one, then start over;
    that batch must not use up a place in the order.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_symbolic_build" and frame.f_globals.get(
            "__name__", ""
        ).startswith("keras"):
            return True
        frame = frame.f_back
    return False


def _pad(x, y, weights, size):
    """Pads a short batch to `size` rows of zeros with zero weight."""
    missing = size - len(x)
    if missing <= 0:
        return x, y, weights

    def pad(a):
        return np.concatenate([a, np.zeros((missing, *a.shape[1:]), a.dtype)])

    return pad(x), pad(y), pad(weights)


def _fingerprint(ds):
    digest = hashlib.sha256()
    digest.update("\0".join(ds.manifest.ids).encode())
    if ds._targets is not None:
        digest.update(np.ascontiguousarray(ds._targets).tobytes())
    digest.update(f"{ds.shuffle}:{ds.drop_remainder}".encode())
    return digest.hexdigest()[:16]


class _RestOfEpoch(keras.utils.PyDataset):
    """The batches of a dataset's current epoch not yet served (see `rest_of_epoch`)."""

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        self._start = (dataset.epoch, dataset.position)

    def __len__(self):
        return len(self.dataset) - self._start[1]

    def __getitem__(self, index):
        if self.dataset._driven():
            return self.dataset._serve_next()
        epoch, start = self._start
        return self.dataset._batch(
            self.dataset.batch_rows(start + index, epoch), (epoch, start + index)
        )

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


__all__ = ["ManifestDataset", "SkippedSamplesWarning"]
