"""Images: kdataset against the peers, on the same JPEG and PNG files, in one run.

Makes three sets once in `--data-dir` (later runs reuse them), each of 10
classes, its files in one folder per class (`images/<label>/<id>.<ext>`, what
`image_dataset_from_directory` reads) and an `id,label,path` manifest whose
paths point into that tree. Their pixels are random crops of scikit-learn's two
sample photos, so decoding costs what it costs on photos:

- `jpg64`: 5,000 JPEGs of 64x64 (quality 90), read at native size;
- `jpg500`: 1,000 JPEGs of 500x375 (quality 90), resized to 224x224 (bilinear,
  no antialiasing: the pixels of `image_dataset_from_directory`);
- `png64`: 2,000 PNGs of 64x64, read at native size.

Every contender gives float32 batches of 64 with values in 0..255, as
`image_dataset_from_directory` does: kdataset's `ManifestDataset` with an
`ImageLoader` (default settings, then with `cache=`: epochs after the first),
iterated by Keras's own `PyDatasetAdapter` as `fit` iterates it; `tf.data`
(`read_file`, `decode_jpeg` or `decode_png`, `tf.image.resize` where the set is
resized, a parallel map with AUTOTUNE, batch, prefetch); Keras's
`image_dataset_from_directory` ("IDFD"); PyTorch's `DataLoader` over Pillow
(decode, and a bilinear resize, which in Pillow antialiases when shrinking)
with a worker per usable core and with none; the classic `Sequence` recipe
over the same Pillow load; and two ceilings on one thread, a bare simplejpeg
decode loop (JPEGs only) and a bare Pillow loop. The page cache is warmed
first; each contender gets one untimed warm-up pass (it starts workers,
traces, fills the cache), then every round runs every contender and the best
of `--repeats` rounds is kept. A framework that is not installed only loses
its row, and the notes say why.

Absolute rates move between machines of one kind by up to 2x, and with what
else runs: compare the ratios, which come from one run. The notes under the
table set kdataset's ratios beside the project's targets (default settings:
1.5x the best peer on `jpg64`, 1.2x on `jpg500`; cached epochs: 10x).

No single tox env holds TensorFlow and PyTorch together; to reproduce, make a
venv that does, from the repository's root:

    python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install tensorflow-cpu \\
        torch==2.13.0 jax keras simplejpeg pillow pandas rich scikit-learn
    /tmp/benchvenv/bin/pip install -e . --no-deps
    KERAS_BACKEND=jax /tmp/benchvenv/bin/python benchmarks/images.py
    KERAS_BACKEND=jax /tmp/benchvenv/bin/python benchmarks/images.py --sets jpg64 --only kd,tf --markdown
"""

import argparse
import csv
import dataclasses
import functools
import os
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
from loading import CLASSES, Adapted, ClassicGenerator, print_table, read_once
from peers import Pass, TorchLoader, benchmark, environment
from PIL import Image

import kdataset as kd

PEERS = ("tf-data", "idfd", "torch", "classic")  # after "<set>-": the peers' keys
CACHE_TARGET = 10.0  # the bar for cached epochs, against the best peer


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """One set of files: how many, their format and size, what they are read as."""

    ext: str
    count: int
    stored: tuple  # (height, width) of the files
    image_size: tuple | None  # (height, width) they are resized to; None: native size
    target: float | None  # the bar for kdataset's default settings against the best peer


SETS = {
    "jpg64": ImageSet(".jpg", 5000, (64, 64), None, 1.5),
    "jpg500": ImageSet(".jpg", 1000, (375, 500), (224, 224), 1.2),
    "png64": ImageSet(".png", 2000, (64, 64), None, None),
}


