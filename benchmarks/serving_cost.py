"""The cost of serving a batch in the thread that `model.fit` reads batches from, in µs.

Where a model's step is short (a small model on a fast GPU: well under a
millisecond), the step waits on the work done per batch in the thread that
iterates the data set, not on the loading, which happens ahead in other
threads. This script measures that work for a `kd.ManifestDataset` (default
settings) over the `.npy` data set of `loading.py` (N float32 `(32, 32, 3)`
files, 10 classes), driven as `fit` drives it, through Keras's own
`PyDatasetAdapter` (`on_epoch_begin`, `get_numpy_iterator()`, `on_epoch_end`).

One untimed pass (it starts the loading threads; with `--cache` it fills the
cache, so that the passes after it gather from memory), then `--passes` timed
passes of each kind; the best pass of each kind is kept:

- tight: the consumer does nothing between batches. Wall µs per batch (loading
  or serving, whichever is slower, bounds it), the consuming thread's CPU µs
  per batch in `next()` (`time.thread_time`), and the whole process's CPU µs
  per batch, loading threads included (`time.process_time`): the cores a
  training step has to share with the loading.
- stepped: the consumer sleeps `--step-ms` after each batch (a step that holds
  no GIL), long enough for the loading to be done ahead: the µs per batch spent
  waiting in `next()` is then the serving cost alone, as a short step sees it
  (mean and median); and the consuming thread's CPU µs per batch in `next()`.
  Wait above CPU is time the thread spent off the CPU: waiting for the GIL, or
  for a core.
- profiled: one stepped pass under `cProfile` (it profiles the consuming thread
  only): kdataset's function calls per batch, and µs per batch in `next()` and
  inside kdataset (both inflated by the profiler's own cost per call).
  `--profile` prints the top functions within kdataset by cumulative time, and
  the functions outside kdataset that kdataset calls directly.
  `--profile-clock cpu` times them by the thread's CPU time instead of wall
  time, which leaves out the time off the CPU.

`--arrays` measures the same tight and stepped passes through Keras's adapter
of arrays in memory (`ArrayDataAdapter`, what `fit(x, y, batch_size=64,
shuffle=True)` iterates), after kdataset's, as the reference a fit from RAM pays.

The backend is `KERAS_BACKEND` (JAX when unset); the adapter's NumPy iterator is
the same on every backend (`fit` adds the backend's conversion of each batch).

    python benchmarks/serving_cost.py --profile
    python benchmarks/serving_cost.py --cache --profile --arrays
    python benchmarks/serving_cost.py --profile --profile-clock cpu
    KERAS_BACKEND=torch python benchmarks/serving_cost.py --samples 5000 --markdown
"""

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter
from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
from loading import CLASSES, prepare_set, print_table
from peers import version

import kdataset as kd

MEASURES = ("tight wall", "tight cpu", "tight process", "stepped wait", "stepped cpu")
PACKAGE_DIR = os.path.dirname(os.path.abspath(kd.__file__)) + os.sep


def one_pass(adapter, step=0.0):
    """One epoch through `adapter`, as `fit` iterates it, sleeping `step` seconds a batch.

    Returns:
        `(wall seconds of the pass, the process's CPU seconds in it (every thread's), [(wall,
        thread CPU) seconds in next(), a batch])`.
    """
    served = []
    adapter.on_epoch_begin()
    start, process = time.perf_counter(), time.process_time()
    iterator = iter(adapter.get_numpy_iterator())
    while True:
        cpu, asked = time.thread_time(), time.perf_counter()
        try:
            next(iterator)
        except StopIteration:
            break
        served.append((time.perf_counter() - asked, time.thread_time() - cpu))
        if step:
            time.sleep(step)
    wall, process = time.perf_counter() - start, time.process_time() - process
    adapter.on_epoch_end()
    return wall, process, served


def in_package(func):
    """Whether a `pstats` function key `(file, line, name)` is kdataset's code."""
    return os.path.abspath(func[0]).startswith(PACKAGE_DIR)


