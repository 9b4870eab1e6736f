"""Train one model with several JAX processes, each reading its own shard of a manifest.

This is multi-host data-parallel training, run on one machine: the script
starts `--processes` worker processes on localhost (the same code runs once
per host on a real cluster). Each worker joins the others with
`jax.distributed.initialize`, trains with `keras.distribution.DataParallel`
over the devices of all processes, and reads its part of every global batch
with `kd.ManifestDataset(..., shard="auto")`: the processes share one
shuffled order per epoch, take disjoint parts of it and run the same number
of steps of the same shape (the last batch padded with zero-weight rows).

Each worker writes its final weights' checksum and the digest of the ids it
served to `--out`; the launcher then checks that the processes ended with
identical weights and that every row was served exactly once per epoch
across them, and prints a summary (also written to `<out>/summary.json`).

    python examples/multihost_jax.py
    python examples/multihost_jax.py --processes 2 --epochs 3 --rows 300 --out /tmp/mh

Keras's settings (`--auto-shard-dataset`, `--shard`; several values run one
after another in the same processes, each with a fresh model and dataset):

| Keras | `DataParallel(auto_shard_dataset=...)` | `shard="auto"` | `shard=None` |
| --- | --- | --- | --- |
| 3.15 | `True` (the default) | Keras refuses a PyDataset, before the first step | likewise |
| 3.15 | `False` | each process takes its shard from JAX | refused by kdataset: every row would train twice |
| 3.16 | `True` (the default) | Keras shards the dataset; kdataset takes Keras's shard | likewise |
| 3.16 | `False` | each process takes its shard from JAX | refused by kdataset, as on 3.15 |

What multi-process training with Keras 3 on JAX needs (see `worker`):

- `jax.distributed.initialize(...)` before anything else touches JAX (even
  `jax.devices()` or `jax.process_count()`: they fix the backend to one
  process). On CPU the cross-process collectives are gloo.
- The same `keras.utils.set_random_seed` in every process: weights are
  created in each process and must be equal (JAX checks it), or use
  `keras.distribution.initialize`, which agrees on a seed.
- On Keras 3.15, `DataParallel(..., auto_shard_dataset=False)`: Keras 3.15
  can only shard a `tf.data.Dataset` itself, and refuses a PyDataset
  otherwise. Keras 3.16 shards a PyDataset by asking each process for every
  `num_processes`-th batch; kdataset sees it and serves the process its
  shard of every global step, so either setting works there.
- Each process's batch is its local part: Keras joins them with
  `jax.make_array_from_process_local_data`, so the global batch is
  `batch_size * processes`. Every process must give the same number of
  batches of the same shape, and `batch_size` must divide by the devices
  of one process.
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

NUM_CLASSES = 3
FEATURES = 8


# --- kdataset's sharding API: the only calls to it in this script ----------------------
# Adjust here if the API changes.


def make_dataset(manifest, batch_size, seed, workers, shard="auto"):
    """This process's shard of the manifest (`shard="auto"`: Keras's shard when Keras shards
    the dataset, else `jax.process_index()` of `jax.process_count()`)."""
    import kdataset as kd

    return kd.ManifestDataset(
        manifest,
        batch_size=batch_size,  # rows per process and step
        path_template="data/{id}.npy",
        label_column="label",
        seed=seed,
        shard=shard,
        workers=workers,
    )


def epoch_digest(dataset, epoch):
    """Text digest of the ids all processes together serve in `epoch`."""
    return dataset.epoch_digest(epoch)


def served_digest(dataset, epoch):
    """Text digest of the ids this process served in `epoch` (counted from 0)."""
    return dataset.served_digest(epoch)


def digests_cover(texts, whole):
    """Whether the processes' digests of an epoch combine to the epoch's digest `whole`."""
    import kdataset as kd

    combined = kd.IdDigest.combine([kd.IdDigest.parse(text) for text in texts])
    return combined == kd.IdDigest.parse(whole)


# --- end of kdataset's sharding API ----------------------------------------------------


def write_data(folder, rows, seed=0):
    """`rows` samples of three classes as `data/<id>.npy`, and `train.csv`; returns the ids."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(NUM_CLASSES, FEATURES))
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    ids = [f"{i:05d}" for i in range(rows)]
    labels = rng.integers(NUM_CLASSES, size=rows)
    for sample_id, label in zip(ids, labels):
        x = centers[label] + rng.normal(size=FEATURES)
        np.save(os.path.join(folder, "data", f"{sample_id}.npy"), x.astype("float32"))
    with open(os.path.join(folder, "train.csv"), "w") as f:
        f.write("id,label\n")
        f.writelines(f"{i},{'abc'[label]}\n" for i, label in zip(ids, labels))
    return ids


