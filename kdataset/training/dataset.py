"""`ManifestDataset`: a CSV manifest as a `keras.utils.PyDataset`.

The Keras face only: the `PyDataset` protocol, delegating to the stream (which
batch comes next) and to the batch source (rows into a batch).
"""

from __future__ import annotations

import functools
import hashlib
import operator
import os
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

import keras
import numpy as np
import numpy.typing as npt
import pandas as pd

from kdataset.core.audit import IdDigest, id_hashes
from kdataset.core.batches import Batch, BatchSource, Loaded, Transform
from kdataset.core.reading import LabelPart, NumberPart, ReadManifest, read_manifest
from kdataset.core.spec import DatasetSpec, OnError, Sampling
from kdataset.core.stream import BatchPlan, Stream, StreamState
from kdataset.errors import ManifestError, SampleError, check_int
from kdataset.io.cache import PackedCache
from kdataset.io.manifest import LabelColumn
from kdataset.labels.encoding import Label, LabelEncoder, balanced_class_weights
from kdataset.labels.fields import Field, LabelMode
from kdataset.loading.loaders import Loader, LoaderSpec, Shape
from kdataset.loading.parallel import Prefetcher, check_picklable, plan_workers
from kdataset.training.driving import (
    EpochEnd,
    epoch_end_kind,
    keras_data_shard,
    warn_if_untested,
)
from kdataset.training.epochs import EpochTracker
from kdataset.training.records import ServedLedger, SkippedRecord, SkippedSamplesWarning
from kdataset.training.sharding import host_shard


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

    Outside `fit`, `ds[i]` is batch `i` of the current epoch, and
    `ds.on_epoch_end()` called by your own loop (after `ds[0] ... ds[len(ds) -
    1]`, as the classic `Sequence` recipe does) moves to the next epoch, which
    is shuffled anew; `for batch in ds` serves one epoch and moves on too.

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
        storage_options: Options for the filesystem of a manifest or files at
            an fsspec URL (`s3://...`), such as credentials; never shown in an
            error, a `repr`, the state or the cache. Needs `kdataset[cloud]`.
        loader: `"auto"` (by extension: `.npy` or images), `"npy"`, `"image"`,
            a loader such as `kd.ImageLoader(image_size=(224, 224))`, or any
            function `fn(path) -> array`. `.npy` files are never unpickled.
        label_mode: `"categorical"` (one-hot `float32`), `"int"` (`int32`
            indices), `"binary"` (`float32` of shape `(batch, 1)`, exactly two
            classes), `"multi_hot"` (`float32`, several labels per sample), or
            `None` for no labels.
        label_separator: For `"multi_hot"` from one column, the string between
            labels, e.g. `"|"` in `"cat|dog"`. An empty cell is a sample with
            no label (a row of zeros), as a list of 0/1 columns that are all 0.
        classes: Class names in index order, or a `kd.LabelEncoder`. By default
            the sorted labels (numerically when they are numbers: 2 before 10).
            A label not among given classes is an error.
        inputs: What `x` holds, for several inputs or numeric features:
            `kd.Files(column, loader=...)`, `kd.Numbers(columns)` or
            `kd.Labels(column)`, or a dict of them by the model's input names
            (then `x` is a dict). Replaces `path_column`, `path_template` and
            `loader`.
        outputs: What `y` holds, likewise: class labels, regression targets
            (`kd.Numbers`), masks (`kd.Files(column, loader=kd.MaskLoader(...))`),
            or a dict of them by the model's output names. Replaces
            `label_column`, `label_mode`, `label_separator` and `classes`.
        sample_weight: `None`; `"balanced"` to weigh each sample by its
            class's balanced weight (the mean over its classes for multi-hot
            labels, where `fit(class_weight=...)` cannot work); or the name of
            a column of weights. Batches are then `(x, y, weight)`.
        shuffle: Whether to shuffle the samples each epoch.
        seed: Seed of the shuffle. `None` draws one from Python's `random`
            (so `keras.utils.set_random_seed` makes it reproducible).
        sampling: `None`: every row once per epoch. `"balanced"`: each epoch
            draws as many rows as the manifest has, the classes equally often
            (`n // k` draws each, `n % k` of them one more, taking turns), each
            class walking through its rows in a new random order every time
            they are all drawn; a pure function of `seed` and the epoch, like
            the shuffle, so it resumes mid-epoch. Single-label data only.
        transform: `fn(sample, rng) -> sample`, called on each sample's arrays
            read from files (by name; `"x"` and `"y"` for the single input and
            output), in the loading threads, with a NumPy `Generator` derived
            from `(seed, epoch, position in the epoch's order)`: the same on
            every backend and with any workers, new each epoch. Return the
            arrays changed.
        batch_transform: `fn(batch, rng) -> batch`, likewise for each batch's
            arrays (numbers and encoded labels too).
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
        shard: `(index, count)`: this process is host `index` of `count`, and
            takes its part of each epoch's global order (`batch_size` rows of
            every `batch_size * count`); `"auto"` asks the running engine (JAX,
            `torch.distributed`, `TF_CONFIG`); `None` for one host. Every host
            serves `len(ds)` batches of one shape: the last ones padded with
            zero-weight rows, or with `drop_remainder=True` the rows past the
            last full global step left out on every host.
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

    Labels are held as one class index per row (a list of indices per row for
    multi-hot labels) and encoded per batch with `keras.ops.one_hot` or
    `keras.ops.multi_hot`, so their memory grows with the rows, not with rows x
    classes.

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
        manifest: str | os.PathLike[str] | pd.DataFrame,
        batch_size: int = 32,
        *,
        id_column: str | None = "id",
        label_column: LabelColumn | None = "label",
        path_column: str | None = None,
        path_template: str | None = None,
        root_dir: str | os.PathLike[str] | None = None,
        storage_options: dict[str, Any] | None = None,
        loader: LoaderSpec = "auto",
        label_mode: LabelMode | None = "categorical",
        label_separator: str | None = None,
        classes: Sequence[Label] | LabelEncoder | None = None,
        inputs: Field | Mapping[str, Field] | None = None,
        outputs: Field | Mapping[str, Field] | None = None,
        sample_weight: str | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        sampling: Sampling | None = None,
        transform: Transform | None = None,
        batch_transform: Transform | None = None,
        drop_remainder: bool = False,
        pad_remainder: bool = False,
        shard: tuple[int, int] | Literal["auto"] | None = None,
        on_error: OnError = "raise",
        cache: str | os.PathLike[str] | None = None,
        workers: int | Literal["auto"] = "auto",
        use_multiprocessing: bool = False,
        max_queue_size: int | None = None,
    ) -> None:
        # Keras sees one worker: its enqueuer would replay batches across epochs.
        super().__init__(workers=1, use_multiprocessing=False)
        spec = DatasetSpec(
            batch_size=batch_size,
            id_column=id_column,
            label_column=label_column,
            path_column=path_column,
            path_template=path_template,
            root_dir=root_dir,
            storage_options=storage_options,
            loader=loader,
            label_mode=label_mode,
            label_separator=label_separator,
            classes=classes,
            inputs=inputs,
            outputs=outputs,
            sample_weight=sample_weight,
            shuffle=shuffle,
            seed=seed,
            sampling=sampling,
            transform=transform,
            batch_transform=batch_transform,
            drop_remainder=drop_remainder,
            pad_remainder=pad_remainder,
            shard=shard,
            on_error=on_error,
            cache=cache,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        self.spec = spec
        read = read_manifest(spec, manifest)
        self.manifest = read.manifest
        if read.problems:
            raise ManifestError(read.problems, source=self.manifest.source)
        self.label_encoder = read.label_encoder
        class_labels = spec.class_labels
        self.label_mode: LabelMode | None = (
            class_labels[1].mode if class_labels is not None and read.label_encoder else None
        )
        self.label_encoders = {
            part.name: part.encoder for part in read.outputs if isinstance(part, LabelPart)
        }
        self.num_samples = len(self.manifest)
        self.seed = spec.seed if spec.seed is not None else random.randrange(2**31)
        self._read = read
        self._ids: list[str] = self.manifest.ids or []
        self._fingerprint = _fingerprint(self._ids, read, spec)
        warn_if_untested()
        self._plan_shards(keras_data_shard())
        if read.first_sample_error is not None:
            raise read.first_sample_error
        self.loader = read.loader
        self.sample_shape, self.sample_dtype = read.sample_shape, read.sample_dtype
        # A clean read has made every loader (a `Loader`).
        loaders = [part.loader for part in read.file_parts if isinstance(part.loader, Loader)]
        self.num_workers, self.use_processes = plan_workers(
            loaders, spec.workers, spec.use_multiprocessing
        )
        if self.use_processes:
            check_picklable(loaders)
        self._source = BatchSource(
            read,
            on_error=spec.on_error,
            pad_to=self._pad_to,
            x_shape=None if read.x_dict else self._x_shape(self.sample_shape),
            cache=spec.cache,
            workers=self.num_workers,
            use_processes=self.use_processes,
            transform=spec.transform,
            batch_transform=spec.batch_transform,
            seed=self.seed,
        )
        self._class_targets = read.targets
        self._output_kinds = {part.name: type(part).__name__ for part in read.outputs}
        self._prefetch_depth = (
            max(2, 2 * self.num_workers) if spec.max_queue_size is None else spec.max_queue_size
        )
        self._prefetcher = self._new_prefetcher()
        self._epochs = EpochTracker()
        self._skipped = SkippedRecord()
        self.skipped = self._skipped.samples
        self._served = ServedLedger()
        self._id_hashes: npt.NDArray[np.uint64] | None = None

    def _x_shape(self, sample_shape: Shape | None) -> Shape | None:
        """The shape each sample is given in a batch; `None` keeps the loaded shape."""
        return None

    def _new_prefetcher(self) -> Prefetcher[BatchPlan, Loaded]:
        """Loads the next batches ahead, in `num_workers` threads: the stream plans each,
        the batch source loads it."""
        load_ahead = functools.partial(self._source.load, split=False)
        return Prefetcher(self._stream.plan, load_ahead, self.num_workers)

    def _plan_shards(self, keras_shard: tuple[int, int] | None) -> None:
        """Which part of every epoch this process serves, and how Keras will ask for it.

        `keras_shard` is Keras's `(data_shard_id, num_data_shards)` when Keras
        shards the dataset itself (3.16 under `auto_shard_dataset=True`): this
        process then serves that shard, and presents Keras with the batches of
        all `num_data_shards` processes (`len(ds)` of them), of which Keras asks
        it for every `num_data_shards`-th: exactly its own, as many as every
        other process's.
        """
        spec = self.spec
        shard = host_shard(spec.shard, keras_shard)
        padded = shard[1] > 1 and not spec.drop_remainder
        if padded and not spec.has_labels:
            raise ValueError(
                f"Sharded over {shard[1]} hosts, every host serves as many batches of "
                "`batch_size` rows, the last ones padded with zero-weight rows; weights need "
                "labels, and this dataset has none. Pass `drop_remainder=True` (the same rows "
                "left out on every host), or predict on one host."
            )
        stream = Stream(
            self.num_samples,
            spec.batch_size,
            self.seed,
            spec.shuffle,
            spec.drop_remainder,
            fingerprint=self._fingerprint,
            class_of=(
                self._read.targets.indices
                if spec.sampling == "balanced" and self._read.targets is not None
                else None
            ),
            shard=shard,
        )
        if stream.num_batches == 0:
            hosts = f" on each of {shard[1]} hosts" if shard[1] > 1 else ""
            raise ValueError(
                f"`drop_remainder=True` with {self.num_samples} samples and "
                f"batch_size={spec.batch_size}{hosts} leaves no batch: lower `batch_size`."
            )
        self.shard = shard
        self._keras_shard = keras_shard
        self._stream = stream
        self._pad_to = spec.batch_size if spec.pad_remainder or padded else None

    def _follow_keras_shard(self) -> None:
        """Takes Keras's shard if the distribution changed since the dataset was built.

        Called when Keras asks for the number of batches, before it reads any
        batch of an epoch. Between epochs the dataset follows the change; in
        the middle of one it cannot without serving rows twice, and says so.
        """
        keras_shard = keras_data_shard()
        if keras_shard == self._keras_shard:
            return
        old = self._stream
        if self._epochs.driven or old.position or old.epoch_offset(old.epoch):
            raise ValueError(
                "Keras's distribution changed in the middle of an epoch of this dataset "
                f"(Keras's data shard: {self._keras_shard} when the epoch began, "
                f"{keras_shard} now). Set the distribution before building the dataset."
            )
        self._plan_shards(keras_shard)
        self._stream.seek(old.epoch)
        self._source.pad_to = self._pad_to
        self._prefetcher.close()
        self._prefetcher = self._new_prefetcher()

    def _host_index(self, index: int) -> int:
        """This process's batch of `ds[index]` outside an epoch.

        Under Keras's sharding `len(ds)` counts the batches of all processes,
        and Keras asks this one for `index = step * count + data_shard_id`:
        batch `index // count` of its own.
        """
        return self._stream.check_index(index, len(self)) // self._keras_count

    @property
    def _keras_count(self) -> int:
        """How many processes' batches `len(ds)` counts: Keras's shard count when Keras
        shards the dataset, else 1."""
        return 1 if self._keras_shard is None else self._keras_shard[1]

    # -- the arguments, as given --------------------------------------------

    @property
    def batch_size(self) -> int:
        """Samples per batch."""
        return self.spec.batch_size

    @property
    def shuffle(self) -> bool:
        """Whether epochs are shuffled."""
        return self.spec.shuffle

    @property
    def drop_remainder(self) -> bool:
        """Whether the last, smaller batch of an epoch is left out (see the class)."""
        return self.spec.drop_remainder

    @property
    def pad_remainder(self) -> bool:
        """Whether the last batch is padded to `batch_size` (see the class)."""
        return self.spec.pad_remainder

    @property
    def on_error(self) -> Literal["raise", "skip"]:
        """`'raise'` or `'skip'` a sample that fails to load."""
        return self.spec.on_error

    @property
    def cache(self) -> PackedCache | None:
        """The `PackedCache`, or `None`."""
        return self._source.cache

    # -- the PyDataset protocol ---------------------------------------------

    def __len__(self) -> int:
        # Under Keras's sharding, it asks for every `count`-th of all processes' batches.
        return self._stream.num_batches * self._keras_count

    @property
    def num_batches(self) -> int:
        """`len(ds)`; Keras reads it before each epoch, when the dataset follows Keras's shard."""
        self._follow_keras_shard()
        return len(self)

    def __getitem__(self, index: int) -> Batch:
        """A batch: `(x, y)`, `(x, y, weight)` with weights, or `x` alone without labels.

        Outside an epoch driven by Keras (or by iterating the dataset), batch
        `index` of the current epoch. Inside one, the next batch of the
        dataset's own order, whatever `index` Keras asks for: every batch once
        per epoch, in an order that depends only on `seed`.
        """
        index = self._host_index(index)
        stream = self._stream
        if self._epochs.driven:
            return self._serve(stream.plan(*stream.next()), ahead=True)
        self._epochs.indexed = True
        return self._serve(stream.plan(stream.epoch, index))

    def batch_rows(self, index: int, epoch: int | None = None) -> npt.NDArray[np.integer]:
        """Manifest row positions of batch `index` of an epoch (by default the current one)."""
        index = self._stream.check_index(index)
        return self._stream.rows(self._stream.epoch if epoch is None else epoch, index)

    def _serve(self, plan: BatchPlan, ahead: bool = False) -> Batch:
        """The batch of `plan`: taken from the prefetcher (with `ahead`, when it loaded it
        ahead) or loaded now, then assembled. The one way a batch is served."""
        source = self._source
        try:
            loaded = None
            if ahead and self._prefetch_depth:
                upcoming = self._stream.upcoming(self._prefetch_depth)
                loaded = self._prefetcher.take(plan.key, upcoming)
            if loaded is None:
                loaded = source.load(plan)
            batch, skipped = source.assemble(plan, loaded)
        except SampleError:
            self.close()  # training stops here: leave no loading thread or process behind
            raise
        if skipped:
            self._skipped.record(skipped, plan.key)
        self._served.record(plan, [position for position, _ in loaded.failures])
        return batch

    def __iter__(self) -> Iterator[Batch]:
        """Yields the rest of the current epoch, in the dataset's order, then moves on.

        The rest is the whole epoch, but after `set_state` (or a loop left
        with `break`): then the batches of the epoch not yet served, and the
        next `for` serves a whole epoch. A row is never served twice.
        """
        return _one_epoch(self, self._stream.batches_in(self.epoch) - self.position)

    def on_epoch_begin(self) -> None:
        self._epochs.begin(self._stream)

    def on_epoch_end(self) -> None:
        self._end_epoch(epoch_end_kind(self))

    def _end_epoch(self, kind: EpochEnd) -> None:
        """Ends an epoch; `kind` says who ended it (`kdataset.training.driving.epoch_end_kind`)."""
        if self._epochs.end(self._stream, kind):
            self._prefetcher.reset()
        self._skipped.warn()

    # -- position, state and resuming ----------------------------------------

    @property
    def epoch(self) -> int:
        """The epoch of the next batch, counted from 0."""
        return self._stream.epoch

    @property
    def position(self) -> int:
        """How many batches of the current epoch have been served."""
        return self._stream.position

    def set_epoch(self, epoch: int) -> None:
        """Starts epoch `epoch` from its first batch (for custom training loops)."""
        self._stream.seek(epoch)
        self._prefetcher.reset()

    def get_state(self) -> StreamState:
        """Where the dataset stands, as small plain data (JSON-safe).

        Returns:
            A dict with `epoch`, `position` (batches of that epoch already
            served), `seed`, and what the state belongs to (`num_samples`,
            `batch_size`, `fingerprint` of the ids and labels).
        """
        return self._stream.get_state()

    def state_at(self, epoch: int, position: int) -> StreamState:
        """The state of batch `position` of `epoch` (it may run past the epoch's end).

        For checkpoints: a callback knows which batches the model has trained on,
        while the dataset may have loaded some ahead.
        """
        return self._stream.state_at(epoch, position)

    def set_state(self, state: Mapping[str, object]) -> None:
        """Continues from a `get_state()`: the next batches are exactly those not yet served.

        Raises:
            ValueError: the state is of another manifest (other ids or labels),
                batch size or number of samples.
        """
        self._stream.set_state(state)
        self.seed = self._stream.seed
        self._prefetcher.reset()

    # -- auditing: every row once across hosts -----------------------------

    def served_digest(self, epoch: int | None = None) -> str:
        """A digest of the ids this dataset (this host) served in `epoch` (by default the
        current one), as text: `"count:hash"`.

        Each batch counts once however often it was read, and a sample skipped
        with `on_error="skip"` is not served. Digests of disjoint parts add up:
        `kd.IdDigest.combine([kd.IdDigest.parse(t) for t in texts])` over every
        host's text equals `epoch_digest(epoch)` exactly when the hosts served
        every row of the epoch once between them. The served rows of the last
        two epochs are kept.
        """
        epoch = self.epoch if epoch is None else check_int("epoch", epoch, 0)
        return str(self._digest(self._served.rows(epoch)))

    def epoch_digest(self, epoch: int | None = None) -> str:
        """The digest of the ids that all hosts together serve in `epoch`: every row of the
        epoch's order (each once; with balanced sampling, the draws), but the rows that
        `drop_remainder` leaves out of every host."""
        epoch = self.epoch if epoch is None else check_int("epoch", epoch, 0)
        order = self._stream.order(epoch)
        stream = self._stream
        served = stream.epoch_offset(epoch) + stream.batches_in(epoch) * stream.global_batch_size
        return str(self._digest(order[: min(len(order), served)]))

    def _digest(self, rows: npt.NDArray[np.integer]) -> IdDigest:
        if self._id_hashes is None:
            self._id_hashes = id_hashes(self._ids)
        return IdDigest().add(self._id_hashes[rows])

    def rest_of_epoch(self) -> _RestOfEpoch:
        """This epoch's batches not yet served, as a dataset of their own.

        After `set_state`, fit on it first so that Keras's epochs stay in step:
        `model.fit(ds.rest_of_epoch(), epochs=ds.epoch + 1, initial_epoch=ds.epoch)`,
        then `model.fit(ds, epochs=..., initial_epoch=ds.epoch)`.
        """
        return _RestOfEpoch(self)

    # -- labels ----------------------------------------------------------------

    @property
    def classes(self) -> list[Label] | None:
        """Class names in index order, or `None` without labels."""
        return None if self.label_encoder is None else self.label_encoder.classes

    @property
    def ids(self) -> list[str]:
        """Sample ids, in manifest order."""
        return list(self._ids)

    def class_weight(self) -> dict[int, float]:
        """Balanced class weights, `{class_index: weight}`, for `model.fit(class_weight=...)`.

        Raises:
            ValueError: without labels, or for multi-hot labels (Keras argmaxes
                2-D targets, so weights per class cannot work there).
        """
        targets, encoder = self._class_targets, self.label_encoder
        if targets is None or encoder is None:
            if self.spec.outputs is not None:
                raise ValueError(
                    "`class_weight()` weighs classes: it needs one output of class labels "
                    f"(kd.Labels). This dataset's outputs are {self._output_kinds}; "
                    "regression and mask targets have no classes."
                )
            raise ValueError("`class_weight()` needs labels: this dataset has `label_mode=None`.")
        if targets.multi_label:
            raise ValueError(
                "`class_weight()` is for single-label data: `fit(class_weight=...)` argmaxes "
                "multi-hot targets, so every row would get its first class's weight."
            )
        return balanced_class_weights(targets.indices, encoder)

    def close(self) -> None:
        """Stops the loading threads or processes (they restart when needed)."""
        # Loads in processes are waited for: one left running would start a new pool.
        self._prefetcher.close(wait=self.use_processes)
        self._source.close()

    def __repr__(self) -> str:
        labels = (
            f"label_mode={self.label_mode!r}, classes={len(self.classes)}"
            if self.classes
            else "no labels"
        )
        if self.spec.inputs is not None:
            x = "inputs " + ", ".join(map(repr, self._source.x_names))
        else:
            dtype = "" if self.sample_dtype is None else f" {self.sample_dtype.name}"
            x = f"x {self.sample_shape}{dtype}"
        if self.spec.outputs is not None:
            labels = "outputs " + ", ".join(map(repr, self._source.y_names))
        return (
            f"<{type(self).__name__} {self.num_samples} samples, {len(self)} batches of "
            f"{self.batch_size}, {x}, {labels}>"
        )


def _one_epoch(
    dataset: ManifestDataset | _RestOfEpoch,
    count: int,
    _finalizing: Callable[[], bool] = sys.is_finalizing,
) -> Iterator[Batch]:
    """`count` batches of `dataset`, between its `on_epoch_begin` and `on_epoch_end`.

    Inside the epoch the dataset serves its own next batch whatever the index.
    An iteration left unfinished (a `break`) ends the epoch where it stands;
    one still open when the interpreter exits is left alone (its modules are
    being torn down; nothing is left to end).
    """
    dataset.on_epoch_begin()
    try:
        for index in range(count):
            yield dataset[index]
    finally:
        if not _finalizing():
            dataset.on_epoch_end()


def _fingerprint(ids: Sequence[str], read: ReadManifest, spec: DatasetSpec) -> str:
    """What a saved state must match: the ids, the targets and what shapes the order."""
    digest = hashlib.sha256()
    digest.update("\0".join(ids).encode())
    for part in read.outputs:
        digest.update(repr(part.name).encode())
        if isinstance(part, LabelPart) and part.targets is not None:
            digest.update(part.targets.digest())
        elif isinstance(part, NumberPart) and part.values is not None:
            digest.update(part.values.tobytes())
    digest.update(f"{spec.shuffle}:{spec.drop_remainder}:{spec.sampling}".encode())
    return digest.hexdigest()[:16]


class _RestOfEpoch(keras.utils.PyDataset):
    """The batches of a dataset's current epoch not yet served (see `rest_of_epoch`)."""

    def __init__(self, dataset: ManifestDataset) -> None:
        super().__init__()
        self.dataset = dataset
        self._start = (dataset.epoch, dataset.position)

    def _host_batches(self) -> int:
        epoch, position = self._start
        return self.dataset._stream.batches_in(epoch) - position

    def __len__(self) -> int:
        return self._host_batches() * self.dataset._keras_count

    def __getitem__(self, index: int) -> Batch:
        dataset = self.dataset
        index = operator.index(index)
        if not 0 <= index < len(self):
            raise IndexError(
                f"Batch index out of range: expected 0 <= index < {len(self)}. "
                f"Received: index={index}"
            )
        stream = dataset._stream
        if dataset._epochs.driven:
            return dataset._serve(stream.plan(*stream.next()), ahead=True)
        epoch, start = self._start
        return dataset._serve(stream.plan(epoch, start + index // dataset._keras_count))

    def __iter__(self) -> Iterator[Batch]:
        return _one_epoch(self, self._host_batches())

    def on_epoch_begin(self) -> None:
        self.dataset.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.dataset._end_epoch(epoch_end_kind(self))


__all__ = ["ManifestDataset", "SkippedSamplesWarning"]
