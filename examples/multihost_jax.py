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

What multi-process training with Keras 3 on JAX needs (see `worker`):

- `jax.distributed.initialize(...)` before anything else touches JAX (even
  `jax.devices()` or `jax.process_count()`: they fix the backend to one
  process). On CPU the cross-process collectives are gloo.
- The same `keras.utils.set_random_seed` in every process: weights are
  created in each process and must be equal (JAX checks it), or use
  `keras.distribution.initialize`, which agrees on a seed.
- `DataParallel(..., auto_shard_dataset=False)`: Keras can only shard a
  `tf.data.Dataset` itself, and refuses a PyDataset otherwise.
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


def make_dataset(manifest, batch_size, seed, workers):
    """This process's shard of the manifest (`shard="auto"` reads `jax.process_index()`)."""
    import kdataset as kd

    return kd.ManifestDataset(
        manifest,
        batch_size=batch_size,  # rows per process and step
        path_template="data/{id}.npy",
        label_column="label",
        seed=seed,
        shard="auto",
        workers=workers,
    )


def served_digest(dataset, epoch):
    """Text digest of the ids this process served in `epoch` (counted from 0)."""
    return dataset.served_digest(epoch)


def digests_cover(texts, ids):
    """Whether the processes' digests of an epoch combine to exactly `ids`, each once."""
    import kdataset as kd

    combined = kd.IdDigest.combine([kd.IdDigest.parse(text) for text in texts])
    return combined == kd.IdDigest.of(ids)


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
    """One process of the training: joins the others, trains, writes `<out>/worker<i>.json`."""
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

    keras.utils.set_random_seed(args.seed)  # the same weights in every process
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )

    dataset = make_dataset(
        os.path.join(args.data_dir, "train.csv"), args.batch_size, args.seed, workers=1
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
    history = model.fit(dataset, epochs=args.epochs, verbose=0)
    result = {
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "global_devices": jax.device_count(),
        "batches_per_epoch": len(dataset),
        "weights_sha256": weights_checksum(model),
        "served_digests": [served_digest(dataset, epoch) for epoch in range(args.epochs)],
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "fit_seconds": round(time.time() - start, 2),
    }
    with open(os.path.join(args.out, f"worker{args.worker}.json"), "w") as f:
        json.dump(result, f, indent=1)
    jax.distributed.shutdown()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args):
    """Starts the workers, waits for them (stopping all if one fails), checks their results."""
    os.makedirs(args.out, exist_ok=True)
    data_dir = os.path.join(args.out, "manifest")
    ids = write_data(data_dir, args.rows)
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
    checksums = [r["weights_sha256"] for r in results]
    coverage = [
        digests_cover([r["served_digests"][epoch] for r in results], ids)
        for epoch in range(args.epochs)
    ]
    summary = {
        "processes": args.processes,
        "epochs": args.epochs,
        "rows": args.rows,
        "batch_size_per_process": args.batch_size,
        "global_batch_size": args.batch_size * args.processes,
        "batches_per_epoch": [r["batches_per_epoch"] for r in results],
        "process_indices": [r["process_index"] for r in results],
        "weights_sha256": checksums,
        "identical_weights": len(set(checksums)) == 1,
        "identical_history": all(r["history"] == results[0]["history"] for r in results),
        "exactly_once_per_epoch": coverage,
        "history": results[0]["history"],
        "fit_seconds": [r["fit_seconds"] for r in results],
    }
    summary["ok"] = bool(
        summary["identical_weights"]
        and summary["identical_history"]
        and all(coverage)
        and len(set(summary["batches_per_epoch"])) == 1
        and summary["process_indices"] == list(range(args.processes))
    )
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)

    print(f"{args.processes} processes, {args.rows} rows, {args.epochs} epochs")
    print(
        f"batch: {args.batch_size} per process, {summary['global_batch_size']} global; "
        f"{summary['batches_per_epoch'][0]} steps per epoch"
    )
    print(f"identical weights: {summary['identical_weights']} ({checksums[0][:16]})")
    print(f"every row exactly once per epoch: {coverage}")
    accuracy = summary["history"].get("accuracy", [float("nan")])[-1]
    print(f"final training accuracy: {accuracy:.3f}")
    print(f"summary: {os.path.join(args.out, 'summary.json')}")
    print("OK" if summary["ok"] else "FAILED")
    return 0 if summary["ok"] else 1


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
