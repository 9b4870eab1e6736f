"""Resuming training mid-epoch: the model and the dataset's place, saved together."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

import keras

from kdataset.errors import check_int

if TYPE_CHECKING:
    from kdataset.core.stream import StreamState
    from kdataset.training.dataset import ManifestDataset

_STATE = "state.json"


class _Record(TypedDict):
    """What `state.json` holds: the dataset's state, the weights saved with it, and
    Keras's epoch number when they were saved."""

    dataset: StreamState
    weights: str
    keras_epoch: int


class ResumeCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights (with the optimizer's state) and the dataset's place.

    Keras's own `BackupAndRestore` restores the epoch but not the batch, so a run
    resumed mid-epoch sees the first batches again and never the last ones. This
    callback records, beside the weights, the dataset's state after the batches
    the model has trained on; `restore` puts both back, and the dataset then
    serves exactly the batches not yet seen, in the order of an uninterrupted
    run. `fit_resumable` does all of it in one call.

    Files in `directory`: `weights-<step>.weights.h5` and `state.json`, written
    so that a kill at any moment leaves the previous checkpoint whole.

    Args:
        directory: Folder of the checkpoint (created if needed).
        dataset: The `ManifestDataset` being trained on.
        save_every: Save every this many batches, and at every epoch's end.

    Example:

    ```python
    checkpoint = kd.ResumeCheckpoint("run/checkpoint", train, save_every=100)
    model.fit(train, epochs=5, callbacks=[checkpoint])
    ```
    """

    def __init__(
        self, directory: str | os.PathLike[str], dataset: ManifestDataset, save_every: int = 100
    ) -> None:
        super().__init__()
        self.save_every = check_int("save_every", save_every, 1)
        self.directory = os.fspath(directory)
        self.dataset = dataset
        self._epoch = 0
        self._start = (0, 0)
        self._seen = 0

    # -- saving ------------------------------------------------------------------

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        # Keras calls this before the epoch's first batch is read: the dataset
        # stands where the epoch starts.
        self._epoch = epoch
        self._start = (self.dataset.epoch, self.dataset.position)
        self._seen = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, object] | None = None) -> None:
        self._seen = batch + 1
        if self._seen % self.save_every == 0:
            self.save()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, object] | None = None) -> None:
        self.save()

    def save(self) -> None:
        """Writes the weights, then the state that names them, then drops the old weights."""
        os.makedirs(self.directory, exist_ok=True)
        state = self.dataset.state_at(self._start[0], self._start[1] + self._seen)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        weights = f"weights-{step}.weights.h5"
        self.model.save_weights(os.path.join(self.directory, weights))
        previous = self._read_state()
        record: _Record = {"dataset": state, "weights": weights, "keras_epoch": self._epoch}
        temporary = os.path.join(self.directory, _STATE + ".tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        os.replace(temporary, os.path.join(self.directory, _STATE))
        if previous and previous.get("weights") not in (None, weights):
            try:
                os.remove(os.path.join(self.directory, previous["weights"]))
            except OSError:
                pass

    # -- restoring ---------------------------------------------------------------

    def _read_state(self) -> _Record | None:
        path = os.path.join(self.directory, _STATE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            record: _Record = json.load(f)  # as `save` wrote it
        return record

    def exists(self) -> bool:
        """Whether there is a checkpoint to resume from."""
        return self._read_state() is not None

    def restore(self, model: keras.Model) -> int:
        """Loads the weights and optimizer state into `model` and puts the dataset back in place.

        Returns:
            The epoch to continue from (the dataset's `epoch`).
        """
        record = self._read_state()
        if record is None:
            raise FileNotFoundError(f"No checkpoint to resume from in {self.directory!r}")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        model.load_weights(os.path.join(self.directory, record["weights"]))
        self.dataset.set_state(record["dataset"])
        return self.dataset.epoch


def fit_resumable(
    model: keras.Model,
    dataset: ManifestDataset,
    directory: str | os.PathLike[str],
    epochs: int,
    save_every: int = 100,
    callbacks: Iterable[keras.callbacks.Callback] | None = None,
    **fit_kwargs: object,
) -> keras.callbacks.History | None:
    """`model.fit` that resumes, mid-epoch, where a killed run stopped.

    The first call trains from the start and checkpoints every `save_every`
    batches; a call after a crash or a kill (the same script, run again) loads
    the weights and optimizer state, finishes the interrupted epoch with exactly
    the batches it had not trained on, and carries on, so the model sees the
    rows in the order of an uninterrupted run.

    Args:
        model: A compiled Keras model.
        dataset: A `ManifestDataset`.
        directory: The checkpoint folder.
        epochs: Total epochs, as in `fit`.
        save_every: Checkpoint every this many batches.
        callbacks: More callbacks for `fit`.
        **fit_kwargs: Anything else for `fit` (`validation_data`, `verbose`, ...).

    Returns:
        The `History` of the last `fit` call, or `None` when the checkpoint's
        run had already trained all `epochs` (no `fit` call was needed).
    """
    checkpoint = ResumeCheckpoint(directory, dataset, save_every=save_every)
    callbacks = [checkpoint, *(callbacks or [])]
    if checkpoint.exists():
        checkpoint.restore(model)
    history = None
    if dataset.position and dataset.epoch < epochs:
        # Finish the interrupted epoch on its own, so Keras's epochs stay in step; its
        # progress bar counts the run's epochs ("Epoch 2/3", not "Epoch 2/2").
        progress = (
            []
            if any(isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks)
            else [_EpochsOf(epochs)]
        )
        history = model.fit(
            dataset.rest_of_epoch(),
            epochs=dataset.epoch + 1,
            initial_epoch=dataset.epoch,
            callbacks=[*callbacks, *progress],
            **fit_kwargs,
        )
    if dataset.epoch < epochs:
        history = model.fit(
            dataset,
            epochs=epochs,
            initial_epoch=dataset.epoch,
            callbacks=callbacks,
            **fit_kwargs,
        )
    return history


class _EpochsOf(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, counting `epochs` in all (a `fit` of one epoch of a longer run)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self._run_epochs = epochs

    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params({**params, "epochs": self._run_epochs})
