"""How Keras drives a PyDataset, on the installed Keras (3.15, or 3.16 in the keras-nightly env).

Canaries: they drive Keras's own `fit`, `EpochIterator` and `PyDatasetAdapter`,
so a Keras that ends epochs or shards datasets differently fails them (and any
unknown caller of `on_epoch_end` is an error in this suite, through the
`KerasDrivingWarning` filter in pyproject.toml).
"""

import warnings

import keras
import numpy as np
import pytest
from keras.src.distribution.distribution_lib import Distribution
from keras.src.trainers.epoch_iterator import EpochIterator

import kdataset as kd
import kdataset.training.dataset
import kdataset.training.sharding
from kdataset.training import driving
from tests.conftest import row_of

KERAS_316 = driving.keras_version() >= (3, 16)


def test_the_installed_keras_is_one_that_is_tested():
    major, minor = driving.keras_version()
    assert f"{major}.{minor}" in driving.TESTED_KERAS


def _recording(monkeypatch):
    kinds = []
    original = driving.epoch_end_kind

    def record(dataset, depth=2):
        kinds.append(original(dataset, depth))
        return kinds[-1]

    monkeypatch.setattr(kdataset.training.dataset, "epoch_end_kind", record)
    return kinds


def test_fit_evaluate_and_predict_end_epochs_only_from_known_callers(samples, monkeypatch):
    kinds = _recording(monkeypatch)
    train = kd.ManifestDataset(samples(22), batch_size=5, seed=4)
    val = kd.ManifestDataset(samples(9), batch_size=4, seed=1, shuffle=False)
    model = keras.Sequential([keras.Input(train.sample_shape), keras.layers.Flatten()])
    model.add(keras.layers.Dense(len(train.classes), activation="softmax"))
    model.compile("sgd", "categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", driving.KerasDrivingWarning)
        model.fit(train, validation_data=val, epochs=2, verbose=0)
        model.evaluate(val, verbose=0)
        predictions = model.predict(val, verbose=0)
    assert set(kinds) <= {"end", "abandon"} and "end" in kinds
    assert len(predictions) == 9
    # Every row once per epoch, and the dataset's epochs are fit's.
    assert train.epoch == 2
    for epoch in range(2):
        assert train.served_digest(epoch) == train.epoch_digest(epoch)


def test_a_custom_loop_ends_its_own_epochs(samples, monkeypatch):
    kinds = _recording(monkeypatch)
    ds = kd.ManifestDataset(samples(10), batch_size=5, seed=2)
    ds[0], ds[1]
    ds.on_epoch_end()
    assert kinds == ["user"] and ds.epoch == 1


def test_keras_reset_abandons_and_keras_end_ends(samples, monkeypatch):
    kinds = _recording(monkeypatch)
    ds = kd.ManifestDataset(samples(10), batch_size=5, seed=2)
    iterator = EpochIterator(ds)
    for _ in iterator:
        break
    iterator.reset()
    assert kinds == ["abandon"] and (ds.epoch, ds.position) == (0, 0)
    for _ in iterator:
        pass
    assert kinds == ["abandon", "end"] and (ds.epoch, ds.position) == (1, 0)


# A Keras of the future: a new function of Keras's ends the epoch.
_FUTURE_KERAS = """
class Adapter:
    def __init__(self, py_dataset):
        self.py_dataset = py_dataset

    def on_epoch_end(self):
        self.py_dataset.on_epoch_end()


def new_epoch_driver(adapter):
    adapter.on_epoch_end()
"""


def test_your_loop_may_end_epochs_through_keras_s_adapter(samples, monkeypatch):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    kinds = _recording(monkeypatch)
    ds = kd.ManifestDataset(samples(10), batch_size=5, seed=2)
    adapter = PyDatasetAdapter(ds)
    for _ in range(2):
        adapter.on_epoch_begin()
        rows = [r for batch in adapter.get_numpy_iterator() for r in row_of(batch[0])]
        adapter.on_epoch_end()
        assert sorted(rows) == list(range(10))
    assert kinds == ["end", "end"] and ds.epoch == 2


def test_an_epoch_ended_by_an_unknown_keras_function_warns_loudly(samples):
    namespace = {"__name__": "keras.src.trainers.future"}
    exec(compile(_FUTURE_KERAS, "future.py", "exec"), namespace)
    ds = kd.ManifestDataset(samples(10), batch_size=5, seed=2)
    with pytest.warns(driving.KerasDrivingWarning, match="new_epoch_driver"):
        namespace["new_epoch_driver"](namespace["Adapter"](ds))


def test_an_untested_keras_version_warns(monkeypatch):
    monkeypatch.setattr(driving, "_warned_version", False)
    monkeypatch.setattr(keras, "version", lambda: "3.17.0")
    with pytest.warns(driving.KerasDrivingWarning, match=r"tested with Keras 3\.15 and 3\.16"):
        driving.warn_if_untested()


