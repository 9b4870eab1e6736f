"""Images: kdataset against the peers, on the same JPEG and PNG files, in one run.

Makes its sets of files once in `--data-dir` (later runs reuse them), each of 10
classes, its files in one folder per class (`images/<label>/<id>.<ext>`, what
`image_dataset_from_directory` reads) and an `id,label,path` manifest whose
paths point into that tree. Their pixels come from scikit-learn's two sample
photos, so decoding costs what it costs on photos:

- `jpg64`: 5,000 JPEGs of 64x64 (quality 90), read at native size;
- `jpg500`: 1,000 JPEGs of 500x375 (quality 90), resized to 224x224 (bilinear,
  no antialiasing: the pixels of `image_dataset_from_directory`);
- `png64`: 2,000 PNGs of 64x64, read at native size;
- `cache224`: the files of `jpg500`, served from caches: kdataset's packed
  cache of `uint8` (and of `float32`) 224x224 samples, filled ahead by
  `kd.build_cache`, and IDFD's `.cache()`, beside the peers reading the files
  and the ceiling, a bare NumPy gather of the same rows;
- `camera`: 200 camera-sized JPEGs of 2016x1512 (quality 90, about 0.9 MB each: an
  enlarged crop of a sample photo with texture at three scales and sensor-like
  noise), resized to 224x224 by default (full decode, bilinear: IDFD's pixels)
  and with `antialias=True` (decoded at a reduced DCT scale, then area-averaged).

Every contender gives batches of 64 with values in 0..255, float32 as
`image_dataset_from_directory` gives them unless its row says `uint8`:
kdataset's `ManifestDataset` with an `ImageLoader`, iterated by Keras's own
`PyDatasetAdapter` as `fit` iterates it; `tf.data` (`read_file`, `decode_jpeg`
or `decode_png`, `tf.image.resize` where the set is resized, a parallel map
with AUTOTUNE, batch, prefetch); Keras's `image_dataset_from_directory`
("IDFD") on its `tf.data` path, and with `format="grain"`, its TensorFlow-free
path (Pillow decode, a `keras.ops` resize per image, on the running backend:
what a JAX or PyTorch user gets without TensorFlow); PyTorch's `DataLoader`
over Pillow (decode, and a bilinear resize, which in Pillow antialiases when
shrinking) with a worker per usable core and with none; the classic `Sequence`
recipe over the same Pillow load; and ceilings on one thread: a bare
simplejpeg decode loop (JPEGs only), a bare Pillow loop, and the NumPy gather.
The page cache is warmed first; each contender gets one untimed warm-up pass
(it starts workers, traces, fills a cache), then every round runs every
contender and the best of `--repeats` rounds is kept. A framework or a
kdataset feature that is not installed only loses its row, and the notes say
why; so does a contender that fails in its warm-up pass.

Absolute rates move between machines of one kind by up to 2x, and with what
else runs: compare the ratios, which come from one run. Each set prints its
table, its goals (the project's targets, met or not), and a paragraph on what
bounds each row.

No single tox env holds TensorFlow, PyTorch, JAX and Grain together; to
reproduce, make a venv that does, from the repository's root:

    python -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install tensorflow-cpu \\
        torch==2.13.0 jax keras grain simplejpeg pillow pandas rich scikit-learn
    /tmp/benchvenv/bin/pip install -e . --no-deps
    KERAS_BACKEND=jax /tmp/benchvenv/bin/python benchmarks/images.py
    KERAS_BACKEND=jax /tmp/benchvenv/bin/python benchmarks/images.py --sets cache224,camera --markdown
"""

import argparse
import csv
import dataclasses
import functools
import inspect
import os
import sys
import tempfile
import textwrap
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
from loading import CLASSES, Adapted, ClassicGenerator, print_table, read_once
from peers import Pass, TorchLoader, environment
from PIL import Image

import kdataset as kd

SLOW_PASS = 20.0  # seconds: a contender whose warm-up pass takes longer is timed once

# What each contender is, by the start of its key (after "<set>-"): peers read the files as their
# users would; a cached peer serves from its own cache; ceilings are bare loops with no framework.
ROLES = {
    "kd-": "kdataset",
    "tf-data": "peer",
    "idfd-cache": "cached peer",
    "idfd": "peer",
    "torch": "peer",
    "classic": "peer",
    "simplejpeg": "ceiling",
    "pillow": "ceiling",
    "gather": "ceiling",
}


