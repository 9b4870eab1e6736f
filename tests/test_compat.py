"""DataGenerator: the classic recipe's signature, on kdataset, under Keras 3."""

import os

import keras
import numpy as np
import pytest

import kdataset as kd


@pytest.fixture
def classic(tmp_path, monkeypatch):
    """The recipe's layout: data/<id>.npy in the working directory, a labels dict."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("data")
    ids = [f"id-{i}" for i in range(45)]
    labels = {sample_id: i % 4 for i, sample_id in enumerate(ids)}
    for i, sample_id in enumerate(ids):
        np.save(f"data/{sample_id}.npy", np.full((2, 3, 2), i, dtype="float32"))
    return ids, labels


def test_classic_call_gives_classic_batches(classic):
    ids, labels = classic
    params = {"dim": (2, 3, 2), "batch_size": 8, "n_classes": 4, "n_channels": 1, "shuffle": True}
    gen = kd.DataGenerator(ids, labels, seed=0, **params)
    x, y = gen[0]
    assert x.shape == (8, 2, 3, 2, 1)
    assert y.shape == (8, 4)
    rows = x.reshape(8, -1)[:, 0].astype(int)
    assert y.argmax(axis=1).tolist() == [r % 4 for r in rows]


def test_the_last_partial_batch_is_kept(classic):
    ids, labels = classic
    gen = kd.DataGenerator(ids, labels, batch_size=8, dim=(2, 3, 2), n_classes=4)
    assert len(gen) == 6 and len(gen[5][0]) == 5
    old = kd.DataGenerator(
        ids, labels, batch_size=8, dim=(2, 3, 2), n_classes=4, drop_remainder=True
    )
    assert len(old) == 5


def test_workers_go_to_the_constructor(classic):
    ids, labels = classic
    gen = kd.DataGenerator(ids, labels, batch_size=8, dim=(2, 3, 2), n_classes=4, workers=2)
    assert gen.num_workers == 2 and gen.workers == 1
    rows = sorted(
        int(v) for i in range(len(gen)) for v in gen[i][0].reshape(len(gen[i][0]), -1)[:, 0]
    )
    assert rows == list(range(45))


def test_fit_trains_with_the_classic_generator(classic):
    ids, labels = classic
    gen = kd.DataGenerator(ids[:40], labels, batch_size=8, dim=(2, 3, 2), n_classes=4, seed=1)
    val = kd.DataGenerator(
        ids[40:], labels, batch_size=8, dim=(2, 3, 2), n_classes=4, shuffle=False
    )
    model = keras.Sequential(
        [
            keras.Input((2, 3, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(gen, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.isfinite(history.history["val_loss"]).all()


def test_padding_weights_and_the_rest_of_an_epoch_keep_the_classic_shape(classic):
    ids, labels = classic
    params = {"batch_size": 8, "dim": (2, 3, 2), "n_classes": 4, "seed": 0}
    padded = kd.DataGenerator(ids, labels, pad_remainder=True, **params)
    x, y, w = padded[5]
    assert x.shape == (8, 2, 3, 2, 1) and y.shape == (8, 4) and w.tolist() == [1] * 5 + [0] * 3
    weighted = kd.DataGenerator(ids, labels, sample_weight="balanced", **params)
    x, y, w = weighted[0]
    assert x.shape == (8, 2, 3, 2, 1) and w.shape == (8,)
    gen = kd.DataGenerator(ids, labels, **params)
    gen.set_state(gen.state_at(0, 2))
    rest = gen.rest_of_epoch()
    assert len(rest) == 4
    assert [b[0].shape for b in rest] == [(8, 2, 3, 2, 1)] * 3 + [(5, 2, 3, 2, 1)]
    model = keras.Sequential(
        [keras.Input((2, 3, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]
    )
    model.compile("sgd", keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(padded, epochs=1, verbose=0)
    model.fit(weighted, epochs=1, verbose=0)


def test_a_custom_loop_reshuffles_the_classic_generator(classic):
    ids, labels = classic
    gen = kd.DataGenerator(ids, labels, batch_size=8, dim=(2, 3, 2), n_classes=4, seed=5)
    epochs = []
    for _ in range(2):
        epochs.append([int(v) for i in range(len(gen)) for v in gen[i][0].reshape(-1, 12)[:, 0]])
        gen.on_epoch_end()
    assert epochs == [kd.epoch_order(45, 5, e).tolist() for e in range(2)]