def weights_checksum(model):
    """SHA-256 of this process's copy of every weight (replicated over all processes)."""
    digest = hashlib.sha256()
    for variable in model.weights:
        value = variable.value
        # A replicated global array is not fully addressable: read this process's copy.
        local = value.addressable_data(0) if hasattr(value, "addressable_data") else value
        digest.update(np.ascontiguousarray(np.asarray(local)).tobytes())
    return digest.hexdigest()


def worker(args):
    """One process of the training: joins the others, then for each setting trains a fresh
    model and writes what happened to `<out>/worker<i>.json`."""
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # the default since jax 0.5
    if args.devices_per_process > 1:
        jax.config.update("jax_num_cpu_devices", args.devices_per_process)
    # Before any other use of JAX.
    jax.distributed.initialize(
        coordinator_address=args.coordinator,
        num_processes=args.processes,
        process_id=args.worker,
        initialization_timeout=120,
    )
    import keras

    major, minor = keras.version().split(".")[:2]
    # Keras 3.15 refuses a PyDataset with auto_shard_dataset=True: its default works from 3.16.
    settings = {"true": True, "false": False, "keras-default": (int(major), int(minor)) >= (3, 16)}
    cases = [
        train_once(args, keras, jax, settings[auto_shard], shard)
        for auto_shard in args.auto_shard_dataset
        for shard in args.shard
    ]
    result = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "global_devices": jax.device_count(),
        "keras_version": keras.version(),
        "cases": cases,
    }
    with open(os.path.join(args.out, f"worker{args.worker}.json"), "w") as f:
        json.dump(result, f, indent=1)
    jax.distributed.shutdown()


