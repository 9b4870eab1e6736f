"""`DataGenerator`: the classic Keras data-generator recipe, on kdataset."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import pandas as pd

from kdataset.errors import ManifestError, Problem
from kdataset.training.dataset import ManifestDataset

_Id = TypeVar("_Id", bound=Hashable)


class DataGenerator(ManifestDataset):
    """The classic `keras.utils.Sequence` data generator, working under Keras 3.

    Takes the arguments of the well-known recipe (a list of ids, a dict of
    labels, one `.npy` file per id) and runs on kdataset, so code written for
    the recipe moves over by changing one import. What changes for the better:
    it runs on JAX, TensorFlow and PyTorch; the last, smaller batch is kept
    (the recipe silently dropped it; pass `drop_remainder=True` for the old
    behaviour); shuffling is seeded (`seed=`) instead of using NumPy's global
    state; every id and file is checked up front; `workers` and
    `use_multiprocessing` go to the constructor, as Keras 3 wants, and never
    repeat or skip samples. Samples keep the dtype of their files (the recipe
    converted them to `float64`).

    Before (Keras 2):

    ```python
    class DataGenerator(keras.utils.Sequence):
        def __init__(self, list_IDs, labels, batch_size=32, dim=(32, 32, 32),
                     n_channels=1, n_classes=10, shuffle=True):
            ...  # np.load('data/' + ID + '.npy') per sample, to_categorical
    training_generator = DataGenerator(partition["train"], labels, **params)
    model.fit_generator(generator=training_generator, workers=6)
    ```

    After:

    ```python
    from kdataset import DataGenerator
    training_generator = DataGenerator(partition["train"], labels, **params,
                                       workers=2)
    model.fit(training_generator, epochs=5)
    ```

    Args:
        list_IDs: Sample ids.
        labels: A dict from id to its class index in `[0, n_classes)`.
        batch_size: Samples per batch.
        dim: Shape of one sample, without the channel axis.
        n_channels: Channels per sample; `x` has shape
            `(batch, *dim, n_channels)`.
        n_classes: Number of classes; `y` is one-hot with this width.
        shuffle: Whether to shuffle the samples each epoch.
        path_template: The file of each id, as in the recipe's
            `"data/{id}.npy"`, relative to the working directory or `root_dir`.
        **kwargs: Any other `ManifestDataset` argument (`seed`,
            `drop_remainder`, `workers`, `use_multiprocessing`, ...).
    """

    def __init__(
        self,
        list_IDs: Iterable[_Id],
        labels: Mapping[_Id, int],
        batch_size: int = 32,
        dim: Iterable[int] = (32, 32, 32),
        n_channels: int = 1,
        n_classes: int = 10,
        shuffle: bool = True,
        path_template: str = "data/{id}.npy",
        **kwargs: Any,
    ) -> None:
        ids = list(list_IDs)
        self.list_IDs: Sequence[Hashable] = ids
        # Keyed by the ids, of whatever hashable type the caller gave.
        self.labels: Mapping[Any, int] = labels
        self.dim = tuple(dim)
        self.n_channels = n_channels
        self.n_classes = n_classes
        missing = [i for i in ids if i not in labels]
        if missing:
            raise ManifestError(
                [Problem("no entry in `labels`", id=str(i)) for i in missing],
                source="(list_IDs and labels)",
            )
        frame = pd.DataFrame({"id": [str(i) for i in ids], "label": [labels[i] for i in ids]})
        super().__init__(
            frame,
            batch_size,
            id_column="id",
            label_column="label",
            path_template=path_template,
            classes=list(range(n_classes)),
            label_mode="categorical",
            shuffle=shuffle,
            **kwargs,
        )

    def _x_shape(self, sample_shape: tuple[int, ...] | None) -> tuple[int, ...]:
        """Samples go out as `(*dim, n_channels)`, in every batch the dataset serves."""
        shape = (*self.dim, self.n_channels)
        paths, ids = self.manifest.paths, self.manifest.ids
        # Asked once the manifest is read clean and its first sample loaded.
        assert sample_shape is not None and paths is not None and ids is not None
        if math.prod(sample_shape) != math.prod(shape):
            raise ValueError(
                f"Invalid `dim`/`n_channels`: samples of shape {shape} were asked for, but "
                f"{paths[0]!r} (id {ids[0]!r}) holds shape {tuple(sample_shape)}."
            )
        return shape