def profiled(adapter, step, clock):
    """One stepped pass under `cProfile`, timed by `clock` (`"wall"` or `"cpu"`, the
    thread's): `(batches, pstats.Stats)`."""
    profile = cProfile.Profile(time.thread_time) if clock == "cpu" else cProfile.Profile()
    profile.enable()
    *_, served = one_pass(adapter, step)
    profile.disable()
    return len(served), pstats.Stats(profile)


def profile_summary(stats, batches):
    """`(kdataset calls, seconds inside kdataset, seconds in next())`, per batch.

    The time inside kdataset is the cumulative time of the calls into it from
    outside (Keras's adapter calling `__getitem__`, say), so nothing is counted
    twice; the time in `next()` is that of `one_pass`'s calls of `next`, all the
    serving of a batch but the per-epoch calls.
    """
    calls, inside, served = 0, 0.0, 0.0
    for func, (_, nc, _, _, callers) in stats.stats.items():
        if in_package(func):
            calls += nc
            inside += sum(edge[3] for caller, edge in callers.items() if not in_package(caller))
        elif func[2] == "<built-in method builtins.next>":
            served += sum(edge[3] for caller, edge in callers.items() if caller[2] == "one_pass")
    return calls / batches, inside / batches, served / batches


def function_name(func):
    """`file:line(name)` of a `pstats` function key, the file shortened."""
    file, line, name = func
    if file == "~":
        return name  # a builtin: `{method 'acquire' of '_thread.lock' objects}`
    if os.path.abspath(file).startswith(PACKAGE_DIR):
        file = "kdataset/" + os.path.abspath(file)[len(PACKAGE_DIR) :]
    else:
        file = os.path.join(*file.split(os.sep)[-2:])
    return f"{file}:{line}({name})"


