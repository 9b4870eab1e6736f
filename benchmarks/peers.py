"""kdataset against the peers, on the same files, in one run.

Reuses the data sets of `loading.py` (N float32 `(32, 32, 3)` `.npy` files, and
N/20 photo-sized JPEGs decoded and resized to 224x224, each with an `id,label`
manifest of 10 classes, made once in the same folder), warms the page cache,
then times one full pass per contender: kdataset (through Keras's own
`PyDatasetAdapter`, as `fit` iterates it), the classic `Sequence` recipe,
PyTorch's `DataLoader`, `tf.data`, Grain, Keras's `image_dataset_from_directory`
(JPEGs), and ceilings (a bare `preadv` loop, a gather from RAM, a bare decode
loop). Every contender gets one untimed warm-up pass (it starts workers,
traces, fills a cache), then every round runs every contender and the best of
`--repeats` rounds is kept: on a shared machine compare the ratios, which come
from one run. A framework that is not installed only loses its row.

Typical usage, from the repository's root, with any Keras backend:

    python benchmarks/peers.py
    KERAS_BACKEND=torch python benchmarks/peers.py --sets npy --only kd,torch --markdown
"""

import argparse
import importlib.metadata
import inspect
import os
import platform
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
from loading import (
    CLASSES,
    IMAGE_SIZE,
    Adapted,
    ClassicGenerator,
    Raw,
    load_image,
    prepare_set,
    print_table,
)

import kdataset as kd

PEERS = ("classic", "torch", "tf-data", "grain", "idfd")  # after "npy-"/"jpg-": the peers
GRAIN_THREADS = 16  # what DESIGN's reference measured Grain MapDataset with


def version(package):
    """The installed version of `package` (or of its `-cpu` build), without importing it."""
    for name in (package, f"{package}-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return "not installed"


def environment(packages, load=False):
    """Two lines: the versions of kdataset, Keras (and its backend) and `packages`, then
    the cores (and, with `load`, the load average)."""
    cores = f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable"
    if load:
        cores += f", load average {os.getloadavg()[0]:.1f}"
    return (
        f"kdataset {kd.__version__}, keras {keras.__version__} (backend "
        f"{keras.backend.backend()}), "
        + ", ".join(f"{p} {version(p)}" for p in packages)
        + f", python {platform.python_version()}\n{cores})"
    )


def cache_kwargs(args):
    """`{"cache": path in the data folder}`; NotImplementedError if kdataset has no `cache=`."""
    if "cache" not in inspect.signature(kd.ManifestDataset).parameters:
        raise NotImplementedError("this kdataset has no `cache=` argument")
    return {"cache": os.path.join(args.data_dir, f"npy-{args.samples}.kdcache")}


class Pass:
    """A contender: `prepare()` (untimed), `run()` one pass returning the sample count, `close()`."""

    def prepare(self):
        pass

    def close(self):
        pass

    def finish(self):
        pass


class TorchLoader(Pass):
    """`torch.utils.data.DataLoader` over a map-style dataset loading one file per sample."""

    def __init__(self, paths, labels, batch_size, workers, load=np.load):
        import torch

        class Files(torch.utils.data.Dataset):
            def __len__(self):
                return len(paths)

            def __getitem__(self, i):
                return torch.from_numpy(load(paths[i])), torch.tensor(labels[i])

        self.loader = torch.utils.data.DataLoader(
            Files(),
            batch_size=batch_size,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def run(self):
        return sum(len(x) for x, _ in self.loader)

    def finish(self):
        del self.loader  # with it go the persistent workers


class TfData(Pass):
    """`tf.data`: shuffle, a parallel map with AUTOTUNE, batch, prefetch; eager.

    `.npy` files through `numpy_function(np.load)`; JPEGs as TensorFlow's guides
    write it: `read_file`, `decode_jpeg`, `resize`.
    """

    def __init__(self, paths, labels, batch_size, jpeg=False):
        import tensorflow as tf

        def load(path):
            return np.load(path.decode())

        def fetch(path, label):
            if jpeg:
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
                return tf.image.resize(image, IMAGE_SIZE), label
            return tf.numpy_function(load, [path], tf.float32), label

        auto = tf.data.AUTOTUNE
        ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
        ds = ds.shuffle(len(paths)).map(fetch, num_parallel_calls=auto)
        self.ds = ds.batch(batch_size).prefetch(auto)

    def run(self):
        return sum(int(x.shape[0]) for x, _ in self.ds)


class FromDirectory(Pass):
    """`keras.utils.image_dataset_from_directory` over one folder per class (links to the files)."""

    def __init__(self, paths, labels, batch_size):
        import tensorflow  # noqa: F401  (it returns a tf.data.Dataset, whatever the backend)

        folder = os.path.join(os.path.dirname(paths[0]), "by-class")
        if not os.path.isdir(folder):
            for path, label in zip(paths, labels):
                os.makedirs(os.path.join(folder, str(label)), exist_ok=True)
                os.symlink(path, os.path.join(folder, str(label), os.path.basename(path)))
        self.ds = keras.utils.image_dataset_from_directory(
            folder, image_size=IMAGE_SIZE, batch_size=batch_size, shuffle=True, verbose=False
        )

    def run(self):
        return sum(int(x.shape[0]) for x, _ in self.ds)


class GrainLoader(Pass):
    """Grain: `MapDataset.source().shuffle(seed).map(np.load).batch()`, read with 16 threads."""

    def __init__(self, paths, labels, batch_size):
        import grain

        self.grain, self.epoch = grain, 0
        self.items, self.batch_size = list(zip(paths, labels)), batch_size

    def run(self):
        grain, self.epoch = self.grain, self.epoch + 1
        ds = grain.MapDataset.source(self.items).shuffle(seed=self.epoch)
        ds = ds.map(lambda item: (np.load(item[0]), np.int64(item[1]))).batch(self.batch_size)
        ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=GRAIN_THREADS))
        return sum(len(x) for x, _ in ds)


