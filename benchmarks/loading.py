"""Loading speed: kdataset against the classic Keras data-generator recipe and a raw loop.

Makes N float32 `.npy` samples of shape (32, 32, 3) and N/20 photo-sized
(500x375) JPEGs, decoded and resized to 224x224 as an ImageNet-style pipeline
does, each set with an `id,label` manifest of 10 classes (once: later runs reuse
them), warms the page cache, then times one pass over the batches per contender
and prints samples/s with ratios to the classic recipe and to the raw loop.
PyDatasets are iterated by Keras's own `PyDatasetAdapter`, as `fit` does. Every
round runs every contender and the best of `--repeats` rounds is kept, so on a
noisy machine compare the ratios, which come from one run.

Typical usage, from the repository's root, with any Keras backend:

    python benchmarks/loading.py
    KERAS_BACKEND=torch python benchmarks/loading.py --samples 5000 --only npy,jpg-kd --markdown
"""

import argparse
import csv
import importlib
import os
import platform
import sys
import tempfile
import time

import keras
import numpy as np
from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter
from PIL import Image

import kdataset as kd

CLASSES = 10
KEYS = ("classic-1", "classic-2t", "kd-1", "kd-2t", "kd-2p", "kd-antialias", "raw")  # after the set
IMAGE_SIZE = (224, 224)
# The sets: (file extension, fraction of --samples, image width and height).
SETS = {
    "npy": (".npy", 1, None),
    "jpg": (".jpg", 20, (500, 375)),
    "photo": (".jpg", 100, (2016, 1512)),
}


class ClassicGenerator(keras.utils.PyDataset):
    """The classic `keras.utils.Sequence` recipe, kept as written (float64 `X`, floor length)."""

    def __init__(self, list_IDs, labels, batch_size, dim, n_channels, n_classes, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.batch_size, self.labels, self.list_IDs = dim, batch_size, labels, list_IDs
        self.n_channels, self.n_classes, self.shuffle = n_channels, n_classes, True
        self.path, self.load = "data/{}.npy", np.load  # the recipe's; set per data set
        self.on_epoch_end()

    def __len__(self):
        return int(np.floor(len(self.list_IDs) / self.batch_size))

    def __getitem__(self, index):
        indexes = self.indexes[index * self.batch_size : (index + 1) * self.batch_size]
        X = np.empty((self.batch_size, *self.dim, self.n_channels))
        y = np.empty((self.batch_size), dtype=int)
        for i, ID in enumerate([self.list_IDs[k] for k in indexes]):
            X[i,] = self.load(self.path.format(ID))
            y[i] = self.labels[ID]
        return X, keras.utils.to_categorical(y, num_classes=self.n_classes)

    def on_epoch_end(self):
        self.indexes = np.arange(len(self.list_IDs))
        if self.shuffle:
            np.random.shuffle(self.indexes)


def load_image(path):
    """The recipe's per-sample load for images: Pillow decode and resize, then NumPy."""
    with Image.open(path) as image:
        image = image.convert("RGB").resize(IMAGE_SIZE[::-1], Image.Resampling.BILINEAR)
        return np.asarray(image)


def make_set(folder, count, ext, size=(500, 375)):
    """Writes `count` samples and `manifest.csv` into `folder` unless already there."""
    manifest = os.path.join(folder, "manifest.csv")
    if os.path.exists(manifest):
        return manifest
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, count)
    for i in range(count):
        path = os.path.join(folder, f"{i:06d}{ext}")
        if ext == ".npy":
            np.save(path, rng.random((32, 32, 3), dtype=np.float32))
        else:  # a smooth gradient with some noise: compresses like a photo
            width, height = size
            noise = rng.integers(0, 56, (height, width, 3))
            ramp = np.linspace(0, 200, width)[None, :, None] + noise
            Image.fromarray(ramp.astype(np.uint8)).save(path, quality=90)
    with open(manifest + ".tmp", "w", newline="") as f:  # renamed last: a marker of completion
        csv.writer(f).writerows([("id", "label"), *((f"{i:06d}", y) for i, y in enumerate(labels))])
    os.replace(manifest + ".tmp", manifest)
    return manifest