def crop(photo, size, rng):
    """A random crop of `photo` with the aspect of `size`, flipped at random, resized to `size`."""
    height, width = size
    tall, wide = photo.shape[:2]
    crop_height = int(rng.integers(height, min(tall, wide * height // width) + 1))
    crop_width = round(crop_height * width / height)
    top = int(rng.integers(0, tall - crop_height + 1))
    left = int(rng.integers(0, wide - crop_width + 1))
    part = photo[top : top + crop_height, left : left + crop_width]
    if rng.random() < 0.5:
        part = part[:, ::-1]
    image = Image.fromarray(np.ascontiguousarray(part))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def make_set(folder, spec, count):
    """Writes `count` images into `folder/images/<label>/` and `folder/manifest.csv`, once.

    Returns:
        `(manifest, relative paths, labels)`, read back from the manifest.
    """
    manifest = os.path.join(folder, "manifest.csv")
    if not os.path.exists(manifest):
        from sklearn.datasets import load_sample_image

        photos = [load_sample_image(name) for name in ("china.jpg", "flower.jpg")]
        rng = np.random.default_rng(0)
        options = {"quality": 90} if spec.ext == ".jpg" else {}
        rows = []
        for i, label in enumerate(rng.integers(0, CLASSES, count)):
            path = f"images/{label}/{i:06d}{spec.ext}"
            os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
            image = crop(photos[rng.integers(len(photos))], spec.stored, rng)
            image.save(os.path.join(folder, path), **options)
            rows.append((f"{i:06d}", label, path))
        with open(manifest + ".tmp", "w", newline="") as f:  # renamed last: a completion marker
            csv.writer(f).writerows([("id", "label", "path"), *rows])
        os.replace(manifest + ".tmp", manifest)
    with open(manifest) as f:
        paths, labels = zip(*((r["path"], int(r["label"])) for r in csv.DictReader(f)))
    return manifest, paths, labels


def pillow_load(path, size=None):
    """Pillow's decode as RGB, a bilinear resize to `size` (height, width) if given, float32."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None:
            image = image.resize(size[::-1], Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.float32)


def simplejpeg_load(shape):
    """A bare simplejpeg decode (fast DCT, as TensorFlow's pixels), cropped to `shape`."""
    import simplejpeg

    height, width = shape[:2]

    def load(path):
        with open(path, "rb") as f:
            return simplejpeg.decode_jpeg(f.read(), fastdct=True)[:height, :width]

    return load


class Bare(Pass):
    """A bare loop on one thread: `load(path)` for each file into a float32 batch; no Keras."""

    def __init__(self, paths, batch_size, shape, load):
        self.paths, self.batch_size, self.shape, self.load = paths, batch_size, shape, load

    def prepare(self):
        self.order = np.random.permutation(len(self.paths))

    def run(self):
        for start in range(0, len(self.order), self.batch_size):
            rows = self.order[start : start + self.batch_size]
            x = np.empty((len(rows), *self.shape), np.float32)
            for j, row in enumerate(rows):
                x[j] = self.load(self.paths[row])
        return len(self.order)


class TfData(Pass):
    """`tf.data` as TensorFlow's guides write it, iterated as NumPy.

    Shuffled paths, then a map with AUTOTUNE: `read_file`, `decode_jpeg` or
    `decode_png`, and `tf.image.resize` (bilinear) or a cast to float32; batch;
    prefetch with AUTOTUNE.
    """

    def __init__(self, paths, labels, batch_size, image_size, png):
        import tensorflow as tf

        decode = tf.io.decode_png if png else tf.io.decode_jpeg

        def fetch(path, label):
            image = decode(tf.io.read_file(path), channels=3)
            if image_size is None:
                return tf.cast(image, tf.float32), label
            return tf.image.resize(image, image_size), label

        auto = tf.data.AUTOTUNE
        ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
        ds = ds.shuffle(len(paths), seed=0).map(fetch, num_parallel_calls=auto)
        self.ds = ds.batch(batch_size).prefetch(auto)

    def run(self):
        return sum(len(x) for x, _ in self.ds.as_numpy_iterator())


class FromDirectory(Pass):
    """`keras.utils.image_dataset_from_directory` over the folder per class, iterated as NumPy."""

    def __init__(self, folder, batch_size, image_size):
        import tensorflow  # noqa: F401  (it returns a tf.data.Dataset, whatever the backend)

        self.ds = keras.utils.image_dataset_from_directory(
            folder,
            image_size=image_size,
            batch_size=batch_size,
            shuffle=True,
            seed=0,
            verbose=False,
        )

    def run(self):
        return sum(len(x) for x, _ in self.ds.as_numpy_iterator())


def contenders(args, name):
    """`[(key, name, make)]` over one of `SETS`, after making its files and warming the page cache."""
    spec = SETS[name]
    count = max(1, round(spec.count * args.scale))
    folder = os.path.join(args.data_dir, f"{name}-{count}")
    manifest, relative, labels = make_set(folder, spec, count)
    paths = [os.path.join(folder, path) for path in relative]
    read_once(paths)
    size, batch, png = spec.image_size, args.batch_size, spec.ext == ".png"
    shape = (*(size or spec.stored), 3)
    pillow = functools.partial(pillow_load, size=size)
    cores = len(os.sched_getaffinity(0))
    data = paths, labels, batch

    def kdata(**kwargs):
        ds = kd.ManifestDataset(
            manifest,
            batch_size=batch,
            path_column="path",
            loader=kd.ImageLoader(image_size=size),
            label_mode="int",
            shuffle=True,
            seed=0,
            **kwargs,
        )
        return Adapted(ds)

    def classic():
        gen = ClassicGenerator(relative, dict(zip(relative, labels)), batch, shape[:2], 3, CLASSES)
        gen.path, gen.load = os.path.join(folder, "{}"), pillow
        return Adapted(gen)

    cache = os.path.join(args.data_dir, f"{name}-{count}.kdcache")
    decode = ("decode_png" if png else "decode_jpeg") + (" + resize" if size else "")
    entries = [
        ("kd-default", "kdataset ManifestDataset + ImageLoader, defaults", kdata),
        ("kd-cache", "kdataset, cache= (epochs after the first)", lambda: kdata(cache=cache)),
        (
            "tf-data",
            f"tf.data, read_file + {decode}, AUTOTUNE",
            lambda: TfData(*data, size, png),
        ),
        (
            "idfd",
            "keras image_dataset_from_directory",
            lambda: FromDirectory(os.path.join(folder, "images"), batch, size or spec.stored),
        ),
        (
            f"torch-{cores}",
            f"torch DataLoader (Pillow), num_workers={cores}",
            lambda: TorchLoader(*data, cores, pillow),
        ),
        (
            "torch-0",
            "torch DataLoader (Pillow), num_workers=0",
            lambda: TorchLoader(*data, 0, pillow),
        ),
        ("classic", "classic Sequence recipe (Pillow), workers=1", classic),
    ]
    if not png:
        entries.append(
            (
                "simplejpeg",
                "bare simplejpeg loop, 1 thread"
                + (" (decode only: a crop, no resize)" if size else ""),
                lambda: Bare(paths, batch, shape, simplejpeg_load(shape)),
            )
        )
    entries.append(
        ("pillow", "bare Pillow loop, 1 thread", lambda: Bare(paths, batch, shape, pillow))
    )
    return [(f"{name}-{key}", text, make) for key, text, make in entries]


def best_peer(best):
    """The key of the fastest peer in `best` (samples/s by key), or None if no peer ran."""
    peers = [k for k in best if k.split("-", 1)[1].startswith(PEERS)]
    return max(peers, key=best.get, default=None)


def summary(name, best):
    """A line setting the set's kdataset ratios beside the issue's targets."""
    top = best_peer(best)
    if top is None:
        return f"{name}: no peer ran"
    parts = [f"{name}: best peer {top.split('-', 1)[1]} ({best[top]:,.0f}/s)"]
    targets = (("kd-default", SETS[name].target), ("kd-cache", CACHE_TARGET))
    for key, target in targets:
        if f"{name}-{key}" in best:
            ratio = best[f"{name}-{key}"] / best[top]
            aim = (
                f" (target {target:g}x: {'met' if ratio >= target else 'NOT met'})"
                if target
                else ""
            )
            parts.append(f"{key} {ratio:.2f}x{aim}")
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ",".join(SETS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="passes per contender; best kept")
    parser.add_argument("--scale", type=float, default=1.0, help="times each set's file count")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: kd-,torch")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    names = [n for n in args.sets.split(",") if n]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown sets {unknown}: expected some of {list(SETS)}")
    wanted = [w for w in args.only.split(",") if w]
    # The torch DataLoader forks its workers (its default); JAX warns about fork once initialised.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
    started = time.perf_counter()

    packages = ("numpy", "pillow", "simplejpeg", "tensorflow", "torch", "jax")
    sizes = "; ".join(
        f"{n}: {round(SETS[n].count * args.scale)} {SETS[n].ext[1:]} "
        f"{SETS[n].stored[1]}x{SETS[n].stored[0]}"
        + (f" -> {SETS[n].image_size[1]}x{SETS[n].image_size[0]}" if SETS[n].image_size else "")
        for n in names
    )
    print(
        f"{environment(packages, load=True)}; {sizes}; batch "
        f"{args.batch_size}; float32 out; one warm-up pass, then best of {args.repeats} passes each\n"
    )
    table, notes = [], []
    for name in names:
        entries = [
            e for e in contenders(args, name) if not wanted or any(w in e[0] for w in wanted)
        ]
        best, skipped = benchmark(entries, args.repeats)
        notes += skipped
        refs = best.get(best_peer(best)), best.get(f"{name}-kd-default")
        table += [
            (key, text, f"{best[key]:,.0f}", *(f"{best[key] / r:.2f}x" if r else "-" for r in refs))
            for key, text, _ in entries
            if key in best
        ]
        notes.append(summary(name, best))
    print_table(
        ("key", "contender", "samples/s", "vs best peer", "vs kd default"), table, args.markdown
    )
    print()
    for note in notes:
        print(note)
    print(
        f"whole run: {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f} (another busy process skews the ratios too)"
    )


if __name__ == "__main__":
    sys.exit(main())