class InRam(Pass):
    """Every sample stacked in one array; each batch a fancy-index gather of shuffled rows."""

    def __init__(self, paths, labels, batch_size):
        self.x = np.stack([np.load(p) for p in paths])
        self.targets = np.eye(CLASSES, dtype=np.float32)[np.asarray(labels)]
        self.batch_size = batch_size

    def prepare(self):
        self.order = np.random.permutation(len(self.x))

    def run(self):
        for start in range(0, len(self.order), self.batch_size):
            rows = self.order[start : start + self.batch_size]
            _ = self.x[rows], self.targets[rows]
        return len(self.order)


def contenders(args, kind):
    """`[(key, name, make)]` over the `.npy` or JPEG set, after making it and warming the page cache."""
    count, ext = (args.samples, ".npy") if kind == "npy" else (args.samples // 20, ".jpg")
    folder = os.path.join(args.data_dir, f"{kind}-{count}")
    manifest, ids, labels, paths = prepare_set(folder, count, ext)
    batch = args.batch_size
    npy = kind == "npy"
    dim, load = ((32, 32), np.load) if npy else (IMAGE_SIZE, load_image)
    loader = "npy" if npy else kd.ImageLoader(image_size=IMAGE_SIZE)

    def kdata(**kwargs):
        kwargs = {"loader": loader, **kwargs}
        ds = kd.ManifestDataset(manifest, batch_size=batch, path_template="{id}" + ext, **kwargs)
        return Adapted(ds)

    def classic():
        gen = ClassicGenerator(ids, dict(zip(ids, labels)), batch, dim, 3, CLASSES, workers=1)
        gen.path, gen.load = os.path.join(folder, "{}" + ext), load
        return Adapted(gen)

    data = paths, labels, batch
    recipe = f"classic Sequence recipe ({'np.load' if npy else 'PIL'}), workers=1"
    torch = f"torch DataLoader ({'np.load' if npy else 'PIL'})"
    entries = [
        ("kd-default", "kdataset ManifestDataset, default settings (workers='auto')", kdata),
        ("kd-1t", "kdataset, workers=1 thread", lambda: kdata(workers=1)),
        (
            "kd-2p",
            f"kdataset, the recipe's {'np.load' if npy else 'PIL'} in 2 processes",
            lambda: kdata(loader=load, workers=2, use_multiprocessing=True),
        ),
    ]
    if npy:
        entries.append(
            ("kd-cache", "kdataset, cache= (second pass on)", lambda: kdata(**cache_kwargs(args)))
        )
    entries += [
        ("classic-1", recipe, classic),
        ("torch-0", f"{torch}, num_workers=0", lambda: TorchLoader(*data, 0, load)),
        ("torch-2", f"{torch}, num_workers=2", lambda: TorchLoader(*data, 2, load)),
    ]
    if npy:
        entries += [
            ("tf-data", "tf.data, numpy_function(np.load), AUTOTUNE", lambda: TfData(*data)),
            ("grain", f"Grain MapDataset, {GRAIN_THREADS} threads", lambda: GrainLoader(*data)),
            ("raw", "raw preadv loop, 1 thread (ceiling)", lambda: Raw(*data, (32, 32, 3), True)),
            ("in-ram", "in-RAM gather (ceiling)", lambda: InRam(*data)),
        ]
    else:
        entries += [
            (
                "tf-data",
                "tf.data, decode_jpeg + resize, AUTOTUNE",
                lambda: TfData(*data, jpeg=True),
            ),
            ("idfd", "keras image_dataset_from_directory", lambda: FromDirectory(*data)),
            ("raw", "raw PIL decode loop, 1 thread", lambda: Raw(*data, (*IMAGE_SIZE, 3), False)),
        ]
    return [(f"{kind}-{key}", name, make) for key, name, make in entries]


def benchmark(entries, repeats):
    """Best samples/s of each contender that could be built, and notes on those that could not."""
    built, notes = {}, []
    for key, _, make in entries:
        try:
            built[key] = make()
        except (ImportError, NotImplementedError) as e:
            notes.append(f"{key}: skipped ({type(e).__name__}: {e})")
    for contender in built.values():  # untimed warm-up pass
        contender.prepare()
        contender.run()
        contender.close()
    best = dict.fromkeys(built, 0.0)
    for _ in range(repeats):
        for key, contender in built.items():
            contender.prepare()
            start = time.perf_counter()
            count = contender.run()
            best[key] = max(best[key], count / (time.perf_counter() - start))
            contender.close()
    for contender in built.values():
        getattr(contender, "finish", lambda: None)()
    return best, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000, help=".npy samples (JPEGs: 1/20)")
    parser.add_argument("--sets", default="npy,jpg", help="data sets, comma-separated: npy,jpg")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="passes per contender; best kept")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: kd-,torch")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]
    # The torch DataLoader forks its workers (its default); JAX warns about fork once initialised.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")

    packages = ("numpy", "torch", "tensorflow", "grain", "jax")
    print(
        f"{environment(packages)}; {args.samples} .npy (32, 32, 3) float32, {args.samples // 20} JPEG 500x375 -> {IMAGE_SIZE}; batch "
        f"{args.batch_size}; one warm-up pass, then best of {args.repeats} passes each\n"
    )
    table, notes = [], []
    for kind in args.sets.split(","):
        entries = [
            e for e in contenders(args, kind) if not wanted or any(w in e[0] for w in wanted)
        ]
        best, skipped = benchmark(entries, args.repeats)
        notes += skipped
        peers = {k: v for k, v in best.items() if k.split("-", 1)[1].startswith(PEERS)}
        top = max(peers, key=peers.get, default=None)
        refs = peers.get(top), best.get(f"{kind}-kd-default")
        table += [
            (key, name, f"{best[key]:,.0f}", *(f"{best[key] / r:.2f}x" if r else "-" for r in refs))
            for key, name, _ in entries
            if key in best
        ]
        notes.append(f"best {kind} peer: {top or '-'}")
    print_table(
        ("key", "contender", "samples/s", "vs best peer", "vs kd default"), table, args.markdown
    )
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    sys.exit(main())