def train_once(args, keras, jax, auto_shard, shard):
    """Trains a fresh model with one setting; what it served, or the error it stopped with."""
    case = {"auto_shard_dataset": auto_shard, "shard": shard}
    keras.utils.set_random_seed(args.seed)  # the same weights in every process
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=auto_shard)
    )
    steps = []

    class CountSteps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] += 1

    try:
        dataset = make_dataset(
            os.path.join(args.data_dir, "train.csv"),
            args.batch_size,
            args.seed,
            workers=1,
            shard=None if shard == "none" else shard,
        )
        model = keras.Sequential(
            [
                keras.Input((FEATURES,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(NUM_CLASSES, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss="categorical_crossentropy",
            # `weighted_metrics`: padding rows have weight 0 and must not count;
            # plain `metrics` ignore sample weights.
            weighted_metrics=["accuracy"],
        )
        start = time.time()
        history = model.fit(dataset, epochs=args.epochs, verbose=0, callbacks=[CountSteps()])
    except ValueError as e:  # refused before the first step, in every process alike
        case.update(error=str(e), steps=steps)
        return case
    finally:
        keras.distribution.set_distribution(None)
    case.update(
        steps=steps,
        dataset_epoch=dataset.epoch,
        shard_of_dataset=list(dataset.shard),
        batches_per_epoch=len(dataset),
        weights_sha256=weights_checksum(model),
        served_digests=[served_digest(dataset, epoch) for epoch in range(args.epochs)],
        epoch_digests=[epoch_digest(dataset, epoch) for epoch in range(args.epochs)],
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        fit_seconds=round(time.time() - start, 2),
    )
    return case


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args):
    """Starts the workers, waits for them (stopping all if one fails), checks their results."""
    os.makedirs(args.out, exist_ok=True)
    data_dir = os.path.join(args.out, "manifest")
    write_data(data_dir, args.rows)
    coordinator = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    workers, logs = [], []
    for index in range(args.processes):
        log = open(os.path.join(args.out, f"worker{index}.log"), "w")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker", str(index),
            "--coordinator", coordinator,
            "--data-dir", data_dir,
            "--processes", str(args.processes),
            "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size),
            "--devices-per-process", str(args.devices_per_process),
            "--seed", str(args.seed),
            "--out", args.out,
            "--auto-shard-dataset", *args.auto_shard_dataset,
            "--shard", *args.shard,
        ]  # fmt: skip
        workers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
        logs.append(log)

    # A worker that fails leaves the others waiting in a collective: stop them all.
    deadline = time.time() + args.timeout
    codes = [None] * len(workers)
    while any(code is None for code in codes):
        codes = [w.poll() for w in workers]
        if any(code not in (None, 0) for code in codes) or time.time() > deadline:
            for w in workers:
                if w.poll() is None:
                    w.kill()
            codes = [w.wait() for w in workers]
            break
        time.sleep(0.2)
    for log in logs:
        log.close()
    if any(code != 0 for code in codes):
        for index, code in enumerate(codes):
            with open(os.path.join(args.out, f"worker{index}.log")) as f:
                tail = f.read()[-3000:]
            print(f"--- worker {index} exited with {code}:\n{tail}")
        print("FAILED: a worker did not finish" + (" (timeout)" if time.time() > deadline else ""))
        return 1

    results = []
    for index in range(args.processes):
        with open(os.path.join(args.out, f"worker{index}.json")) as f:
            results.append(json.load(f))
    cases = [check_case(case, args.epochs) for case in zip(*(r["cases"] for r in results))]
    summary = {
        "processes": args.processes,
        "epochs": args.epochs,
        "rows": args.rows,
        "keras_version": results[0]["keras_version"],
        "batch_size_per_process": args.batch_size,
        "global_batch_size": args.batch_size * args.processes,
        "process_indices": [r["process_index"] for r in results],
        "cases": cases,
    }
    # Each setting either trains correctly or is refused before the first step.
    summary["ok"] = bool(
        summary["process_indices"] == list(range(args.processes))
        and all(case["status"] in ("trained", "refused") for case in cases)
    )
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    print(
        f"Keras {summary['keras_version']}: {args.processes} processes, {args.rows} rows, "
        f"{args.epochs} epochs; batch {args.batch_size} per process, "
        f"{summary['global_batch_size']} global"
    )
    for case in cases:
        setting = f"auto_shard_dataset={case['auto_shard_dataset']}, shard={case['shard']!r}"
        if case["status"] == "trained":
            accuracy = case["history"].get("accuracy", [float("nan")])[-1]
            print(
                f"  {setting}: trained, {case['steps_per_epoch'][0]} steps per epoch on every "
                f"process, identical weights, every row once per epoch; accuracy {accuracy:.3f}"
            )
        elif case["status"] == "refused":
            print(f"  {setting}: refused before the first step: {case['error']}")
        else:
            print(f"  {setting}: FAILED: {case['problems']}")
    print(f"summary: {os.path.join(args.out, 'summary.json')}")
    print("OK" if summary["ok"] else "FAILED")
    return 0 if summary["ok"] else 1


def check_case(case, epochs):
    """What one setting did across the processes: `trained` (checked), `refused` or `failed`."""
    first = case[0]
    result = {"auto_shard_dataset": first["auto_shard_dataset"], "shard": first["shard"]}
    errors = [c.get("error") for c in case]
    if all(errors):
        return dict(result, status="refused", error=errors[0])
    if any(errors):
        return dict(result, status="failed", problems=f"some processes raised: {errors}")
    checks = {
        "every process took the same steps": len({tuple(c["steps"]) for c in case}) == 1,
        f"{epochs} epochs of steps": all(len(c["steps"]) == epochs for c in case),
        "identical weights": len({c["weights_sha256"] for c in case}) == 1,
        "identical history": all(c["history"] == first["history"] for c in case),
        "the dataset's epoch equals fit's": all(c["dataset_epoch"] == epochs for c in case),
        "every row once per epoch": all(
            digests_cover([c["served_digests"][e] for c in case], first["epoch_digests"][e])
            for e in range(epochs)
        ),
    }
    problems = [name for name, passed in checks.items() if not passed]
    return dict(
        result,
        status="failed" if problems else "trained",
        problems=problems,
        steps_per_epoch=[c["steps"][0] if c["steps"] else 0 for c in case],
        shards=[c["shard_of_dataset"] for c in case],
        weights_sha256=[c["weights_sha256"] for c in case],
        history=first["history"],
        fit_seconds=[c["fit_seconds"] for c in case],
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--out", default=None, help="folder for the data, logs and JSON results")
    parser.add_argument("--batch-size", type=int, default=16, help="rows per process and step")
    parser.add_argument("--devices-per-process", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for the whole run")
    parser.add_argument(
        "--auto-shard-dataset",
        nargs="+",
        default=["keras-default"],
        choices=["true", "false", "keras-default"],
        help="DataParallel's auto_shard_dataset, one run per value; keras-default: Keras's "
        "default (True) on Keras 3.16, False on 3.15, which refuses a PyDataset otherwise",
    )
    parser.add_argument(
        "--shard",
        nargs="+",
        default=["auto"],
        choices=["auto", "none"],
        help="ManifestDataset's shard, one run per value (with each --auto-shard-dataset)",
    )
    # Set by the launcher for its workers.
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch_size % args.devices_per_process:
        parser.error("--batch-size must be a multiple of --devices-per-process")
    if args.worker is not None:
        return worker(args)
    os.environ["KERAS_BACKEND"] = "jax"  # the launcher reads digests with kdataset
    if args.out is None:
        args.out = tempfile.mkdtemp(prefix="kdataset-multihost-")
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
