"""`model.fit` throughput fed by kdataset, against the same fit from NumPy arrays in memory.

Reuses the `.npy` data set of `loading.py` (N float32 `(32, 32, 3)` files, 10
classes) and trains a small model on it (Flatten, Dense(64, relu),
Dense(10, softmax); SGD, categorical crossentropy), small enough that on CPU the
model is fast: the question is whether the loader keeps up. Each contender gets
a fresh model and one untimed epoch (it compiles, starts workers, fills a
cache), then two timed epochs (from `on_epoch_begin` to `on_epoch_end`);
samples/s is compared with the same fit from arrays in memory, in one run.
`--rounds N` repeats this for every contender in turn and keeps the best.

The backend is `KERAS_BACKEND`, one per process; `--all-backends` runs this
script once per backend (jax, tensorflow, torch) in a subprocess and prints one
table.

    KERAS_BACKEND=jax python benchmarks/fit_throughput.py
    python benchmarks/fit_throughput.py --all-backends --samples 5000 --markdown
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
from loading import CLASSES, ClassicGenerator, prepare_set, print_table
from peers import cache_kwargs, version

import kdataset as kd

BACKENDS = ("jax", "tensorflow", "torch")
HEADER = ("key", "contender", "samples/s", "vs arrays")
TIMED_EPOCHS = 2


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, from `on_epoch_begin` to `on_epoch_end`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def small_model():
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def contenders(args):
    """`[(key, name, make)]`: `make()` gives `(fit_kwargs, samples_per_epoch, close)`."""
    folder = os.path.join(args.data_dir, f"npy-{args.samples}")
    manifest, ids, labels, paths = prepare_set(folder, args.samples, ".npy")
    batch = args.batch_size

    def arrays():
        x = np.stack([np.load(p) for p in paths])
        y = np.eye(CLASSES, dtype=np.float32)[np.asarray(labels)]
        return dict(x=x, y=y, batch_size=batch, shuffle=True), len(x), None

    def kdata(**kwargs):
        ds = kd.ManifestDataset(manifest, batch_size=batch, path_template="{id}.npy", **kwargs)
        return dict(x=ds), ds.num_samples, ds.close

    def classic():
        gen = ClassicGenerator(ids, dict(zip(ids, labels)), batch, (32, 32), 3, CLASSES, workers=1)
        gen.path = os.path.join(folder, "{}.npy")
        return dict(x=gen), len(gen) * batch, None

    return [
        ("arrays", "NumPy arrays in memory, fit(x, y, shuffle=True)", arrays),
        ("kd-default", "kdataset ManifestDataset, default settings", kdata),
        ("kd-1t", "kdataset, workers=1 thread", lambda: kdata(workers=1)),
        ("kd-2t", "kdataset, workers=2 threads", lambda: kdata(workers=2)),
        (
            "kd-cache",
            "kdataset, cache= (filled in the untimed epoch)",
            lambda: kdata(**cache_kwargs(args)),
        ),
        ("classic-1", "classic Sequence recipe (np.load, float64), workers=1", classic),
    ]


def measure(args):
    """`(rows, notes)` for the backend of this process: rows are `(key, name, samples/s)`."""
    wanted = [w for w in args.only.split(",") if w]
    built, notes = {}, []
    for key, name, make in contenders(args):
        if wanted and not any(w in key for w in wanted):
            continue
        try:
            built[key] = (name, *make())
        except (ImportError, NotImplementedError) as e:
            notes.append(f"{key}: skipped ({type(e).__name__}: {e})")
    best = dict.fromkeys(built, 0.0)
    for _ in range(args.rounds):  # every round fits every contender: noise hits them alike
        for key, (_, fit_kwargs, samples, _) in built.items():
            keras.utils.set_random_seed(0)
            timer = EpochTimer()
            small_model().fit(**fit_kwargs, epochs=1 + TIMED_EPOCHS, callbacks=[timer], verbose=0)
            rate = samples * TIMED_EPOCHS / sum(timer.seconds[1:])
            best[key] = max(best[key], rate)
    for _, _, _, close in built.values():
        if close is not None:
            close()
    return [(key, built[key][0], best[key]) for key in built], notes


def ratios(rows):
    """Table rows with samples/s and the ratio to fitting from arrays."""
    ref = dict((k, v) for k, _, v in rows).get("arrays")
    return [(k, n, f"{v:,.0f}", f"{v / ref:.2f}x" if ref else "-") for k, n, v in rows]


def versions():
    return ", ".join(f"{p} {version(p)}" for p in ("keras", "numpy", *BACKENDS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help=".npy samples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument("--rounds", type=int, default=1, help="fits per contender; best kept")
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: arrays,kd")
    parser.add_argument("--all-backends", action="store_true", help="one subprocess per backend")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # for --all-backends
    args = parser.parse_args()

    print(
        f"{versions()}, python {platform.python_version()}\n"
        f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); {args.samples} .npy "
        f"(32, 32, 3) float32; Flatten-Dense(64)-Dense(10), SGD; batch {args.batch_size}; "
        f"1 untimed epoch, then {TIMED_EPOCHS} timed; best of {args.rounds} round(s)\n",
        file=sys.stderr if args.json else sys.stdout,
    )
    if not args.all_backends:
        rows, notes = measure(args)
        if args.json:
            print(json.dumps({"rows": rows, "notes": notes}))
            return 0
        print(f"backend: {keras.backend.backend()}")
        print_table(HEADER, ratios(rows), args.markdown)
        for note in notes:
            print(note)
        return 0

    table, notes = [], []
    forwarded = [a for a in sys.argv[1:] if a != "--all-backends"]
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend}
        command = [sys.executable, os.path.abspath(__file__), *forwarded, "--json"]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            notes.append(f"{backend}: failed (exit {done.returncode}): {done.stderr[-2000:]}")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        table += [(f"{backend}/{k}", n, s, r) for k, n, s, r in ratios(result["rows"])]
        notes += [f"{backend}: {note}" for note in result["notes"]]
    print_table(HEADER, table, args.markdown)
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
