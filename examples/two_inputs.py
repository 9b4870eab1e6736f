"""Train a model with two inputs (an image and numeric features) and two outputs.

A photo alone cannot tell how big a thing is: that depends on how far the
camera was. Each sample here is a PNG of a disk, photographed at a known
`zoom` (a numeric column), and the targets are the disk's true size (a number:
regression) and whether it is `big` or `small` (a class). Neither the image
nor the zoom alone gives the answer; together they do. The script writes:

    DATA_DIR/images/0000.png ...
    DATA_DIR/manifest.csv     id,path,zoom,exposure,size,kind

splits it, and trains a functional model whose inputs are named `image` and
`features` and whose outputs are named `size` and `kind`, as the dataset's:

    kd.ManifestDataset(
        "train.csv",
        inputs={"image": kd.Files("path", loader=kd.ImageLoader((32, 32), color_mode="grayscale")),
                "features": kd.Numbers(["zoom", "exposure"])},
        outputs={"size": kd.Numbers("size"), "kind": kd.Labels("kind", mode="int")},
    )

Augmentation here is Keras's own: a `RandomFlip` layer at the start of the
model (a flip changes nothing of a disk's size), run by the model on every
backend and only while training. For augmentation that must
move a target with the image (a mask), see `segmentation.py` and `transform=`.

The full run reaches about 0.93 validation accuracy on `kind` (a disk near
the threshold is hard to call from a noisy photo) and a mean error of about
half a pixel on `size`, in some 10 s of training on two CPU cores.

    KERAS_BACKEND=jax python examples/two_inputs.py
    KERAS_BACKEND=torch python examples/two_inputs.py --rows 400 --epochs 4
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd
from PIL import Image

SIDE = 32  # pixels of each image
BIG = 6.0  # a disk of true radius above this is "big"


def make_data(folder, rows, seed=0):
    """Writes `rows` PNGs of disks and a manifest; returns the manifest's path."""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    records = []
    for i in range(rows):
        size = rng.uniform(3.0, 9.0)  # the disk's true radius
        zoom = rng.uniform(0.7, 1.6)  # how close the camera was
        exposure = rng.uniform(0.6, 1.0)  # how bright the photo is
        radius = size * zoom
        cy, cx = rng.uniform(radius, SIDE - radius, size=2).clip(0, SIDE)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        pixels = 255 * exposure * disk + rng.normal(0, 12, disk.shape)
        path = f"images/{i:04d}.png"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(os.path.join(folder, path))
        records.append(
            {
                "id": f"{i:04d}",
                "path": path,
                "zoom": round(zoom, 4),
                "exposure": round(exposure, 4),
                "size": round(size, 4),
                "kind": "big" if size > BIG else "small",
            }
        )
    manifest = os.path.join(folder, "manifest.csv")
    pd.DataFrame(records).to_csv(manifest, index=False)
    return manifest


def build_model(keras):
    image = keras.Input((SIDE, SIDE, 1), name="image")
    features = keras.Input((2,), name="features")
    h = keras.layers.RandomFlip("horizontal_and_vertical")(image)
    h = keras.layers.Rescaling(1 / 255)(h)
    h = keras.layers.Conv2D(16, 3, activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Concatenate()([h, features])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    outputs = {
        "size": keras.layers.Dense(1, name="size")(h),
        "kind": keras.layers.Dense(2, activation="softmax", name="kind")(h),
    }
    model = keras.Model({"image": image, "features": features}, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss={"size": "mse", "kind": "sparse_categorical_crossentropy"},
        loss_weights={"size": 0.2, "kind": 1.0},
        metrics={"size": ["mae"], "kind": ["accuracy"]},
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="two_inputs_data")
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--min-accuracy", type=float, default=0.85)
    args = parser.parse_args()

    import keras

    import kdataset as kd

    keras.utils.set_random_seed(0)
    print(f"backend: {keras.backend.backend()}")
    manifest = make_data(args.data_dir, args.rows)
    splits = kd.split_manifest(manifest, val=0.2, stratify="kind", seed=0)
    for name in ("train", "val"):
        splits[name].to_csv(os.path.join(args.data_dir, f"{name}.csv"), index=False)

    def dataset(name, **kwargs):
        return kd.ManifestDataset(
            os.path.join(args.data_dir, name),
            batch_size=32,
            inputs={
                "image": kd.Files(
                    "path", loader=kd.ImageLoader((SIDE, SIDE), color_mode="grayscale")
                ),
                "features": kd.Numbers(["zoom", "exposure"]),
            },
            outputs={
                "size": kd.Numbers("size"),
                "kind": kd.Labels("kind", mode="int", classes=["big", "small"]),
            },
            **kwargs,
        )

    train_ds, val_ds = dataset("train.csv", seed=0), dataset("val.csv", shuffle=False)
    print(train_ds)
    model = build_model(keras)
    model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, verbose=2)
    results = model.evaluate(val_ds, return_dict=True, verbose=0)
    accuracy, error = results["kind_accuracy"], results["size_mae"]
    print(f"validation size error: {error:.2f} pixels")
    print(f"validation accuracy: {accuracy:.3f}")
    if accuracy < args.min_accuracy:
        print(f"below --min-accuracy {args.min_accuracy}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