@dataclasses.dataclass(frozen=True)
class Goal:
    """A target: the contender `key` at least `ratio` times `ref` ("peer": the best peer)."""

    key: str
    ref: str
    ratio: float

    def verdict(self, best, name):
        """`"kd-x 1.52x idfd (target 1.5x: met)"`, or None when either row did not run."""
        ref = best_peer(best, name) if self.ref == "peer" else f"{name}-{self.ref}"
        mine = best.get(f"{name}-{self.key}")
        if ref is None or ref not in best or mine is None:
            return None
        ratio = mine / best[ref]
        met = "met" if ratio >= self.ratio else "NOT met"
        return f"{self.key} {ratio:.2f}x {short(ref)} (target {self.ratio:g}x: {met})"


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """One set of files: how many, their format and size, what they are read as, the goals."""

    ext: str
    count: int
    stored: tuple  # (height, width) of the files
    image_size: tuple | None  # (height, width) they are resized to; None: native size
    goals: tuple = ()
    files: str | None = None  # the set whose files it reads, if not its own
    content: str = "crop"  # "crop": crops of the sample photos; "camera": enlarged, with texture
    refs: tuple = ("peer", "kd-default")  # the columns of ratios: "peer" or a contender's key
    about: str = ""  # what bounds each row, printed under the table


SETS = {
    "jpg64": ImageSet(
        ".jpg",
        5000,
        (64, 64),
        None,
        goals=(Goal("kd-default", "peer", 1.5), Goal("kd-cache", "peer", 10.0)),
        about=(
            "kd-default: the JPEG decode on both cores (the bare simplejpeg row is that decode on "
            "one), with one C call per batch reading its files outside the GIL and a few "
            "microseconds of Python an image. tf-data, idfd: tf.data's work per element, a map call "
            "an image. idfd-grain: per image, a Pillow decode and eager keras.ops calls on the "
            "backend (convert, resize), then a keras.ops.stack per batch, in threads that share the "
            "GIL; its first batch was the same in every epoch (note above). torch, classic, pillow: "
            "Pillow's decode and its Python per image. kd-cache: uint8 rows (at native size the "
            "pixels are integers) gathered from the memory-mapped cache and made float32: memory "
            "bandwidth."
        ),
    ),
    "jpg500": ImageSet(
        ".jpg",
        1000,
        (375, 500),
        (224, 224),
        goals=(Goal("kd-default", "peer", 1.2),),
        about=(
            "kd-default: libjpeg-turbo's decode, the one tf.data and IDFD use, on both cores: at "
            "most twice the bare simplejpeg row (that decode alone, on one thread), less the resize "
            "and the batch. tf-data, idfd: the same decode and tf.image.resize in tf.data's "
            "threads. idfd-grain: Pillow's decode, then each image made float32 and resized by "
            "keras.ops on the backend, one at a time. torch, classic, pillow: Pillow's slower "
            "decode and its antialiased resize. kd-cache: float32 rows of 600 KB, memory bandwidth; "
            "the cached rows are compared in `cache224`."
        ),
    ),
    "png64": ImageSet(
        ".png",
        2000,
        (64, 64),
        None,
        goals=(Goal("kd-cache", "peer", 10.0),),
        about=(
            "Every uncached row is bound by zlib's inflate: Pillow's in kdataset, torch, the "
            "classic recipe and the bare loop, libpng's in tf.data and IDFD; idfd-grain adds its "
            "keras.ops calls per image. kd-cache: uint8 rows gathered from the memory-mapped cache "
            "and made float32: memory bandwidth."
        ),
    ),
    "cache224": ImageSet(
        ".jpg",
        1000,
        (375, 500),
        (224, 224),
        goals=(Goal("kd-cache-u8", "peer", 10.0), Goal("kd-cache-u8", "gather-u8", 0.9)),
        files="jpg500",
        refs=("peer", "gather-u8"),
        about=(
            "kd-cache-u8, gather-u8: memory bandwidth, at 150 KB a sample; the gather copies "
            "shuffled rows into one reused array on one thread and does nothing else, where "
            "kdataset adds Keras's adapter, the labels and its own threads. kd-cache-f32, "
            "gather-f32: the same at 600 KB a sample, 4x the bytes. kd-u8 and the uncached peers: "
            "the JPEG decode (as in `jpg500`). idfd-cache: TensorFlow keeps the first epoch's "
            "batches and hands back the same batches, in the same order, every epoch (no copy, no "
            "reshuffle: the note above checks the first batch), which is why it looks fast; "
            "kdataset reshuffles every epoch."
        ),
    ),
    "camera": ImageSet(
        ".jpg",
        200,
        (1512, 2016),
        (224, 224),
        goals=(Goal("kd-antialias", "kd-default", 1.4), Goal("kd-antialias", "idfd", 1.0)),
        content="camera",
        about=(
            "A 3-megapixel JPEG costs its entropy (Huffman) decode, which no DCT scale skips, plus "
            "its inverse DCT, upsampling and colour conversion at the scale it is decoded at. "
            "kd-default, idfd and the bare simplejpeg row: libjpeg-turbo's full decode (kdataset's "
            "on both cores, the bare row on one). kd-antialias: the decode at the smallest of 1/2, "
            "1/4 and 1/8 that still covers 224x224 (1/4 here: 504x378), then area averaging in C; "
            "the bare reduced row is that decode alone, on one thread, so kd-antialias can gain on "
            "kd-default about what the reduced row gains on the full one: less where the files "
            "hold more entropy per pixel. idfd-grain: Pillow's full "
            "decode, then 3 MP of float32 resized by keras.ops on the backend, per image. torch: "
            "Pillow's full decode and its antialiased resize."
        ),
    ),
}


