"""Real `model.fit`, `evaluate` and `predict` runs on the active backend.

Exactly-once is checked by what the model received: each sample's label is its
own class, and a metric adds up the one-hot targets the model was given.
"""

import keras
import numpy as np
import pytest

import kdataset as kd
from tests.conftest import write_samples
from tests.spy import HeldNpyLoader

N = 53


class RowCounter(keras.metrics.Metric):
    """Counts, per row, how often the model was trained or evaluated on it."""

    def __init__(self, n, **kwargs):
        super().__init__(name="row_counts", **kwargs)
        self.counts = self.add_variable(shape=(n,), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.counts.assign_add(keras.ops.sum(keras.ops.cast(y_true, "float32"), axis=0))

    def result(self):
        return keras.ops.sum(self.counts)


def _dataset(tmp_path, **kwargs):
    ids = [f"{i:04d}" for i in range(N)]
    manifest = write_samples(tmp_path, N, labels=ids, ids=ids)
    if kwargs.get("use_multiprocessing"):  # .npy files held in the GIL, so loaded by processes
        kwargs["loader"] = HeldNpyLoader()
    return kd.ManifestDataset(manifest, batch_size=8, path_template="data/{id}.npy", **kwargs)


def _model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(N, activation="softmax")])
    counter = RowCounter(N)
    model.compile("sgd", "categorical_crossentropy", metrics=[counter])
    return model, counter


@pytest.mark.parametrize(
    "workers,processes", [(1, False), (2, False), (2, True)], ids=["single", "threads", "processes"]
)
def test_fit_sees_every_row_once_per_epoch(tmp_path, workers, processes):
    ds = _dataset(tmp_path, seed=1, workers=workers, use_multiprocessing=processes)
    model, counter = _model()
    counts = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            counts.append(keras.ops.convert_to_numpy(counter.counts).copy())

    try:
        model.fit(ds, epochs=3, verbose=0, callbacks=[Record()])
    finally:
        ds.close()
    assert len(counts) == 3
    for epoch_counts in counts:
        assert epoch_counts.tolist() == [1.0] * N
    assert ds.epoch == 3


def test_epochs_are_shuffled_differently_inside_fit(tmp_path):
    ds = _dataset(tmp_path, seed=4)
    orders = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            orders.append(kd.epoch_order(ds.num_samples, ds.seed, ds.epoch).tolist())

    model, _ = _model()
    model.fit(ds, epochs=2, verbose=0, callbacks=[Record()], shuffle=False)
    assert orders[0] != orders[1]
    assert orders[0] == kd.epoch_order(N, 4, 0).tolist()


@pytest.mark.parametrize(
    "workers,processes", [(1, False), (2, False), (2, True)], ids=["single", "threads", "processes"]
)
def test_evaluate_and_predict_see_every_row_once(tmp_path, workers, processes):
    settings = {"workers": workers, "use_multiprocessing": processes}
    ds = _dataset(tmp_path, seed=3, **settings)
    model, counter = _model()
    model.evaluate(ds, verbose=0)
    ds.close()
    assert keras.ops.convert_to_numpy(counter.counts).tolist() == [1.0] * N
    pred_ds = _dataset(tmp_path, shuffle=False, label_column=None, **settings)
    predictions = model.predict(pred_ds, verbose=0)
    pred_ds.close()
    assert predictions.shape == (N, N)
    expected = model.predict(np.stack([np.full(4, i, "float32") for i in range(N)]), verbose=0)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)


def test_fit_learns_and_validates(tmp_path):
    rng = np.random.default_rng(0)
    manifest = write_samples(tmp_path, 64, labels=["neg", "pos"] * 32)
    ds = kd.ManifestDataset(manifest, batch_size=16, seed=0, label_mode="binary")
    # Replace the files with a learnable signal: the sign of the features.
    for i, path in enumerate(ds.manifest.paths):
        sign = 1.0 if ds.label_encoder.decode([i % 2])[0] == "pos" else -1.0
        np.save(path, (sign + 0.1 * rng.standard_normal(4)).astype("float32"))
    ds = kd.ManifestDataset(manifest, batch_size=16, seed=0, label_mode="binary")
    val = kd.ManifestDataset(manifest, batch_size=16, shuffle=False, label_mode="binary")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(
        ds, validation_data=val, epochs=5, verbose=0, class_weight=ds.class_weight()
    )
    assert history.history["val_accuracy"][-1] == 1.0


def test_predict_on_a_model_never_built_keeps_the_rows_in_order(tmp_path):
    # JAX's predict reads one batch to build the model, then starts over.
    ds = _dataset(tmp_path, shuffle=False, label_column=None)
    model = keras.Sequential([keras.layers.Dense(N)])
    predictions = model.predict(ds, verbose=0)
    expected = model.predict(np.stack([np.full(4, i, "float32") for i in range(N)]), verbose=0)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