def prepare_set(folder, count, ext, size=(500, 375)):
    """`(manifest, ids, labels, paths)` of a made set, with every file read once (page cache warm)."""
    manifest = make_set(folder, count, ext, size)
    with open(manifest) as f:
        ids, labels = zip(*((r["id"], int(r["label"])) for r in csv.DictReader(f)))
    paths = [os.path.join(folder, i + ext) for i in ids]
    read_once(paths)
    return manifest, ids, labels, paths


def read_once(paths):
    """Reads every file of `paths` once, so that the timed passes find the page cache warm."""
    for path in paths:
        with open(path, "rb") as f:
            f.read()


class Adapted:
    """A PyDataset iterated for one epoch by Keras's adapter, as `fit` iterates it."""

    def __init__(self, ds):
        self.ds = ds

    def prepare(self):
        for index in range(2):  # untimed: starts threads or processes, warms code paths
            self.ds[index]
        self.adapter = PyDatasetAdapter(self.ds, shuffle=True)

    def run(self):
        self.adapter.on_epoch_begin()
        count = sum(len(batch[0]) for batch in self.adapter.get_numpy_iterator())
        self.adapter.on_epoch_end()
        return count

    def close(self):
        if isinstance(self.ds, kd.ManifestDataset):
            self.ds.close()


class Raw:
    """A bare loop into preallocated batches: no checks, no Keras, one core."""

    def __init__(self, paths, labels, batch_size, shape, npy):
        self.paths, self.batch_size, self.shape, self.npy = paths, batch_size, shape, npy
        self.targets = np.eye(CLASSES, dtype=np.float32)[np.asarray(labels)]
        if npy:  # everything before the data: the header, of a size known in advance
            self.header = bytearray(os.path.getsize(paths[0]) - 4 * int(np.prod(shape)))

    def prepare(self):
        self.order = np.random.permutation(len(self.paths))

    def run(self):
        for start in range(0, len(self.order), self.batch_size):
            rows = self.order[start : start + self.batch_size]
            x = np.empty((len(rows), *self.shape), np.float32)
            flat = x.reshape(len(rows), -1).view(np.uint8)
            for j, row in enumerate(rows):
                if self.npy:  # the header's size is known: one preadv per file
                    fd = os.open(self.paths[row], os.O_RDONLY)
                    os.preadv(fd, [self.header, flat[j]], 0)
                    os.close(fd)
                else:
                    x[j] = load_image(self.paths[row])
            _ = self.targets[rows]
        return len(self.order)

    def close(self):
        pass


