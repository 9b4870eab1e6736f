"""Reading every file of a report once: its size, a hash of its bytes, and for an image its
dimensions, the low frequencies of a small grayscale copy and a 4x4 grid of its colours,
which find near-duplicates.

Files are read by threads, a chunk per task: hashing and JPEG decoding release the GIL.
What is kept per file is a few dozen numbers (about 330 bytes), so memory grows with the
number of rows, never with the size of the files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import io
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from kdataset.errors import SampleError
from kdataset.loading.imaging import is_jpeg
from kdataset.loading.loaders import IMAGE_EXTENSIONS, read_npy_header

try:
    import simplejpeg
except ImportError:  # pragma: no cover - a core dependency
    simplejpeg = None

#: Side of the grayscale copy the features are computed from.
GRAY_SIDE = 32
#: Side of the grid of mean colours kept per image.
COLOUR_SIDE = 4
#: The features: the 8x8 lowest frequencies of its 2-D DCT, without the mean (DC) term.
FEATURE_SIDE = 8
FEATURES = FEATURE_SIDE * FEATURE_SIDE - 1
#: Values kept from each sampled array for the histograms.
_VALUES_PER_ARRAY = 4096
_CHUNK = 128


def _dct_matrix(n: int) -> npt.NDArray[np.float32]:
    """The orthonormal DCT-II matrix: `C @ x @ C.T` is the 2-D DCT of an `n x n` `x`."""
    k = np.arange(n)
    c = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    c[0] /= np.sqrt(2)
    rows: npt.NDArray[np.float32] = c[:FEATURE_SIDE].astype(np.float32)
    return rows


_DCT = _dct_matrix(GRAY_SIDE)


def kind_of(path: str) -> str:
    """`"image"`, `"npy"` or `"other"`, by the file's extension."""
    extension = os.path.splitext(path.split("?", 1)[0])[1].lower()
    if extension in IMAGE_EXTENSIONS:
        return "image"
    return "npy" if extension == ".npy" else "other"


@dataclasses.dataclass
class Scan:
    """What reading every file found, one entry per row (of every split, in order).

    Attributes:
        sizes: Bytes of each file; -1 where it could not be read.
        digests: A 128-bit BLAKE2b hash of each file's bytes (`b""` where unread).
        heights: Height of each image in pixels; -1 for other files.
        widths: Width of each image; -1 for other files.
        features: `(rows, 63)` unit vectors: the low frequencies of each image's
            grayscale copy, zeros for other files. Copies of one picture point
            the same way.
        detail: Standard deviation of each image's grayscale copy (0 to 255);
            a nearly uniform image has too little detail to compare.
        colours: `(rows, 4, 4, 3)`: each image's mean colour in each cell of a 4x4 grid.
        errors: Why a file could not be read or decoded, by row.
        arrays: `(shape, dtype)` of each `.npy` file, counted.
        values: Values of the sampled arrays (a subsample of each), for histograms.
    """

    sizes: npt.NDArray[np.int64]
    digests: npt.NDArray[np.bytes_]
    heights: npt.NDArray[np.int32]
    widths: npt.NDArray[np.int32]
    features: npt.NDArray[np.float32]
    detail: npt.NDArray[np.float32]
    colours: npt.NDArray[np.uint8]
    errors: dict[int, str]
    arrays: Counter[tuple[tuple[int, ...], str]]
    values: list[npt.NDArray[np.float64]]

    @classmethod
    def empty(cls, rows: int) -> Scan:
        return cls(
            sizes=np.full(rows, -1, np.int64),
            digests=np.zeros(rows, "S16"),
            heights=np.full(rows, -1, np.int32),
            widths=np.full(rows, -1, np.int32),
            features=np.zeros((rows, FEATURES), np.float32),
            detail=np.zeros(rows, np.float32),
            colours=np.zeros((rows, COLOUR_SIDE, COLOUR_SIDE, 3), np.uint8),
            errors={},
            arrays=Counter(),
            values=[],
        )


def small_picture(data: bytes, side: int = GRAY_SIDE) -> tuple[int, int, npt.NDArray[np.uint8]]:
    """`(height, width, rgb)`: an image file's size and a `side x side x 3` copy averaged
    over each cell (a JPEG decoded at the smallest DCT scale that keeps `side`).

    Raises:
        ValueError: the bytes are not an image.
    """
    from PIL import Image, UnidentifiedImageError

    if simplejpeg is not None and is_jpeg(data):
        try:
            height, width = simplejpeg.decode_jpeg_header(data)[:2]
            pixels = simplejpeg.decode_jpeg(
                data, "RGB", fastdct=True, min_height=side, min_width=side
            )
            return height, width, _shrunk(Image.fromarray(pixels), side)
        except ValueError:
            pass  # CMYK, say: Pillow tries
    try:
        with Image.open(io.BytesIO(data)) as opened, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette transparency, large images
            width, height = opened.size
            if opened.format == "JPEG":
                opened.draft("RGB", (side, side))
            return height, width, _shrunk(as_rgb(opened), side)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(str(e)) from None


