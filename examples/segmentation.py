"""Train a segmentation model on images and masks, augmented by Albumentations.

The script draws its own data: each image is a noisy background with disks
(class 1) and squares (class 2) on it, saved as a PNG, and its mask is a
palette PNG of class indices (0 for the background), as segmentation data
usually sits on disk:

    DATA_DIR/images/0000.png  DATA_DIR/masks/0000.png ...
    DATA_DIR/manifest.csv     id,image,mask

It trains a small fully convolutional network through

    kd.ManifestDataset(
        "train.csv",
        inputs=kd.Files("image", loader=kd.ImageLoader((64, 64))),
        outputs=kd.Files("mask", loader=kd.MaskLoader((64, 64))),
        transform=Albumentations(A.Compose([A.HorizontalFlip(), A.RandomRotate90()])),
    )

`kd.MaskLoader` resizes masks with nearest neighbour, so classes stay classes,
and the transform moves each image and its mask together. Albumentations
draws from the NumPy `Generator` kdataset hands to each sample (derived from
the seed, the epoch and the sample's place in the epoch's order), so the
augmentation is the same on every backend, with any number of loading
threads, and new in each epoch.

The full run reaches a pixel accuracy above 0.99 on the validation images
(the shapes differ in colour: the point is the pipeline, not the task) in
some 30 s of training on two CPU cores.

    KERAS_BACKEND=jax python examples/segmentation.py
    KERAS_BACKEND=torch python examples/segmentation.py --rows 200 --epochs 3
"""

import argparse
import copy
import os
import random
import sys
import threading

import numpy as np
import pandas as pd
from PIL import Image

SIDE = 64
CLASSES = 3  # background, disk, square


class Albumentations:
    """An Albumentations pipeline as a kdataset `transform`: `fn(sample, rng) -> sample`.

    It draws from kdataset's `Generator` for the sample, never from its own
    state, so the same seed gives the same augmentation everywhere. Each
    loading thread runs a copy of the pipeline (a pipeline holds the state of
    its current draw).

    Args:
        pipeline: An `albumentations.Compose`.
        image: The name of the image in the sample (`"x"` for the one input).
        mask: The name of the mask (`"y"` for the one output), or `None`.
    """

    def __init__(self, pipeline, image="x", mask="y"):
        self.pipeline, self.image, self.mask = pipeline, image, mask
        self._local = threading.local()

    def __call__(self, sample, rng):
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is None:
            pipeline = self._local.pipeline = copy.deepcopy(self.pipeline)
        pipeline.set_random_state(rng, random.Random(int(rng.integers(2**63))))
        given = {"image": sample[self.image]}
        if self.mask is not None:
            given["mask"] = sample[self.mask]
        out = pipeline(**given)
        result = {self.image: out["image"]}
        if self.mask is not None:
            result[self.mask] = out["mask"]
        return result


def make_data(folder, rows, seed=0):
    """Writes `rows` images and palette masks of disks and squares; returns the manifest."""
    rng = np.random.default_rng(seed)
    for name in ("images", "masks"):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    palette = [0, 0, 0, 230, 60, 60, 60, 120, 230] + [0] * (768 - 9)
    records = []
    for i in range(rows):
        mask = np.zeros((SIDE, SIDE), np.uint8)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.integers(8, SIDE - 8, size=2)
            r = rng.integers(5, 12)
            if rng.random() < 0.5:
                mask[(yy - cy) ** 2 + (xx - cx) ** 2 <= r**2] = 1
            else:
                mask[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = 2
        colour = np.array([[40, 40, 40], [200, 80, 80], [80, 140, 220]], np.float32)
        pixels = colour[mask] + rng.normal(0, 25, (SIDE, SIDE, 3))
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
            os.path.join(folder, "images", f"{i:04d}.png")
        )
        indexed = Image.fromarray(mask, mode="P")
        indexed.putpalette(palette)
        indexed.save(os.path.join(folder, "masks", f"{i:04d}.png"))
        records.append(
            {"id": f"{i:04d}", "image": f"images/{i:04d}.png", "mask": f"masks/{i:04d}.png"}
        )
    manifest = os.path.join(folder, "manifest.csv")
    pd.DataFrame(records).to_csv(manifest, index=False)
    return manifest


def build_model(keras):
    image = keras.Input((SIDE, SIDE, 3))
    h = keras.layers.Rescaling(1 / 255)(image)
    for filters in (16, 32, 32):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
    logits = keras.layers.Conv2D(CLASSES, 1)(h)
    model = keras.Model(image, logits)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="segmentation_data")
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--min-accuracy", type=float, default=0.9)
    args = parser.parse_args()

    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network call on import
    import albumentations as A
    import keras

    import kdataset as kd

    keras.utils.set_random_seed(0)
    print(f"backend: {keras.backend.backend()}")
    manifest = make_data(args.data_dir, args.rows)
    splits = kd.split_manifest(manifest, val=0.2, seed=0)
    for name in ("train", "val"):
        splits[name].to_csv(os.path.join(args.data_dir, f"{name}.csv"), index=False)

    augment = Albumentations(
        A.Compose(
            [
                A.HorizontalFlip(p=0.5),
                A.VerticalFlip(p=0.5),
                A.RandomRotate90(p=0.5),
            ]
        )
    )

    def dataset(name, **kwargs):
        return kd.ManifestDataset(
            os.path.join(args.data_dir, name),
            batch_size=16,
            inputs=kd.Files("image", loader=kd.ImageLoader((SIDE, SIDE))),
            outputs=kd.Files("mask", loader=kd.MaskLoader((SIDE, SIDE))),
            **kwargs,
        )

    train = dataset("train.csv", transform=augment, seed=0)
    val = dataset("val.csv", shuffle=False)
    print(train)
    model = build_model(keras)
    model.fit(train, validation_data=val, epochs=args.epochs, verbose=2)
    accuracy = model.evaluate(val, return_dict=True, verbose=0)["accuracy"]
    print(f"validation accuracy: {accuracy:.3f}")
    if accuracy < args.min_accuracy:
        print(f"below --min-accuracy {args.min_accuracy}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