class _OneProcessOf(Distribution):
    """A distribution as process `shard_id` of `count` sees it: what `PyDatasetAdapter`
    reads of one (`auto_shard_dataset`, `num_data_shards`, `data_shard_id`).

    `DataParallel` takes these from `jax.distributed`, and needs a backend with
    a distribution library (not torch on Keras 3.15); the multi-process tests in
    test_multihost.py run the real thing on JAX.
    """

    def __init__(self, shard_id, count, auto_shard_dataset=True):
        super().__init__(None, auto_shard_dataset=auto_shard_dataset)
        self._shard = (shard_id, count)

    @property
    def num_data_shards(self):
        return self._shard[1]

    @property
    def data_shard_id(self):
        return self._shard[0]


def _drive(ds, epochs):
    """Rows served per epoch when Keras's EpochIterator drives `ds` (with a build read)."""
    iterator = EpochIterator(ds)
    for _ in iterator:  # the build read, as fit does, then the epoch is abandoned
        break
    iterator.reset()
    served = []
    for _ in range(epochs):
        rows = []
        for _, _, data in iterator:
            for batch in data:
                weight = batch[2] if len(batch) == 3 else np.ones(len(batch[0]))
                rows += [r for r, w in zip(row_of(batch[0]), weight) if w > 0]  # not padding
        served.append(rows)
    return served


@pytest.mark.parametrize("built_under_the_distribution", [True, False])
def test_keras_sharding_splits_each_epoch_between_processes(samples, built_under_the_distribution):
    # 23 rows, 4 per process: 3 global steps of 8. Keras 3.16 asks each process for every
    # other batch; kdataset takes Keras's shard, so the processes take as many steps and
    # serve each row of an epoch once between them. Keras 3.15 does not shard.
    manifest = samples(23)
    served, steps = [], []
    for shard_id in range(2):
        distribution = _OneProcessOf(shard_id, 2)
        if not built_under_the_distribution:
            ds = kd.ManifestDataset(manifest, batch_size=4, seed=6, shard="auto")
        with distribution.scope():
            if built_under_the_distribution:
                ds = kd.ManifestDataset(manifest, batch_size=4, seed=6, shard="auto")
            epochs = _drive(ds, 2)
        served.append(epochs)
        steps.append(ds.epoch)
        if KERAS_316:
            assert ds.shard == (shard_id, 2)
            assert len(ds) == 6  # the batches of both processes; Keras asks for 3 of them
    if KERAS_316:
        for epoch in range(2):
            rows = served[0][epoch] + served[1][epoch]
            assert sorted(rows) == list(range(23))  # each row once, between the processes
            order = kd.epoch_order(23, 6, epoch).tolist()
            # Host h takes rows [8 * step + 4 * h, + 4) of the epoch's order, padded.
            assert served[1][epoch][:4] == order[4:8]
        assert steps == [2, 2]
    else:
        for shard_id in range(2):  # Keras 3.15 asks every process for every batch
            assert served[shard_id] == [kd.epoch_order(23, 6, e).tolist() for e in range(2)]


def test_a_shard_that_disagrees_with_keras_is_refused(samples):
    manifest = samples(16)
    with _OneProcessOf(1, 2).scope():
        if not KERAS_316:
            ds = kd.ManifestDataset(manifest, batch_size=4, shard=(0, 2))
            assert ds.shard == (0, 2)
            return
        with pytest.raises(ValueError, match=r"data shard 1 of 2.*`shard=\(0, 2\)`"):
            kd.ManifestDataset(manifest, batch_size=4, shard=(0, 2))
        assert kd.ManifestDataset(manifest, batch_size=4, shard=(1, 2)).shard == (1, 2)


def test_auto_shard_dataset_false_leaves_sharding_to_kdataset(samples):
    with _OneProcessOf(1, 2, auto_shard_dataset=False).scope():
        ds = kd.ManifestDataset(samples(16), batch_size=4, seed=0)
        assert ds.shard == (0, 1) and len(ds) == 4
        assert sorted(r for epoch in _drive(ds, 1) for r in epoch) == list(range(16))


def test_one_of_several_processes_with_shard_none_is_refused(samples, monkeypatch):
    # No Keras sharding, and this process is one of two (as jax.distributed would say):
    # shard=None would serve every row on both.
    monkeypatch.setattr(kdataset.training.sharding, "engine_shard", lambda: (1, 2))
    manifest = samples(16)
    with pytest.raises(ValueError, match=r"process 1 of 2.*Pass `shard='auto'`"):
        kd.ManifestDataset(manifest, batch_size=4)
    assert kd.ManifestDataset(manifest, batch_size=4, shard="auto").shard == (1, 2)
    ds = kd.ManifestDataset(manifest, batch_size=4, shard=(0, 1))  # the whole, on purpose
    assert ds.shard == (0, 1) and len(ds) == 4
