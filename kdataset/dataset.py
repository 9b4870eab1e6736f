"""`ManifestDataset`: a CSV manifest as a `keras.utils.PyDataset`."""

from __future__ import annotations

import math
import operator
import pickle
import random

import keras
import numpy as np

from kdataset._parallel import ChunkError, ParallelLoader
from kdataset.errors import ManifestError, SampleError
from kdataset.labels import class_weights
from kdataset.order import epoch_order
from kdataset.validate import check_manifest


def _check_int(name, value, minimum, allow_none=False):
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        expected = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"Invalid `{name}`: expected {expected}. Received: {name}={value!r}")
    return int(value)


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
        workers: Threads (or processes) that load each batch together.
        use_multiprocessing: Load with worker processes instead of threads,
            for loaders that are heavy in Python. The loader must pickle.
            Processes start with forkserver (spawn where there is none), never
            fork, so they are safe beside JAX and TensorFlow; guard your
            script's entry point with `if __name__ == "__main__":`.
        max_queue_size: Accepted for compatibility with `PyDataset`. kdataset
            does its parallel loading inside each batch and presents itself
            to Keras as a single worker (`ds.workers == 1`), because Keras's
            own worker queue replays batches across epochs.

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
        workers=1,
        use_multiprocessing=False,
        max_queue_size=10,
    ):
        # Keras sees one worker: its enqueuer would replay batches across epochs.
        super().__init__(workers=1, use_multiprocessing=False, max_queue_size=max_queue_size)
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.num_workers = _check_int("workers", workers, 0) or 1
        self.seed = _check_int("seed", seed, 0, allow_none=True)
        if self.seed is None:
            self.seed = random.randrange(2**31)
        self.shuffle = bool(shuffle)
        self.drop_remainder = bool(drop_remainder)
        self.use_processes = bool(use_multiprocessing)

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
        self.sample_shape, self.sample_dtype = checked.sample_shape, checked.sample_dtype
        if self.use_processes:
            try:
                pickle.dumps(self.loader)
            except Exception as e:
                raise ValueError(
                    "`use_multiprocessing=True` needs a loader that pickles (a function defined "
                    f"at module level, not a lambda or a closure). {self.loader!r} does not: {e}"
                ) from None
        self._batches = ParallelLoader(
            self.loader, self.sample_shape, self.sample_dtype, self.num_workers, self.use_processes
        )
        self._epoch = 0
        self._epoch_open = False
        self._served = np.zeros(len(self), dtype=bool)
        self._order = None

    def _sample_error(self, row, error):
        return SampleError(
            error.reason,
            path=self.manifest.paths[row],
            line=self.manifest.where(row),
            id=self.manifest.id_of(row),
        )

    # -- the PyDataset protocol -------------------------------------------

    def __len__(self):
        if self.drop_remainder:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    @property
    def num_batches(self):
        return len(self)

    def _epoch_rows(self):
        order = self._order
        if order is None or order[0] != self._epoch:
            rows = epoch_order(self.num_samples, self.seed, self._epoch, self.shuffle)
            order = self._order = (self._epoch, rows)
        return order[1]

    def batch_rows(self, index):
        """Manifest row positions of batch `index` in the current epoch."""
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
        return self._epoch_rows()[start : start + self.batch_size]

    def __getitem__(self, index):
        """Batch `index` of the current epoch: `(x, y)`, or `x` without labels."""
        rows = self.batch_rows(index)
        paths = [self.manifest.paths[r] for r in rows]
        try:
            x = self._batches.load(paths)
        except ChunkError as e:
            raise self._sample_error(int(rows[e.position]), e.error) from None
        if self._epoch_open:
            self._served[index] = True
        if self._targets is None:
            return x
        if self._weights is None:
            return x, self._targets[rows]
        return x, self._targets[rows], self._weights[rows]

    def __iter__(self):
        """Yields the batches of one epoch, then moves on to the next epoch."""
        self.on_epoch_begin()
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def on_epoch_begin(self):
        self._epoch_open = True

    def on_epoch_end(self):
        # The order moves to the next epoch once every batch of this one has been
        # served inside on_epoch_begin/on_epoch_end. Keras also opens an epoch to
        # read a single batch when it builds a model, and ends one before the
        # first epoch without beginning it; neither may use up an epoch's order.
        # An epoch cut short by `steps_per_epoch` carries on where it stopped.
        if self._epoch_open and self._served.all():
            self._epoch += 1
            self._served[:] = False
        self._epoch_open = False

    # -- public helpers -----------------------------------------------------

    @property
    def epoch(self):
        """The epoch whose order `ds[i]` serves, counted from 0."""
        return self._epoch

    def set_epoch(self, epoch):
        """Sets the epoch whose order `ds[i]` serves (for custom training loops)."""
        self._epoch = _check_int("epoch", epoch, 0)
        self._epoch_open = False
        self._served[:] = False

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
        self._batches.close()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_order"] = None
        return state

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


__all__ = ["ManifestDataset"]
