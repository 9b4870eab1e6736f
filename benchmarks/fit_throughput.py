"""`model.fit` throughput fed by kdataset, against the same fit from NumPy arrays in memory.

Reuses the `.npy` data set of `loading.py` (N float32 `(32, 32, 3)` files, 10
classes) and trains small models on it (SGD, categorical crossentropy), small
enough that on CPU the model is fast: the question is whether the loader keeps
up. Two models, `--models` to choose:

- `dense`: Flatten, Dense(64, relu), Dense(10, softmax).
- `short`: GlobalAveragePooling2D, Dense(10, softmax): a step of well under a
  millisecond, as small models have on a fast GPU, so that the per-batch cost
  of serving a batch is what the step waits on.

Each contender gets a fresh model and one untimed epoch (it compiles, starts
workers, fills a cache), then `--epochs` timed epochs (from `on_epoch_begin` to
`on_epoch_end`); a fit's samples/s is that of its median timed epoch, and it is
compared with the same fit from arrays in memory, in one run. `--rounds N`
repeats this for every model and contender in turn and keeps the best round.

The backend is `KERAS_BACKEND`, one per process; `--all-backends` runs this
script once per backend (jax, tensorflow, torch) in a subprocess and prints one
table.

    KERAS_BACKEND=jax python benchmarks/fit_throughput.py
    KERAS_BACKEND=jax python benchmarks/fit_throughput.py --models short --only arrays,kd-default
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
HEADER = ("key", "contender", "samples/s", "ms/step", "vs arrays")


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, from `on_epoch_begin` to `on_epoch_end`."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def dense_model():
    """Flatten, Dense(64, relu), Dense(10, softmax): a step of about a millisecond on CPU."""
    return compiled(
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    )


def short_model():
    """GlobalAveragePooling2D, Dense(10, softmax): a step of well under a millisecond."""
    return compiled(
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    )


def compiled(*layers):
    model = keras.Sequential([keras.Input((32, 32, 3)), *layers])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


# The models: key -> (description, a function that makes one, compiled).
MODELS = {
    "dense": ("Flatten-Dense(64)-Dense(10)", dense_model),
    "short": ("GlobalAveragePooling2D-Dense(10)", short_model),
}


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
    """`(rows, notes)` for the backend of this process: rows are `(model/key, name, samples/s)`."""
    wanted = [w for w in args.only.split(",") if w]
    models = [m for m in args.models.split(",") if m]
    built, notes = {}, []
    for key, name, make in contenders(args):
        if wanted and not any(w in key for w in wanted):
            continue
        try:
            built[key] = (name, *make())
        except (ImportError, NotImplementedError) as e:
            notes.append(f"{key}: skipped ({type(e).__name__}: {e})")
    best = {(model, key): 0.0 for model in models for key in built}
    for _ in range(args.rounds):  # every round fits every contender: noise hits them alike
        for model in models:
            for key, (_, fit_kwargs, samples, _) in built.items():
                keras.utils.set_random_seed(0)
                timer = EpochTimer()
                MODELS[model][1]().fit(
                    **fit_kwargs, epochs=1 + args.epochs, callbacks=[timer], verbose=0
                )
                rate = samples / float(np.median(timer.seconds[1:]))  # the first one compiles
                best[model, key] = max(best[model, key], rate)
    for _, _, _, close in built.values():
        if close is not None:
            close()
    rows = [(f"{m}/{k}", built[k][0], rate) for (m, k), rate in best.items()]
    return rows, notes


def ratios(rows, batch_size):
    """Table rows with samples/s, milliseconds per step and the ratio to fitting from arrays
    with the same model (the part of the key before the last `/`)."""
    refs = {k.rpartition("/")[0]: v for k, _, v in rows if k.rpartition("/")[2] == "arrays"}
    table = []
    for key, name, rate in rows:
        ref = refs.get(key.rpartition("/")[0])
        step = f"{1000 * batch_size / rate:.2f}"
        table.append((key, name, f"{rate:,.0f}", step, f"{rate / ref:.2f}x" if ref else "-"))
    return table


def versions():
    return ", ".join(f"{p} {version(p)}" for p in ("keras", "numpy", *BACKENDS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help=".npy samples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument(
        "--models", default=",".join(MODELS), help=f"comma-separated, of: {','.join(MODELS)}"
    )
    parser.add_argument(
        "--epochs", type=int, default=5, help="timed epochs per fit (after 1 untimed); median kept"
    )
    parser.add_argument("--rounds", type=int, default=1, help="fits per contender; best kept")
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: arrays,kd")
    parser.add_argument("--all-backends", action="store_true", help="one subprocess per backend")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # for --all-backends
    args = parser.parse_args()
    unknown = [m for m in args.models.split(",") if m and m not in MODELS]
    if unknown or not args.models.strip(","):
        parser.error(f"`--models`: expected some of {list(MODELS)}. Received: {args.models!r}")
    if args.epochs < 1:
        parser.error(f"`--epochs`: expected at least 1. Received: {args.epochs}")

    models = "; ".join(f"{m}: {MODELS[m][0]}" for m in args.models.split(",") if m)
    print(
        f"{versions()}, python {platform.python_version()}\n"
        f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); {args.samples} .npy "
        f"(32, 32, 3) float32; SGD; batch {args.batch_size}\nmodels: {models}\n"
        f"per fit: 1 untimed epoch (compiles), then {args.epochs} timed, samples/s of the "
        f"median timed epoch; best of {args.rounds} round(s)\n",
        file=sys.stderr if args.json else sys.stdout,
    )
    if not args.all_backends:
        rows, notes = measure(args)
        if args.json:
            print(json.dumps({"rows": rows, "notes": notes}))
            return 0
        print(f"backend: {keras.backend.backend()}")
        print_table(HEADER, ratios(rows, args.batch_size), args.markdown)
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
        rows = ratios(result["rows"], args.batch_size)
        table += [(f"{backend}/{k}", *rest) for k, *rest in rows]
        notes += [f"{backend}: {note}" for note in result["notes"]]
    print_table(HEADER, table, args.markdown)
    for note in notes:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
