"""Train a classifier on handwritten digits through a CSV manifest.

scikit-learn ships the digits data set (1,797 images of 8x8 pixels). This
script writes each image as its own `.npy` file with a CSV manifest beside
them, as data usually sits on disk, then trains with `model.fit` on
`kd.ManifestDataset` and prints the validation accuracy.

Run it with any backend:

    KERAS_BACKEND=jax python examples/train_digits.py
    KERAS_BACKEND=torch python examples/train_digits.py --epochs 10 --workers 2
"""

import argparse
import os
import sys

import numpy as np
import pandas as pd


def write_digits(folder):
    """Writes digits/<id>.npy and train.csv / val.csv manifests; returns their paths."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    os.makedirs(os.path.join(folder, "digits"), exist_ok=True)
    ids = [f"{i:04d}" for i in range(len(digits.images))]
    for sample_id, image in zip(ids, digits.images):
        np.save(
            os.path.join(folder, "digits", f"{sample_id}.npy"), image[..., None].astype("float32")
        )
    frame = pd.DataFrame({"id": ids, "label": digits.target})
    train, val = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=0)
    paths = {}
    for name, part in (("train", train), ("val", val)):
        paths[name] = os.path.join(folder, f"{name}.csv")
        part.to_csv(paths[name], index=False)
    return paths["train"], paths["val"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.path.join(os.path.dirname(__file__), "digits_data")
    )
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    import kdataset as kd

    keras.utils.set_random_seed(args.seed)
    train_csv, val_csv = write_digits(args.data_dir)

    train = kd.ManifestDataset(
        train_csv,
        batch_size=args.batch_size,
        path_template="digits/{id}.npy",
        seed=args.seed,
        workers=args.workers,
    )
    val = kd.ManifestDataset(
        val_csv,
        batch_size=args.batch_size,
        path_template="digits/{id}.npy",
        classes=train.label_encoder,
        shuffle=False,
    )
    print(f"backend: {keras.backend.backend()}; train: {train}; val: {val}")

    model = keras.Sequential(
        [
            keras.Input(train.sample_shape),
            keras.layers.Rescaling(1 / 16),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(len(train.classes), activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=2)
    accuracy = history.history["val_accuracy"][-1]
    print(f"validation accuracy: {accuracy:.4f}")
    train.label_encoder.save(os.path.join(args.data_dir, "classes.json"))
    return 0 if accuracy > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