def contenders(args, kind):
    """`[(key, name, make)]` for one of `SETS`, after making its files and reading them once."""
    ext, fraction, size = SETS[kind]
    count = args.samples // fraction
    folder = os.path.join(args.data_dir, f"{kind}-{count}")
    manifest, ids, labels, paths = prepare_set(folder, count, ext, size)
    dim, load = ((32, 32), np.load) if kind == "npy" else (IMAGE_SIZE, load_image)
    targets = dict(zip(ids, labels))  # the recipe's `labels`
    loader = "npy" if kind == "npy" else kd.ImageLoader(image_size=IMAGE_SIZE)
    common = dict(batch_size=args.batch_size, path_template="{id}" + ext, loader=loader, seed=0)

    def classic(workers):
        gen = ClassicGenerator(ids, targets, args.batch_size, dim, 3, CLASSES, workers=workers)
        gen.path, gen.load = os.path.join(folder, "{}" + ext), load
        return Adapted(gen)

    def kdata(workers, mp=False, **kwargs):
        settings = {**common, "loader": load} if mp else {**common, **kwargs}  # mp: Python loaders
        ds = kd.ManifestDataset(manifest, workers=workers, use_multiprocessing=mp, **settings)
        return Adapted(ds)

    recipe = f"classic Sequence recipe ({'np.load' if kind == 'npy' else 'PIL'})"
    raw = "raw preadv loop (ceiling)" if kind == "npy" else "raw PIL decode loop (1 core)"
    entries = [
        (f"{kind}-classic-1", f"{recipe}, workers=1", lambda: classic(1)),
        (f"{kind}-classic-2t", f"{recipe}, workers=2 threads", lambda: classic(2)),
        (f"{kind}-kd-1", "kdataset ManifestDataset, workers=1", lambda: kdata(1)),
        (f"{kind}-kd-2t", "kdataset ManifestDataset, workers=2 threads", lambda: kdata(2)),
        (
            f"{kind}-kd-2p",
            f"kdataset, the recipe's {'np.load' if kind == 'npy' else 'PIL'} in 2 processes",
            lambda: kdata(2, True),
        ),
        (f"{kind}-raw", raw, lambda: Raw(paths, labels, args.batch_size, (*dim, 3), kind == "npy")),
    ]
    if kind != "npy":  # the same threads, a large JPEG decoded reduced, then area-averaged
        smooth = kd.ImageLoader(image_size=IMAGE_SIZE, antialias=True)
        entries.insert(
            -1,
            (
                f"{kind}-kd-antialias",
                "kdataset, workers=2 threads, antialias=True",
                lambda: kdata(2, loader=smooth),
            ),
        )
    return entries


def benchmark(entries, repeats):
    """Best samples/s of each contender over `repeats` rounds; each round runs every contender."""
    built = {key: make() for key, _, make in entries}
    best = dict.fromkeys(built, 0.0)
    for _ in range(repeats):
        for key, contender in built.items():
            contender.prepare()
            start = time.perf_counter()
            count = contender.run()
            best[key] = max(best[key], count / (time.perf_counter() - start))
            contender.close()
    return best


def print_table(header, rows, markdown):
    """Prints `rows` under `header` (first two columns text, the rest numbers), aligned or markdown."""
    rows = [tuple(header), *rows]
    if markdown:
        rows.insert(1, ("---", "---", *("---:" for _ in header[2:])))
        print("\n".join("| " + " | ".join(row) + " |" for row in rows))
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=int, default=20000, help=".npy samples (JPEGs: 1/20, photos: 1/100)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="passes per contender; best kept")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: npy,kd-2")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]

    def chosen(key):
        return not wanted or any(w in key for w in wanted)

    backend = keras.backend.backend()
    print(
        f"kdataset {kd.__version__}, keras {keras.__version__} ({backend} "
        f"{importlib.import_module(backend).__version__}), numpy {np.__version__}, "
        f"pillow {Image.__version__}, python {platform.python_version()}\n"
        f"{os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); {args.samples} .npy "
        f"(32, 32, 3) float32, {args.samples // 20} JPEG 500x375 and {args.samples // 100} JPEG "
        f"2016x1512 (photo) -> 224x224; batch {args.batch_size}; best of {args.repeats} passes each\n"
    )
    table = []
    for kind in SETS:
        if not any(chosen(f"{kind}-{key}") for key in KEYS):
            continue  # its files are not even made
        entries = [e for e in contenders(args, kind) if chosen(e[0])]
        best = benchmark(entries, args.repeats)
        refs = best.get(f"{kind}-classic-1"), best.get(f"{kind}-raw")
        for key, name, _ in entries:
            ratios = [f"{best[key] / ref:.2f}x" if ref else "-" for ref in refs]
            table.append((key, name, f"{best[key]:,.0f}", *ratios))
    header = ("key", "contender", "samples/s", "vs classic w=1", "vs raw")
    print_table(header, table, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
