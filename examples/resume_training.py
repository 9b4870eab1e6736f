"""Kill a training run mid-epoch and resume it exactly where it stopped.

Trains on scikit-learn's digits (written as `.npy` files with a manifest, as in
`train_digits.py`) with `kd.fit_resumable`, which checkpoints the weights, the
optimizer and the dataset's place every few batches. Run it with `--kill-at 40`
and the process kills itself (SIGKILL, as an out-of-memory killer or a lost
machine would) after 40 batches; run it again, unchanged, and it resumes from the
last checkpoint with exactly the batches the model had not trained on, in the
order of an uninterrupted run, so the final weights are those of a run that was
never interrupted.

    KERAS_BACKEND=jax python examples/resume_training.py --kill-at 40   # dies
    KERAS_BACKEND=jax python examples/resume_training.py                # resumes, finishes
"""

import argparse
import os
import signal
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_digits import write_digits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", default=os.path.join(os.path.dirname(__file__), "digits_data")
    )
    parser.add_argument("--checkpoint", default=None, help="default: DATA_DIR/checkpoint")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--save-every", type=int, default=10, help="batches between checkpoints")
    parser.add_argument("--kill-at", type=int, default=None, help="SIGKILL after this many batches")
    parser.add_argument("--weights-out", default=None, help="save the final weights (.npz)")
    args = parser.parse_args(argv)

    import keras

    import kdataset as kd

    keras.utils.set_random_seed(0)  # the same initial weights in every run
    train_csv, _ = write_digits(args.data_dir)
    train = kd.ManifestDataset(train_csv, batch_size=64, path_template="digits/{id}.npy", seed=1)
    model = keras.Sequential(
        [
            keras.Input(train.sample_shape),
            keras.layers.Rescaling(1 / 16),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(len(train.classes), activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])

    class KillAt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            if args.kill_at is not None and step >= args.kill_at:
                print(f"killed after {step} batches", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    checkpoint = args.checkpoint or os.path.join(args.data_dir, "checkpoint")
    resuming = os.path.exists(os.path.join(checkpoint, "state.json"))
    kd.fit_resumable(
        model,
        train,
        checkpoint,
        epochs=args.epochs,
        save_every=args.save_every,
        callbacks=[KillAt()],
        verbose=2,
    )
    steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    print(f"{'resumed and ' if resuming else ''}finished after {steps} batches in all")
    if args.weights_out:
        np.savez(args.weights_out, *model.get_weights())
    return 0


if __name__ == "__main__":
    sys.exit(main())