def role(key):
    """The role (see `ROLES`) of a contender's key after its set's name."""
    return next(r for start, r in ROLES.items() if key.startswith(start))


def short(key):
    """A contender's key without its set's name."""
    return key.split("-", 1)[1]


def best_peer(best, name):
    """The key of the fastest peer of set `name` in `best` (samples/s by key), or None."""
    peers = [k for k in best if k.startswith(f"{name}-") and role(short(k)) == "peer"]
    return max(peers, key=best.get, default=None)


def crop(photo, size, rng):
    """A random crop of `photo` with the aspect of `size`, flipped at random, resized to `size`."""
    height, width = size
    tall, wide = photo.shape[:2]
    crop_height = int(rng.integers(min(height, tall), min(tall, wide * height // width) + 1))
    crop_width = round(crop_height * width / height)
    top = int(rng.integers(0, tall - crop_height + 1))
    left = int(rng.integers(0, wide - crop_width + 1))
    part = photo[top : top + crop_height, left : left + crop_width]
    if rng.random() < 0.5:
        part = part[:, ::-1]
    image = Image.fromarray(np.ascontiguousarray(part))
    return image.resize((width, height), Image.Resampling.BILINEAR)


def camera(photo, size, rng):
    """A camera-sized frame that compresses as a photo does (about 0.9 MB at quality 90, 3 MP).

    An enlarged crop of `photo` (its edges and smooth regions), plus luminance texture
    at three scales (16, 4 and 2 pixels) and sensor-like noise: enlarged alone, a photo
    would be smoother than any camera's, and noise alone would be harder to decode.
    """
    height, width = size
    pixels = np.asarray(crop(photo, size, rng), np.float32)
    for cell, amplitude in ((16, 10), (4, 8), (2, 8)):
        coarse = rng.normal(0, amplitude, (height // cell + 2, width // cell + 2))
        layer = Image.fromarray(coarse.astype(np.float32))  # mode "F"
        layer = layer.resize((width + 2 * cell, height + 2 * cell), Image.Resampling.BICUBIC)
        pixels += np.asarray(layer)[cell : cell + height, cell : cell + width, None]
    pixels += rng.normal(0, 5, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def make_set(folder, spec, count):
    """Writes `count` images into `folder/images/<label>/` and `folder/manifest.csv`, once.

    Returns:
        `(manifest, relative paths, labels)`, read back from the manifest.
    """
    manifest = os.path.join(folder, "manifest.csv")
    if not os.path.exists(manifest):
        from sklearn.datasets import load_sample_image

        photos = [load_sample_image(name) for name in ("china.jpg", "flower.jpg")]
        draw = camera if spec.content == "camera" else crop
        rng = np.random.default_rng(0)
        options = {"quality": 90} if spec.ext == ".jpg" else {}
        rows = []
        if count > 100:
            print(f"making {count} files in {folder} (once) ...", file=sys.stderr)
        for i, label in enumerate(rng.integers(0, CLASSES, count)):
            path = f"images/{label}/{i:06d}{spec.ext}"
            os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
            image = draw(photos[rng.integers(len(photos))], spec.stored, rng)
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


def reduced_scale(stored, size):
    """The DCT scale `antialias=True` decodes a JPEG of `stored` at for `size` (both
    `(height, width)`): the smallest of 1/2, 1/4, 1/8 that still covers `size`; 1 if none."""
    fits = [d for d in (2, 4, 8) if all(-(-s // d) >= t for s, t in zip(stored, size))]
    return fits[-1] if fits else 1


def simplejpeg_load(shape, scale=1):
    """A bare simplejpeg decode (fast DCT, as TensorFlow's pixels), cropped to `shape`.

    With `scale` (2, 4 or 8), decoded at 1/`scale` by libjpeg-turbo's scaled IDCT.
    """
    import simplejpeg

    height, width = shape[:2]

    def load(path):
        with open(path, "rb") as f:
            data = f.read()
        reduced = {}
        if scale > 1:
            tall, wide = simplejpeg.decode_jpeg_header(data)[:2]
            reduced = {"min_height": -(-tall // scale), "min_width": -(-wide // scale)}
        return simplejpeg.decode_jpeg(data, fastdct=True, **reduced)[:height, :width]

    return load


def dtype_loader(image_size, dtype):
    """`kd.ImageLoader(image_size=..., dtype=...)`; NotImplementedError before kdataset has `dtype=`."""
    if "dtype" not in inspect.signature(kd.ImageLoader).parameters:
        raise NotImplementedError("this kdataset's ImageLoader has no `dtype=` argument")
    return kd.ImageLoader(image_size=image_size, dtype=dtype)


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


class Gather(Pass):
    """The ceiling of a cache: a bare NumPy gather of in-RAM rows, shuffled, into one reused array.

    The rows are what kdataset's `ImageLoader` gives for the set (read once, in
    order, through an unshuffled `ManifestDataset`), so they are the bytes its
    cache holds.
    """

    def __init__(self, manifest, batch_size, loader):
        ds = kd.ManifestDataset(
            manifest, batch_size=batch_size, path_column="path", loader=loader, shuffle=False
        )
        self.rows = np.concatenate([ds[i][0] for i in range(len(ds))])
        ds.close()
        self.out = np.empty((batch_size, *self.rows.shape[1:]), self.rows.dtype)
        self.batch_size, self.rng = batch_size, np.random.default_rng(0)

    def prepare(self):
        self.order = self.rng.permutation(len(self.rows))

    def run(self):
        for start in range(0, len(self.order), self.batch_size):
            rows = self.order[start : start + self.batch_size]
            # mode="clip": unbuffered (with "raise", NumPy gathers into a copy of `out`, then copies)
            np.take(self.rows, rows, axis=0, out=self.out[: len(rows)], mode="clip")
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
    """`keras.utils.image_dataset_from_directory` over the folder per class, iterated as NumPy.

    `cache=True` appends `.cache()`, as Keras's guides do; `firsts` keeps the
    labels of each pass's first batch, to show whether epochs differ.
    """

    def __init__(self, folder, batch_size, image_size, cache=False):
        import tensorflow  # noqa: F401  (it returns a tf.data.Dataset, whatever the backend)

        self.ds = keras.utils.image_dataset_from_directory(
            folder,
            image_size=image_size,
            batch_size=batch_size,
            shuffle=True,
            seed=0,
            verbose=False,
        )
        if cache:
            self.ds = self.ds.cache()
        self.firsts = []

    def run(self):
        count = 0
        for x, y in self.ds.as_numpy_iterator():
            if not count:
                self.firsts.append(y.tobytes())
            count += len(x)
        return count


class FromDirectoryGrain(FromDirectory):
    """`image_dataset_from_directory(..., format="grain")`: Keras's TensorFlow-free path.

    A `grain.IterDataset`: Pillow decodes, `keras.ops` converts and resizes each
    image on the running backend, Grain's default read options run it in
    threads, and `keras.ops.stack` makes the batch. Batches come as backend
    tensors; each is made a NumPy array, as the rows through Keras's adapter are.
    """

    def __init__(self, folder, batch_size, image_size):
        import grain  # noqa: F401  (Keras needs it for format="grain")

        if "format" not in inspect.signature(keras.utils.image_dataset_from_directory).parameters:
            raise NotImplementedError(f"keras {keras.__version__} has no `format=` here")
        self.ds = keras.utils.image_dataset_from_directory(
            folder,
            image_size=image_size,
            batch_size=batch_size,
            shuffle=True,
            seed=0,
            verbose=False,
            format="grain",
        )
        self.firsts = []

    def run(self):
        count = 0
        for x, y in self.ds:
            x, y = keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)
            if not count:
                self.firsts.append(y.tobytes())
            count += len(x)
        return count


def fill(manifest, path, loader):
    """Fills the cache at `path` ahead with `kd.build_cache`, if kdataset has it; a note on it.

    Without `build_cache`, the contender's untimed warm-up pass fills it.
    """
    if not hasattr(kd, "build_cache"):
        return f"{os.path.basename(path)}: filled by the warm-up pass (no kd.build_cache here)"
    report = kd.build_cache(manifest, path, path_column="path", loader=loader, progress=False)
    rate = f", {report.written / report.seconds:,.0f}/s" if report.written else ""
    return (
        f"{os.path.basename(path)}: kd.build_cache wrote {report.written} samples, found "
        f"{report.already} there, in {report.seconds:.1f} s{rate}; {report.nbytes / 1e6:,.0f} MB "
        f"of {report.dtype} {report.shape}"
    )


def contenders(args, name, notes):
    """`[(key, text, make)]` over one of `SETS`, after making its files and warming the page cache.

    `make` appends to `notes` what it has to say (how its cache was filled).
    """
    spec = SETS[name]
    files = spec.files or name
    count = file_count(args, name)
    folder = os.path.join(args.data_dir, f"{files}-{count}")
    manifest, relative, labels = make_set(folder, SETS[files], count)
    paths = [os.path.join(folder, path) for path in relative]
    read_once(paths)
    size, batch, png = spec.image_size, args.batch_size, spec.ext == ".png"
    shape = (*(size or spec.stored), 3)
    pillow = functools.partial(pillow_load, size=size)
    cores = len(os.sched_getaffinity(0))
    data = paths, labels, batch
    directory = os.path.join(folder, "images")

    def kdata(loader=None, **kwargs):
        ds = kd.ManifestDataset(
            manifest,
            batch_size=batch,
            path_column="path",
            loader=loader or kd.ImageLoader(image_size=size),
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

    def cached(loader, suffix=""):  # the float32 cache of jpg500 is the float32 one of cache224
        path = os.path.join(args.data_dir, f"{files}-{count}{suffix}.kdcache")
        notes.append(fill(manifest, path, loader))
        return kdata(loader, cache=path)

    decode = ("decode_png" if png else "decode_jpeg") + (" + resize" if size else "")
    tf_data = (f"tf.data, read_file + {decode}, AUTOTUNE", lambda: TfData(*data, size, png))
    idfd = (
        "keras image_dataset_from_directory",
        lambda: FromDirectory(directory, batch, shape[:2]),
    )
    idfd_grain = (
        'keras image_dataset_from_directory, format="grain"',
        lambda: FromDirectoryGrain(directory, batch, shape[:2]),
    )
    torch = (
        f"torch DataLoader (Pillow), num_workers={cores}",
        lambda: TorchLoader(*data, cores, pillow),
    )
    simplejpeg = (
        "bare simplejpeg loop, 1 thread" + (" (decode only: a crop, no resize)" if size else ""),
        lambda: Bare(paths, batch, shape, simplejpeg_load(shape)),
    )
    pillow_loop = ("bare Pillow loop, 1 thread", lambda: Bare(paths, batch, shape, pillow))
    if name == "cache224":
        entries = [
            (
                "kd-cache-u8",
                "kdataset, uint8, cache= (epochs from the filled cache)",
                lambda: cached(dtype_loader(size, "uint8"), "-uint8"),
            ),
            (
                "kd-cache-f32",
                "kdataset, float32, cache= (epochs from the filled cache)",
                lambda: cached(kd.ImageLoader(image_size=size)),
            ),
            ("kd-u8", "kdataset, uint8, no cache", lambda: kdata(dtype_loader(size, "uint8"))),
            ("tf-data", *tf_data),
            ("idfd", *idfd),
            ("idfd-grain", *idfd_grain),
            (f"torch-{cores}", *torch),
            (
                "idfd-cache",
                "keras image_dataset_from_directory(...).cache() (epochs after the first)",
                lambda: FromDirectory(directory, batch, shape[:2], cache=True),
            ),
            (
                "gather-u8",
                "bare NumPy gather of the uint8 rows, 1 thread",
                lambda: Gather(manifest, batch, dtype_loader(size, "uint8")),
            ),
            (
                "gather-f32",
                "bare NumPy gather of the float32 rows, 1 thread",
                lambda: Gather(manifest, batch, kd.ImageLoader(image_size=size)),
            ),
        ]
    elif name == "camera":
        smooth = kd.ImageLoader(image_size=size, antialias=True)
        scale = reduced_scale(spec.stored, size)
        entries = [
            ("kd-default", "kdataset ImageLoader, defaults (full decode, bilinear)", kdata),
            (
                "kd-antialias",
                "kdataset ImageLoader, antialias=True (reduced decode, area)",
                lambda: kdata(smooth),
            ),
            ("idfd", *idfd),
            ("idfd-grain", *idfd_grain),
            (f"torch-{cores}", *torch),
            ("simplejpeg", *simplejpeg),
            (
                "simplejpeg-reduced",
                f"bare simplejpeg loop, 1 thread (decode only, at 1/{scale} as antialias; a crop)",
                lambda: Bare(paths, batch, shape, simplejpeg_load(shape, scale)),
            ),
        ]
    else:
        entries = [
            ("kd-default", "kdataset ManifestDataset + ImageLoader, defaults", kdata),
            (
                "kd-cache",
                "kdataset, cache= (epochs from the filled cache)",
                lambda: cached(kd.ImageLoader(image_size=size)),
            ),
            ("tf-data", *tf_data),
            ("idfd", *idfd),
            ("idfd-grain", *idfd_grain),
            (f"torch-{cores}", *torch),
            (
                "torch-0",
                "torch DataLoader (Pillow), num_workers=0",
                lambda: TorchLoader(*data, 0, pillow),
            ),
            ("classic", "classic Sequence recipe (Pillow), workers=1", classic),
        ]
        if not png:
            entries.append(("simplejpeg", *simplejpeg))
        entries.append(("pillow", *pillow_loop))
    return [(f"{name}-{key}", text, make) for key, text, make in entries]


def measure(entries, repeats):
    """Best samples/s of each contender, and notes on those that could not be built or run.

    As `peers.benchmark`, with two differences: a contender that fails when
    made or in its warm-up pass loses its row with a note (a kdataset feature
    not there yet, say), not the run; and one whose warm-up pass took over `SLOW_PASS` seconds
    is timed once, not `repeats` times, to keep a run within minutes.
    """
    built, rounds, notes = {}, {}, []
    for key, _, make in entries:
        try:
            built[key] = make()
        except (ImportError, NotImplementedError) as e:
            notes.append(f"{short(key)}: skipped ({type(e).__name__}: {e})")
        except Exception as e:
            notes.append(f"{short(key)}: FAILED when made ({type(e).__name__}: {e})")
    for key, contender in list(built.items()):  # untimed warm-up pass
        start = time.perf_counter()
        try:
            contender.prepare()
            contender.run()
        except Exception as e:
            notes.append(f"{short(key)}: FAILED in its warm-up pass ({type(e).__name__}: {e})")
            getattr(built.pop(key), "finish", lambda: None)()
            continue
        finally:
            contender.close()
        seconds = time.perf_counter() - start
        rounds[key] = repeats if seconds < SLOW_PASS else 1
        if rounds[key] < repeats:
            notes.append(f"{short(key)}: timed once (its warm-up pass took {seconds:.0f} s)")
    best = dict.fromkeys(built, 0.0)
    for round_ in range(repeats):
        for key, contender in built.items():
            if round_ >= rounds[key]:
                continue
            contender.prepare()
            start = time.perf_counter()
            count = contender.run()
            best[key] = max(best[key], count / (time.perf_counter() - start))
            contender.close()
    for key, contender in built.items():
        firsts = getattr(contender, "firsts", None)
        if firsts:
            same = "the same" if len(set(firsts)) == 1 else "not the same"
            notes.append(
                f"{short(key)}: the first batch's labels were {same} in all {len(firsts)} epochs"
            )
    for contender in built.values():
        getattr(contender, "finish", lambda: None)()
    return best, notes


def file_count(args, name):
    """The files of set `name` at `--scale`: at least two batches (each contender reads two
    batches before its warm-up pass)."""
    spec = SETS[name]
    return max(2 * args.batch_size, round(SETS[spec.files or name].count * args.scale))


def title(name, args):
    """A line naming the set: its files, what they are read as."""
    spec = SETS[name]
    count = file_count(args, name)
    size = f" -> {spec.image_size[1]}x{spec.image_size[0]}" if spec.image_size else ""
    reuse = f" (the files of `{spec.files}`)" if spec.files else ""
    return f"{name}: {count} {spec.ext[1:]} {spec.stored[1]}x{spec.stored[0]}{size}{reuse}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ",".join(SETS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="passes per contender; best kept")
    parser.add_argument("--scale", type=float, default=1.0, help="times each set's file count")
    parser.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "kdataset-bench"))
    parser.add_argument("--only", default="", help="parts of keys, comma-separated: kd-,torch")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args()
    names = [n for n in args.sets.split(",") if n]
    unknown = sorted(set(names) - set(SETS))
    if unknown:
        parser.error(f"unknown sets {unknown}: expected some of {list(SETS)}")
    wanted = [w for w in args.only.split(",") if w]
    # The torch DataLoader forks its workers (its default); JAX warns about fork once initialised.
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
    started = time.perf_counter()

    packages = ("numpy", "pillow", "simplejpeg", "tensorflow", "torch", "jax", "grain")
    print(
        f"{environment(packages, load=True)}; batch {args.batch_size}; one warm-up pass, "
        f"then best of {args.repeats} passes each\n"
    )
    for name in names:
        spec = SETS[name]
        fills = []
        entries = [
            e for e in contenders(args, name, fills) if not wanted or any(w in e[0] for w in wanted)
        ]
        best, notes = measure(entries, args.repeats)
        notes = fills + notes
        refs = [best_peer(best, name) if r == "peer" else f"{name}-{r}" for r in spec.refs]
        header = [
            "key",
            "contender",
            "samples/s",
            *(f"vs {'best peer' if r == 'peer' else r}" for r in spec.refs),
        ]
        table = [
            (
                short(key),
                text,
                f"{best[key]:,.0f}",
                *(f"{best[key] / best[r]:.2f}x" if r in best else "-" for r in refs),
            )
            for key, text, _ in entries
            if key in best
        ]
        print(("### " if args.markdown else "") + title(name, args) + "\n")
        print_table(header, table, args.markdown)
        print()
        top = best_peer(best, name)
        lines = [f"best peer: {short(top)}" if top else "best peer: none ran"]
        lines += [v for v in (g.verdict(best, name) for g in spec.goals) if v]
        print("; ".join(lines))
        for note in notes:
            print(note)
        about = (
            spec.about if args.markdown else textwrap.fill(spec.about, 100, break_on_hyphens=False)
        )
        print(f"\n{about}\n" + ("" if args.markdown else "-" * 100 + "\n"))
    print(
        f"whole run: {time.perf_counter() - started:.0f} s; load average now "
        f"{os.getloadavg()[0]:.1f} (another busy process skews the ratios too)"
    )


if __name__ == "__main__":
    sys.exit(main())
