"""kdataset's API as a user's script uses it, for the type checker (`tox -e lint` runs mypy).

Never run: each function is what a user writes, and `assert_type` pins what a
type checker must infer, so a wrong or missing annotation fails lint.
"""

from __future__ import annotations

from typing import assert_type

import numpy as np
import numpy.typing as npt
import pandas as pd

import kdataset as kd


def train_from_a_manifest() -> None:
    train = kd.ManifestDataset(
        "train.csv",
        batch_size=32,
        path_template="data/{id}.npy",
        label_column="label",
        seed=7,
        pad_remainder=True,
        shard="auto",
    )
    assert_type(len(train), int)
    assert_type(train.num_samples, int)
    assert_type(train.epoch, int)
    classes = train.classes
    if classes is not None:
        names: list[str] = [str(c) for c in classes]
        print(names)
    encoder = train.label_encoder
    if encoder is not None:
        encoder.save("classes.json")
    weights = train.class_weight()
    assert_type(weights, dict[int, float])
    state = train.get_state()
    assert_type(state["epoch"], int)
    resumed = kd.ManifestDataset("train.csv", batch_size=32, path_template="data/{id}.npy")
    resumed.set_state(state)
    assert_type(resumed.served_digest(0), str)
    for batch in resumed:
        print(batch)
    resumed.close()


def named_inputs_and_images() -> None:
    ds = kd.ManifestDataset(
        pd.DataFrame({"id": ["1"], "image": ["a.jpg"], "age": [3.0], "kind": ["cat"]}),
        batch_size=8,
        inputs={"image": kd.Files("image", loader=kd.ImageLoader(image_size=(64, 64)))},
        outputs={"age": kd.Numbers("age"), "kind": kd.Labels("kind", mode="int")},
        transform=lambda sample, rng: {k: v + rng.normal() for k, v in sample.items()},
    )
    print(ds)


def labels_and_splits() -> None:
    encoder = kd.LabelEncoder().fit(["cat", "dog", "cat"])
    assert_type(encoder, kd.LabelEncoder)
    indices = encoder.encode(["dog", "cat"])
    assert_type(indices, np.ndarray)
    print(encoder.decode(indices))
    print(kd.class_weights(["cat", "dog", "cat"]))
    splits = kd.split_manifest("train.csv", val=0.2, stratify="label", seed=0)
    assert_type(splits, dict[str, pd.DataFrame])
    splits["train"].to_csv("train_split.csv", index=False)
    problems = kd.validate_manifest("train.csv", path_template="data/{id}.npy")
    for problem in problems:
        assert_type(problem, kd.Problem)
    digest = kd.IdDigest.of(["a", "b"])
    assert_type(kd.IdDigest.combine([digest, kd.IdDigest.parse(str(digest))]), kd.IdDigest)
    order = kd.epoch_order(10, seed=3, epoch=1)
    assert_type(order, npt.NDArray[np.int32 | np.int64])


def a_loader_of_your_own() -> None:
    def read(path: str) -> np.ndarray:
        return np.asarray(np.load(path), dtype=np.float32)

    loader = kd.FunctionLoader(read, releases_gil=True)
    kd.ManifestDataset("train.csv", batch_size=4, loader=loader, label_mode="int")
    kd.ManifestDataset("train.csv", batch_size=4, loader=read, label_mode="int")


def a_cache_built_ahead() -> None:
    report = kd.build_cache(
        "train.csv",
        "train.kdcache",
        path_template="images/{id}.jpg",
        loader=kd.ImageLoader(image_size=(224, 224), dtype="uint8"),
    )
    assert_type(report, kd.CacheReport)
    assert_type(report.complete, bool)
    kd.ManifestDataset(
        "train.csv",
        batch_size=64,
        path_template="images/{id}.jpg",
        loader=kd.ImageLoader(image_size=(224, 224), dtype="uint8"),
        cache="train.kdcache",
    )