def profile_tables(stats, batches, top):
    """Rows of the top `top` kdataset functions by cumulative time, and of the functions
    outside kdataset that kdataset calls directly."""
    header = ("function", "", "calls/batch", "own µs/batch", "cum µs/batch")

    def row(func, nc, tt, ct):
        us = 1e6 / batches
        return (function_name(func), "", f"{nc / batches:.2f}", f"{tt * us:.1f}", f"{ct * us:.1f}")

    inside = [(f, v) for f, v in stats.stats.items() if in_package(f)]
    inside.sort(key=lambda item: item[1][3], reverse=True)
    inner = [row(f, nc, tt, ct) for f, (_, nc, tt, ct, _) in inside[:top]]
    called = {}  # outside kdataset, as called from it: (calls, own, cumulative), summed
    for func, (*_, callers) in stats.stats.items():
        if in_package(func):
            continue
        for caller, (nc, _, tt, ct) in callers.items():
            if in_package(caller):
                total = called.get(func, (0, 0.0, 0.0))
                called[func] = (total[0] + nc, total[1] + tt, total[2] + ct)
    outer = sorted(called.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return header, inner, [row(f, *v) for f, v in outer]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help=".npy samples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument(
        "--passes", type=int, default=3, help="timed passes of each kind; best kept"
    )
    parser.add_argument(
        "--step-ms", type=float, default=2.0, help="the stepped consumer's sleep per batch"
    )
    parser.add_argument(
        "--cache", action="store_true", help="cache= a temporary file, filled first"
    )
    parser.add_argument("--profile", action="store_true", help="print the profile's top functions")
    parser.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    parser.add_argument(
        "--profile-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="cProfile's clock: wall time, or the thread's CPU time (leaves out time off the CPU)",
    )
    parser.add_argument(
        "--arrays",
        action="store_true",
        help="also Keras's adapter of arrays in memory, as a reference",
    )
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args()
    if args.passes < 1:
        parser.error(f"`--passes`: expected at least 1. Received: {args.passes}")

    folder = os.path.join(args.data_dir, f"npy-{args.samples}")
    manifest, _, labels, paths = prepare_set(folder, args.samples, ".npy")
    with tempfile.TemporaryDirectory(prefix="kdataset-serving-") as scratch:
        settings = {"cache": os.path.join(scratch, "npy.kdcache")} if args.cache else {}
        ds = kd.ManifestDataset(
            manifest, batch_size=args.batch_size, path_template="{id}.npy", **settings
        )
        print(
            f"kdataset {kd.__version__}, keras {keras.__version__} (backend "
            f"{keras.backend.backend()} {version(keras.backend.backend())}), python "
            f"{platform.python_version()}\n{os.cpu_count()} cores "
            f"({len(os.sched_getaffinity(0))} usable, load average {os.getloadavg()[0]:.1f}); "
            f"{args.samples} .npy (32, 32, 3) float32, batch {args.batch_size}; ManifestDataset, "
            f"default settings ({ds.num_workers} loading workers)"
            f"{', cache= a temporary file, filled in the untimed pass' if args.cache else ''}; "
            f"driven by Keras's PyDatasetAdapter.get_numpy_iterator(); 1 untimed pass, then "
            f"the best of {args.passes} pass(es) of each kind; profile clock: {args.profile_clock}\n"
        )
        try:
            adapter = PyDatasetAdapter(ds, shuffle=True)  # as `fit` makes it, from shuffle=True
            best = measure(adapter, args)
            batches, stats = profiled(adapter, args.step_ms / 1000, args.profile_clock)
        finally:
            ds.close()
    summary = profile_summary(stats, batches)
    reference = {}
    if args.arrays:  # what `fit(x, y, batch_size, shuffle=True)` does with arrays in memory
        x = np.stack([np.load(path) for path in paths])
        y = np.eye(CLASSES, dtype=np.float32)[np.asarray(labels)]
        adapter = ArrayDataAdapter(x, y, batch_size=args.batch_size, shuffle=True)
        reference = measure(adapter, args)

    step = f"sleeps {args.step_ms:g} ms a batch"
    rows = [
        ("tight wall", "consumer does nothing: wall per batch"),
        ("tight cpu", "the consuming thread's CPU in next() (thread_time)"),
        ("tight process", "the process's CPU, every thread's (process_time)"),
        ("stepped wait", f"{step}: wait in next(), loaded ahead (mean)"),
        ("stepped wait p50", "the same, median batch"),
        ("stepped cpu", "the consuming thread's CPU in next() (thread_time)"),
        ("profiled next()", f"cProfile ({step}): in next()"),
        ("profiled kdataset", "cProfile: in kdataset's code"),
    ]
    best["profiled next()"], best["profiled kdataset"] = summary[2], summary[1]
    header = (
        "measure",
        "what",
        "kdataset µs/batch",
        *(("arrays µs/batch",) if args.arrays else ()),
    )
    table = []
    for key, what in rows:
        cells = [best[key], *((reference.get(key),) if args.arrays else ())]
        table.append((key, what, *("-" if v is None else f"{1e6 * v:.1f}" for v in cells)))
    print_table(header, table, args.markdown)
    print(f"\n{batches} batches a pass; kdataset function calls per batch: {summary[0]:.1f}")
    if args.profile:
        header, inner, outer = profile_tables(stats, batches, args.top)
        print(f"\nTop {args.top} functions within kdataset by cumulative time:")
        print_table(header, inner, args.markdown)
        print(f"\nTop {args.top} functions outside kdataset that it calls directly:")
        print_table(header, outer, args.markdown)
    return 0


def measure(adapter, args):
    """One untimed pass over `adapter` (it starts threads, warms code paths, fills a cache),
    then `args.passes` passes of each kind, alternated so that noise hits both alike.

    Returns:
        `({measure: best seconds a batch}, the waits in next() of the stepped pass that
        waited least)`.
    """
    one_pass(adapter)
    best = dict.fromkeys(MEASURES, float("inf"))
    best_waits = []
    for _ in range(args.passes):
        wall, process, served = one_pass(adapter)
        batches = len(served)
        best["tight wall"] = min(best["tight wall"], wall / batches)
        best["tight cpu"] = min(best["tight cpu"], sum(c for _, c in served) / batches)
        best["tight process"] = min(best["tight process"], process / batches)
        _, _, served = one_pass(adapter, args.step_ms / 1000)
        waits = [w for w, _ in served]
        best["stepped cpu"] = min(best["stepped cpu"], sum(c for _, c in served) / batches)
        if sum(waits) / batches < best["stepped wait"]:
            best["stepped wait"], best_waits = sum(waits) / batches, waits
    best["stepped wait p50"] = statistics.median(best_waits)
    return best


if __name__ == "__main__":
    sys.exit(main())