def as_rgb(image: Any) -> Any:
    """A PIL image in RGB: transparency over black, 16-bit and float images scaled by PIL."""
    if image.mode == "RGB":
        return image
    if image.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
        return image.convert("RGBA").convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image.convert("L").convert("RGB")
    return image.convert("RGB")


def _shrunk(image: Any, side: int) -> npt.NDArray[np.uint8]:
    """A `side x side` average of a PIL image."""
    from PIL import Image

    factor = min(image.size) // (2 * side)
    if factor > 1:  # a fast integer reduction first, then an exact average
        image = image.reduce(factor)
    return np.asarray(image.resize((side, side), Image.Resampling.BOX), np.uint8)


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def features_of(
    pictures: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """`(features, detail, colours)` of a stack `(n, 32, 32, 3)` of small copies: unit
    vectors of the lowest DCT frequencies of their grayscale (the mean left out, so
    brightness does not count), the grayscale's standard deviation, and the mean colour
    of each cell of a 4x4 grid."""
    x = pictures.astype(np.float32)
    gray = x @ _LUMA
    low = _DCT @ gray @ _DCT.T  # (n, 8, 8)
    flat = low.reshape(len(x), -1)[:, 1:]
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    features = np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)
    cell = GRAY_SIDE // COLOUR_SIDE
    colours = x.reshape(len(x), COLOUR_SIDE, cell, COLOUR_SIDE, cell, 3).mean(axis=(2, 4))
    return (
        features.astype(np.float32),
        gray.reshape(len(x), -1).std(axis=1).astype(np.float32),
        np.rint(colours).astype(np.uint8),
    )


def scan_files(
    paths: Sequence[str | None],
    read: Callable[[Sequence[str]], list[bytes | SampleError]],
    sampled: frozenset[int] = frozenset(),
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Reads every file once, on `workers` threads.

    Args:
        paths: The file of each row (`None` where the row has none).
        read: `fn(paths) -> [bytes or SampleError]` (`loaders.read_files` for local
            files): a chunk of files at a time; a `SampleError` marks a file unread.
        sampled: Rows whose arrays give values for the histograms.
        workers: Threads.
        progress: Called with the number of rows done after each chunk.

    Returns:
        A `Scan`.
    """
    scan = Scan.empty(len(paths))
    starts = range(0, len(paths), _CHUNK)

    def one_chunk(start: int) -> tuple[int, list[_File]]:
        rows = range(start, min(start + _CHUNK, len(paths)))
        given = [i for i in rows if paths[i]]
        read_here = dict(zip(given, read([paths[i] or "" for i in given])))
        return start, [
            _examine(paths[i] or "", read_here[i], i in sampled)
            if i in read_here
            else _File(error="no file")
            for i in rows
        ]

    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for start, files in _in_order(pool, one_chunk, starts, ahead=4 * max(1, workers)):
            small = [f.picture for f in files if f.picture is not None]
            rows = [start + j for j, f in enumerate(files) if f.picture is not None]
            if small:
                features, detail, colours = features_of(np.stack(small))
                scan.features[rows] = features
                scan.detail[rows] = detail
                scan.colours[rows] = colours
            for j, f in enumerate(files):
                i = start + j
                if f.error is not None:
                    scan.errors[i] = f.error
                    continue
                scan.sizes[i] = f.size
                scan.digests[i] = f.digest
                scan.heights[i], scan.widths[i] = f.height, f.width
                if f.array is not None:
                    scan.arrays[f.array] += 1
                if f.values is not None:
                    scan.values.append(f.values)
            if progress is not None:
                progress(len(files))
    return scan


def _in_order(
    pool: concurrent.futures.Executor,
    fn: Callable[[int], tuple[int, list[_File]]],
    items: Sequence[int],
    ahead: int,
) -> Iterator[tuple[int, list[_File]]]:
    """`fn` of each item in order, with at most `ahead` submitted ahead (bounded memory)."""
    pending: list[concurrent.futures.Future[tuple[int, list[_File]]]] = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


@dataclasses.dataclass
class _File:
    size: int = -1
    digest: bytes = b""
    height: int = -1
    width: int = -1
    picture: npt.NDArray[np.uint8] | None = None
    array: tuple[tuple[int, ...], str] | None = None
    values: npt.NDArray[np.float64] | None = None
    error: str | None = None


def _examine(path: str, data: bytes | SampleError, sampled: bool) -> _File:
    if isinstance(data, SampleError):
        return _File(error=data.reason)
    found = _File(size=len(data), digest=hashlib.blake2b(data, digest_size=16).digest())
    kind = kind_of(path)
    with contextlib.suppress(ValueError, SampleError):
        if kind == "image":
            found.height, found.width, found.picture = small_picture(data)
        elif kind == "npy":
            shape, _, dtype, _ = read_npy_header(io.BytesIO(data), path)
            found.array = (tuple(shape), dtype.name)
            if sampled and dtype.kind in "biuf":
                values = np.load(io.BytesIO(data), allow_pickle=False).ravel()
                step = max(1, len(values) // _VALUES_PER_ARRAY)
                found.values = values[::step].astype(np.float64)
    return found
