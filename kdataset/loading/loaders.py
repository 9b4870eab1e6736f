"""Loaders: turn a file path into an array of one known shape and dtype.

A loader is anything callable as `loader(path) -> array`. The dataset calls
`probe` once on the first sample to learn the shape and dtype, then
`load_into` for every sample, writing straight into the batch buffer.
`NpyLoader` reads `.npy` files without parsing each header: one `preadv`
system call puts the header and the data where they belong.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from kdataset.errors import SampleError, one_of
from kdataset.loading import imaging
from kdataset.loading.imaging import COLOR_MODES, ColorMode, Region

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

Shape: TypeAlias = tuple[int, ...]
"""The shape of one sample, as NumPy gives it."""

Failures: TypeAlias = list[tuple[int, SampleError]]
"""`[(position, SampleError)]`: the samples of a batch that did not load, by position."""

RemoteReads: TypeAlias = Literal["file", "bytes", "npy"]
"""How a loader's samples are read from object storage (`Loader.remote_reads`)."""

LoaderFunction: TypeAlias = Callable[[str], npt.ArrayLike]
"""A plain function `fn(path) -> array` used as a loader."""

Interpolation: TypeAlias = Literal[
    "bilinear", "nearest", "bicubic", "lanczos3", "lanczos", "area", "box", "hamming"
]
"""How `ImageLoader` resizes: as `tf.image.resize` (`"bilinear"`, `"nearest"`), by exact
area averaging (`"area"`, `"box"`), or with a Pillow filter."""

ImageDtype: TypeAlias = Literal["float32", "uint8"] | np.dtype | type[np.float32] | type[np.uint8]
"""The `dtype` of `ImageLoader` and `MaskLoader`: `"float32"` or `"uint8"` (or those NumPy
dtypes)."""


def _describe(shape: Sequence[int], dtype: npt.DTypeLike) -> str:
    return f"shape {tuple(shape)} and dtype {np.dtype(dtype).name}"


def check_sample(
    got_shape: Sequence[int], got_dtype: np.dtype, shape: Sequence[int], dtype: np.dtype, path: str
) -> None:
    """Raises `SampleError` unless a sample of `got_shape` and `got_dtype` has the
    expected `shape` and `dtype` (those of the first sample)."""
    if np.dtype(got_dtype).hasobject:
        raise SampleError(
            "the loader returned an array of Python objects; return a numeric array", path=path
        )
    if tuple(got_shape) != tuple(shape) or got_dtype != dtype:
        raise SampleError(
            f"{_describe(got_shape, got_dtype)} differ from the first sample's "
            f"{_describe(shape, dtype)}; every sample must have the same shape and dtype",
            path=path,
        )


class Loader:
    """Base class for loaders: subclasses implement `__call__(path) -> array`.

    `probe` and `load_into` have working defaults built on `__call__`;
    a subclass overrides them when it can do better.

    Attributes:
        releases_gil: Whether loading runs mostly outside Python's global
            interpreter lock (in system calls or C code), so that several
            threads load on several cores. `workers="auto"` then uses a thread
            per core; otherwise one, since threads contending for the lock
            load slower than one thread alone.
        storage_dtype: The smallest dtype that holds every sample exactly
            (`uint8` for pixels that were not interpolated, or were rounded),
            which the packed cache stores them in; `None` for the samples'
            own dtype.
        remote_reads: How a sample is read from object storage
            (`kdataset.io.storage.RemoteLoader`): `"file"` (the default) writes
            the object to a temporary file for the loader; `"bytes"` hands the
            loader the object's bytes (`decode_into`); `"npy"` reads a `.npy`
            object's header and data with ranged requests.
    """

    releases_gil: bool = False
    storage_dtype: np.dtype | None = None
    remote_reads: RemoteReads = "file"

    def __call__(self, path: str) -> npt.ArrayLike:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(path)")

    def array(self, path: str) -> np.ndarray:
        """`self(path)` as a NumPy array; any failure a `SampleError` naming `path`."""
        try:
            value = self(path)
        except SampleError:
            raise
        except Exception as e:
            raise SampleError(f"{type(e).__name__}: {e}", path=path) from e
        try:
            return np.asarray(value)
        except Exception as e:
            raise SampleError(
                f"the loader returned {type(value).__name__}, which is not an array ({e})",
                path=path,
            ) from e

    def probe(self, path: str) -> tuple[Shape, np.dtype]:
        """Loads one sample and returns its `(shape, dtype)`."""
        array = self.array(path)
        if array.dtype.hasobject:
            raise SampleError(
                "the loader returned an array of Python objects; return a numeric array",
                path=path,
            )
        return tuple(array.shape), array.dtype

    def load_into(self, path: str, out: np.ndarray) -> None:
        """Loads one sample into `out`, an array of the expected shape and dtype."""
        array = self.array(path)
        check_sample(array.shape, array.dtype, out.shape, out.dtype, path)
        out[...] = array

    def decode_into(self, path: str, data: bytes, out: np.ndarray | None = None) -> np.ndarray:
        """For `remote_reads = "bytes"`: decodes the bytes `data` of the file at `path`
        into `out` (a new array if `None`) and returns it."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement decode_into(path, data, out) "
            "for remote_reads='bytes'"
        )

    def probe_bytes(self, path: str, data: bytes) -> tuple[Shape, np.dtype]:
        """For `remote_reads = "bytes"`: `probe` of the sample whose file holds `data`."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement probe_bytes(path, data) for remote_reads='bytes'"
        )


def load_each(
    loader: Loader, paths: Sequence[str], out: np.ndarray, skip: bool = False
) -> Failures:
    """Loads `paths` into `out[0]`, `out[1]`, ... one `loader.load_into` at a time.

    Returns:
        The failures, as `[(position, SampleError)]`: the first one only,
        unless `skip`, when loading goes on past failed samples.
    """
    # out[j, ...] is a view, also for 0-d samples.
    return fill_each(paths, lambda j: loader.load_into(paths[j], out[j, ...]), skip)


def fill_each(paths: Sequence[str], fill: Callable[[int], object], skip: bool = False) -> Failures:
    """Calls `fill(j)` for each position of `paths`, collecting what fails.

    Returns:
        `[(position, SampleError)]`, an error of another type named by its
        path: the first one only, unless `skip`.
    """
    failures: Failures = []
    for j, path in enumerate(paths):
        try:
            fill(j)
        except Exception as e:
            error = (
                e
                if isinstance(e, SampleError)
                else SampleError(f"{type(e).__name__}: {e}", path=path)
            )
            failures.append((j, error))
            if not skip:
                break
    return failures


class FunctionLoader(Loader):
    """Wraps a plain function `fn(path) -> array` as a loader.

    Args:
        fn: The function. It must be picklable (defined at module level) for
            `use_multiprocessing=True`.
        releases_gil: Whether `fn` spends most of its time outside Python's
            GIL (OpenCV, Pillow, a C library), so that `workers="auto"` loads
            with a thread per core. By default one thread loads: threads slow
            a function that holds the GIL (such as `np.load`) down.

    Example:

    >>> import numpy as np
    >>> loader = FunctionLoader(np.load)
    >>> loader.releases_gil
    False
    """

    def __init__(self, fn: LoaderFunction, releases_gil: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"Invalid `fn`: expected a callable. Received: {fn!r}")
        self.fn = fn
        self.releases_gil = bool(releases_gil)

    def __call__(self, path: str) -> npt.ArrayLike:
        return self.fn(path)

    def __repr__(self) -> str:
        return f"FunctionLoader({getattr(self.fn, '__qualname__', self.fn)!r})"


# NumPy parses headers with `ast.literal_eval`, which CPython before 3.11.9 can break
# on ("AST constructor recursion depth mismatch") when threads parse at once.
_HEADER_LOCK = threading.Lock()


def read_npy_header(f: BinaryIO, path: str) -> tuple[Shape, bool, np.dtype, int]:
    """`(shape, fortran_order, dtype, header_length)` of an open `.npy` file, or a
    `SampleError` naming `path`. Never unpickles: object arrays are refused."""
    with _HEADER_LOCK:
        return _read_header_unlocked(f, path)


def _read_header_unlocked(f: BinaryIO, path: str) -> tuple[Shape, bool, np.dtype, int]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, SyntaxError) as e:
        raise SampleError(f"not a readable .npy file ({e})", path=path) from None
    if dtype.hasobject:
        raise SampleError(
            "the array holds Python objects, which only pickle can load; kdataset never "
            "unpickles (save numeric arrays instead)",
            path=path,
        )
    return tuple(shape), fortran, dtype, f.tell()


def _open(path: str) -> io.BufferedReader:
    try:
        return open(path, "rb")
    except OSError as e:
        raise SampleError(f"cannot read the file ({e.strerror or e})", path=path) from None


class NpyLoader(Loader):
    """Loads `.npy` files, never unpickling.

    Reading into a batch skips the usual header parsing: once the first file of
    a shape and dtype has been read, each later file is read with one `preadv`
    system call that puts its header beside the known one and its data straight
    into the batch. A file whose header differs is parsed in full, so a wrong
    shape or dtype, a truncated file or an object array is reported with its
    path.

    Example:

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(3, dtype="float32"))
    >>> NpyLoader()(path)
    array([0., 1., 2.], dtype=float32)
    """

    remote_reads = "npy"  # the header, then the data, with ranged requests

    def __init__(self) -> None:
        # The header bytes of each (shape, dtype.str) read so far, from its first file.
        self._headers: dict[tuple[Shape, str], bytes] = {}

    # Read-only here, where `Loader.releases_gil` is a class attribute a subclass may set.
    @property
    def releases_gil(self) -> bool:  # type: ignore[override]
        """True where kdataset's C reader is built: batches are read outside the GIL."""
        return _read_rows is not None

    def __call__(self, path: str) -> np.ndarray:
        with _open(path) as f:
            shape, _, dtype, _ = read_npy_header(f, path)
        out = np.empty(shape, dtype)
        self._load_parsed(path, out)
        return out

    def probe(self, path: str) -> tuple[Shape, np.dtype]:
        with _open(path) as f:
            shape, fortran, dtype, offset = read_npy_header(f, path)
            size = os.fstat(f.fileno()).st_size
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if size < offset + expected:
                raise _truncated(path, max(size - offset, 0), expected)
            if not fortran:
                f.seek(0)
                self._headers[(shape, dtype.str)] = f.read(offset)
        return shape, dtype

    def load_into(self, path: str, out: np.ndarray) -> None:
        known = (out.shape, out.dtype.str) in self._headers
        if not known or not _HAVE_PREADV or not out.flags.c_contiguous:
            self._load_parsed(path, out)  # learns the header, for the files after it
            return
        failures = self.load_many_into([path], out[np.newaxis])
        if failures:
            raise failures[0][1]

    def load_many_into(self, paths: Sequence[str], out: np.ndarray, skip: bool = False) -> Failures:
        """Loads `paths` into the rows of `out`, the per-file work kept to the system calls.

        With kdataset's C reader (built at install where a C compiler is
        found) the files are read with the GIL released, so loader threads
        share the cores; without it, by the same system calls from Python.
        A file that is not read as expected is then read again with its
        header parsed, which loads it or says what is wrong with it.

        Returns:
            `[(position, SampleError)]`: the first failure, or every one with `skip`.
        """
        header = self._headers.get((out.shape[1:], out.dtype.str))
        if header is None or not _HAVE_PREADV or out.ndim == 0 or not out.flags.c_contiguous:
            return load_each(self, paths, out, skip)
        rows = out.reshape(len(out), -1).view(np.uint8)
        read_rows = _read_rows if _read_rows is not None else _read_rows_in_python
        failures: Failures = []
        for j, error in read_rows(paths, header, rows):
            try:
                if error:
                    message = os.strerror(error)
                    raise SampleError(f"cannot read the file ({message})", path=paths[j])
                self._load_parsed(paths[j], out[j, ...])
            except SampleError as e:
                failures.append((j, e))
                if not skip:
                    break
        return failures

    def _load_parsed(self, path: str, out: np.ndarray) -> None:
        with _open(path) as f:
            shape, fortran, dtype, offset = read_npy_header(f, path)
            check_sample(shape, dtype, out.shape, out.dtype, path)
            count = out.size
            if fortran:
                data = np.fromfile(f, dtype=dtype, count=count)
                if data.size != count:
                    raise _truncated(path, data.size * dtype.itemsize, out.nbytes)
                out[...] = data.reshape(shape[::-1]).transpose()
                return
            # Into `out` itself when it is C-contiguous; reshaping any other view of a
            # batch copies it, so its data is read into a new array and copied over.
            target = out if out.flags.c_contiguous else np.empty(out.shape, out.dtype)
            read = f.readinto(target.reshape(-1).view(np.uint8).data)
            if read != out.nbytes:
                raise _truncated(path, read or 0, out.nbytes)
            if target is not out:
                out[...] = target
            if (shape, dtype.str) not in self._headers:
                f.seek(0)
                self._headers[(shape, dtype.str)] = f.read(offset)

    def __getstate__(self) -> dict[str, object]:
        # Headers are relearnt in each process; a dict of bytes would pickle,
        # but there is no need to carry it.
        return {}

    def __setstate__(self, state: dict[str, object]) -> None:
        self._headers = {}

    def __repr__(self) -> str:
        return "NpyLoader()"


def _truncated(path: str, got: int, expected: int) -> SampleError:
    return SampleError(
        f"the file is truncated: {got} of its {expected} data bytes are there", path=path
    )


_HAVE_PREADV = hasattr(os, "preadv")


# kdataset.loading._fastread.read_rows(paths, header, rows) and read_files(paths).
_ReadRows: TypeAlias = Callable[
    [Sequence[str], bytes, npt.NDArray[np.uint8]], list[tuple[int, int]]
]
_ReadFiles: TypeAlias = Callable[[Sequence[str]], list[bytes | int]]


def _read_rows_in_python(
    paths: Sequence[str], header: bytes, rows: npt.NDArray[np.uint8]
) -> list[tuple[int, int]]:
    """`kdataset.loading._fastread.read_rows` in Python: the same system calls, holding the GIL.

    Reads file `paths[j]` into `rows[j]` (bytes) after a prefix that must equal
    `header`; returns `[(position, errno)]` for the files not read as expected
    (errno 0: read, but with another prefix or too short).
    """
    unexpected: list[tuple[int, int]] = []
    head = bytearray(len(header))
    size = len(header) + rows.shape[1]
    open_, preadv, close, flags = os.open, os.preadv, os.close, os.O_RDONLY
    for j, path in enumerate(paths):
        try:
            fd = open_(path, flags)
            try:
                read = preadv(fd, [head, rows[j]], 0)
            finally:
                close(fd)
        except OSError as e:
            unexpected.append((j, e.errno or 0))
            continue
        if read != size or head != header:
            unexpected.append((j, 0))
    return unexpected


_read_files: _ReadFiles | None
_read_rows: _ReadRows | None
try:
    from kdataset.loading._fastread import read_files as _read_files
    from kdataset.loading._fastread import read_rows as _read_rows
except ImportError:  # built without a C compiler, or not on POSIX
    _read_rows = _read_files = None


def read_file(path: str) -> bytes:
    """A file's bytes, or a `SampleError` naming it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SampleError(f"cannot read the file ({e.strerror or e})", path=path) from None


def read_files(paths: Sequence[str]) -> list[bytes | SampleError]:
    """Each file's bytes, or the `SampleError` naming it: with kdataset's C reader in one
    call outside the GIL, else one file at a time."""
    if _read_files is None:
        found: list[bytes | SampleError] = []
        for path in paths:
            try:
                found.append(read_file(path))
            except SampleError as e:
                found.append(e)
        return found
    return [
        SampleError(f"cannot read the file ({os.strerror(data)})", path=path)
        if isinstance(data, int)
        else data
        for path, data in zip(paths, _read_files(paths))
    ]


class ImageLoader(Loader):
    """Loads images as `float32` (or `uint8`) arrays `(height, width, channels)` in `[0, 255]`.

    The pixels of `keras.utils.image_dataset_from_directory`, without
    TensorFlow: JPEGs are decoded by libjpeg-turbo (through `simplejpeg`, with
    TensorFlow's fast integer DCT), other formats (PNG, BMP, GIF's first frame,
    WebP, TIFF) by Pillow, and images are resized as `tf.image.resize` does
    (bilinear with half-pixel centres and no antialiasing, by default), in C
    with the GIL released, so loader threads decode and resize on every core.
    A model moves between the two unchanged; add a `Rescaling` layer to change
    the range.

    Args:
        image_size: `(height, width)` to resize every image to, or `None` to
            keep sizes (then every image must have the size of the first).
        color_mode: `"rgb"`, `"rgba"` or `"grayscale"`.
        interpolation: `"bilinear"` or `"nearest"` (as `tf.image.resize`:
            the pixels of `image_dataset_from_directory`), `"area"` (or
            `"box"`: exact area averaging, in C, as OpenCV's `INTER_AREA`;
            IDFD's `"area"` to float rounding), or Pillow's antialiased
            filters `"bicubic"`, `"lanczos3"` (or `"lanczos"`) and
            `"hamming"`.
        crop_to_aspect_ratio: Resize without distorting: the largest centred
            window of `image_size`'s aspect ratio is cropped, then resized
            (Keras's `smart_resize`).
        pad_to_aspect_ratio: Resize without distorting: the whole image is
            resized to fit, and padded with zeros around it
            (`tf.image.resize_with_pad`).
        antialias: For quality and speed when shrinking large photos: a JPEG
            at least twice `image_size` is decoded at the smallest of the
            scales 1/2, 1/4 and 1/8 that still covers `image_size` (the part
            of it that is resized, with `crop_to_aspect_ratio` or
            `pad_to_aspect_ratio`), libjpeg's DCT doing part of the averaging
            for a fraction of the work, then every image is resized by exact
            area averaging in C (as `interpolation="area"`, which decodes in
            full). Truer than the bilinear default, which skips pixels when it
            shrinks by more than 2, and faster on large photos, but no longer
            the pixels of `image_dataset_from_directory`.
        dtype: `"float32"` (the default: the values of
            `image_dataset_from_directory`) or `"uint8"`: the same resize,
            each value rounded to the nearest integer, ties to even, so each
            pixel is within 0.5 of the `float32` one. A quarter of the memory,
            in batches and in the cache; a model then casts (a `Rescaling`
            layer does). A `transform` is given `uint8` samples.

    Raises:
        ValueError: an argument is not one of those described.

    Example:

    >>> loader = ImageLoader(image_size=(64, 64), color_mode="grayscale")
    >>> ImageLoader(image_size=(64, 64), dtype="uint8").storage_dtype
    dtype('uint8')
    """

    releases_gil = True  # libjpeg-turbo, Pillow and the resize work outside the GIL
    remote_reads = "bytes"  # decoded from the object's bytes, never a temporary file

    def __init__(
        self,
        image_size: tuple[int, int] | list[int] | None = None,
        color_mode: ColorMode = "rgb",
        interpolation: Interpolation = "bilinear",
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        antialias: bool = False,
        dtype: ImageDtype = "float32",
    ) -> None:
        self.dtype = _image_dtype(dtype)
        size: tuple[int, int] | None = None
        if image_size is not None:
            if (
                not isinstance(image_size, list | tuple)
                or len(image_size) != 2
                or not all(isinstance(s, int) and s > 0 for s in image_size)
            ):
                raise ValueError(
                    "Invalid `image_size`: expected (height, width), two positive integers, "
                    f"or None. Received: image_size={image_size!r}"
                )
            size = (image_size[0], image_size[1])
        if color_mode not in COLOR_MODES:
            raise ValueError(
                f"Invalid `color_mode`: expected one of {one_of(COLOR_MODES)}. "
                f"Received: color_mode={color_mode!r}"
            )
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"Invalid `interpolation`: expected one of {one_of(_INTERPOLATIONS)}. "
                f"Received: interpolation={interpolation!r}"
            )
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "`crop_to_aspect_ratio=True` and `pad_to_aspect_ratio=True` ask for opposite "
                "things: choose one."
            )
        if image_size is None and (crop_to_aspect_ratio or pad_to_aspect_ratio or antialias):
            raise ValueError(
                "`crop_to_aspect_ratio`, `pad_to_aspect_ratio` and `antialias` shape the resize "
                "to `image_size`: pass `image_size=(height, width)` too."
            )
        self.image_size = size
        self.color_mode = color_mode
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.antialias = bool(antialias)
        # (path, (height, width)) of the first image, to name in errors
        self._first: tuple[str, Shape] | None = None

    # Read-only here, where `Loader.storage_dtype` is a class attribute a subclass may set.
    @property
    def storage_dtype(self) -> np.dtype:  # type: ignore[override]
        """The smallest dtype that holds this loader's samples exactly, for the cache.

        `uint8` for a `uint8` loader, and where pixels are not interpolated (no
        `image_size`, or `"nearest"`); else `float32`.
        """
        exact = self.image_size is None or (self.interpolation == "nearest" and not self.antialias)
        return np.dtype(np.uint8 if exact or self.dtype == np.uint8 else np.float32)

    def __call__(self, path: str) -> np.ndarray:
        return self._load(path)

    def probe(self, path: str) -> tuple[Shape, np.dtype]:
        array = self._load(path)
        self._first = (path, array.shape[:2])
        return array.shape, array.dtype

    def probe_bytes(self, path: str, data: bytes) -> tuple[Shape, np.dtype]:
        """`probe` of an image from its bytes: its shape and dtype once loaded; it is
        the first image, named when another one has a different size."""
        array = self.decode_into(path, data)
        self._first = (path, array.shape[:2])
        return array.shape, array.dtype

    def load_into(self, path: str, out: np.ndarray) -> None:
        self._load(path, out)

    def load_many_into(self, paths: Sequence[str], out: np.ndarray, skip: bool = False) -> Failures:
        """Loads `paths` into the rows of `out`: the files read in one call outside the GIL
        (with kdataset's C reader), then each decoded and resized into its row.

        Returns:
            `[(position, SampleError)]`: the first failure, or every one with `skip`.
        """
        if _read_files is None:
            return load_each(self, paths, out, skip)
        files = read_files(paths)

        def fill(j: int) -> None:
            data = files[j]
            if isinstance(data, SampleError):
                raise data
            self.decode_into(paths[j], data, out[j])

        return fill_each(paths, fill, skip)

    def _load(self, path: str, out: np.ndarray | None = None) -> np.ndarray:
        return self.decode_into(path, read_file(path), out)

    def decode_into(self, path: str, data: bytes, out: np.ndarray | None = None) -> np.ndarray:
        """Decodes and resizes the bytes `data` of image file `path` into `out` (a new
        array if `None`), and returns it; a `SampleError` naming `path` if unreadable."""
        # antialias needs image_size: a JPEG is decoded as small as still covers it
        large_enough = self._covers if self.antialias and self.image_size is not None else None
        try:
            image = self._decode(data, large_enough)
        except ValueError as e:
            raise SampleError(f"not a readable {self._kind} ({e})", path=path) from None
        if self.image_size is None:
            if out is None:
                out = np.empty(image.shape, self.dtype)
            elif out.shape != image.shape:
                raise self._other_size(path, image.shape, out.shape)
            imaging.resize_into(image, out)
            return out
        height, width = image.shape[:2]
        target = self.image_size
        if out is None:
            out = np.empty((*target, image.shape[2]), self.dtype)
        window: Region | None = None
        place: Region | None = None
        if self.crop_to_aspect_ratio:
            window = imaging.crop_window(height, width, *target)
        elif self.pad_to_aspect_ratio:
            place = imaging.pad_place(height, width, *target)
            out[...] = 0
        if self.antialias or self.interpolation in ("area", "box"):
            imaging.area_into(image, out, window, place)
        elif self.interpolation in ("bilinear", "nearest"):
            imaging.resize_into(image, out, window, place, self.interpolation == "nearest")
        else:
            _pillow_resize(image, out, window, place, self.interpolation)
        return out

    def _covers(self, height: int, width: int) -> bool:
        """Whether a JPEG decoded at `height x width` is still resized down (or kept)."""
        if self.image_size is None:
            return False
        return imaging.shrinks(
            height, width, self.image_size, self.crop_to_aspect_ratio, self.pad_to_aspect_ratio
        )

    _kind = "image"

    def _decode(
        self, data: bytes, large_enough: Callable[[int, int], bool] | None
    ) -> npt.NDArray[np.uint8]:
        return imaging.decode(data, self.color_mode, large_enough)

    def _other_size(self, path: str, shape: Shape, expected: Shape) -> SampleError:
        first, size = self._first or (None, expected[:2])
        what = f"the first image {first!r}" if first else "the first image"
        if shape[2] != expected[2]:
            return SampleError(f"{shape[2]} channels, where {what} has {expected[2]}", path=path)
        return SampleError(
            f"the image is {shape[0]}x{shape[1]} (height x width), but {what} is "
            f"{size[0]}x{size[1]}: images of different sizes need `image_size`, such as "
            f"kd.ImageLoader(image_size=({size[0]}, {size[1]}))",
            path=path,
        )

    def __repr__(self) -> str:
        return (
            f"ImageLoader(image_size={self.image_size!r}, color_mode={self.color_mode!r}, "
            f"interpolation={self.interpolation!r}, "
            f"crop_to_aspect_ratio={self.crop_to_aspect_ratio!r}, "
            f"pad_to_aspect_ratio={self.pad_to_aspect_ratio!r}, antialias={self.antialias!r}"
            f"{self._dtype_shown})"
        )

    @property
    def _dtype_shown(self) -> str:
        # Left out at its default, so the cache keys (reprs) of float32 loaders stay as they were.
        return "" if self.dtype == np.float32 else f", dtype={self.dtype.name!r}"


class MaskLoader(ImageLoader):
    """Loads segmentation masks: class indices, `float32` (or `uint8`) `(height, width, 1)`.

    Resized with nearest neighbour only, so every pixel stays one of the
    classes (bilinear would blend class 1 and class 3 into a class 2). A palette
    PNG gives its palette indices, a grayscale image its values; a mask in
    colours is an error (map colours to indices first). Use it for a target
    read from files: `outputs=kd.Files("mask", loader=kd.MaskLoader((128, 128)))`;
    `keras.losses.SparseCategoricalCrossentropy` takes such masks as they are.

    Args:
        image_size: `(height, width)` to resize every mask to, or `None` to
            keep sizes. Give the image loader the same size.
        crop_to_aspect_ratio: As `ImageLoader`: give both loaders the same.
        pad_to_aspect_ratio: As `ImageLoader` (padding is class 0).
        dtype: `"float32"` (the default) or `"uint8"`: the same class indices
            in a quarter of the memory. Either way a mask holds classes 0 to
            255; a file with a larger value is an error naming it.

    Raises:
        ValueError: an argument is not one of those described.

    Example:

    >>> MaskLoader(image_size=(64, 64)).interpolation
    'nearest'
    >>> MaskLoader(image_size=(64, 64), dtype="uint8").dtype
    dtype('uint8')
    """

    _kind = "mask"

    def __init__(
        self,
        image_size: tuple[int, int] | list[int] | None = None,
        crop_to_aspect_ratio: bool = False,
        pad_to_aspect_ratio: bool = False,
        dtype: ImageDtype = "float32",
    ) -> None:
        super().__init__(
            image_size,
            color_mode="grayscale",
            interpolation="nearest",
            crop_to_aspect_ratio=crop_to_aspect_ratio,
            pad_to_aspect_ratio=pad_to_aspect_ratio,
            dtype=dtype,
        )

    def _decode(
        self, data: bytes, large_enough: Callable[[int, int], bool] | None
    ) -> npt.NDArray[np.uint8]:
        return imaging.decode_mask(data)

    def __repr__(self) -> str:
        return (
            f"MaskLoader(image_size={self.image_size!r}, "
            f"crop_to_aspect_ratio={self.crop_to_aspect_ratio!r}, "
            f"pad_to_aspect_ratio={self.pad_to_aspect_ratio!r}{self._dtype_shown})"
        )


# Pillow's filter for each interpolation it does; bilinear and nearest are tf.image.resize's,
# area (and box) kdataset's own exact area averaging.
_PILLOW_FILTERS: dict[Interpolation, str] = {
    "bicubic": "BICUBIC",
    "lanczos3": "LANCZOS",
    "lanczos": "LANCZOS",
    "hamming": "HAMMING",
}
_INTERPOLATIONS: tuple[Interpolation, ...] = (
    "bilinear",
    "nearest",
    "area",
    "box",
    *_PILLOW_FILTERS,
)
_DTYPES = ("float32", "uint8")


def _image_dtype(dtype: object) -> np.dtype:
    """The `dtype` argument of the image loaders as a NumPy dtype, or a `ValueError`."""
    try:
        parsed: np.dtype | None = np.dtype(dtype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        parsed = None
    # np.dtype(None) is float64, and np.dtype(">f4") a float32 this machine cannot write into.
    if parsed is None or parsed.name not in _DTYPES or not parsed.isnative:
        raise ValueError(
            f"Invalid `dtype`: expected one of {one_of(_DTYPES)} (or those NumPy dtypes). "
            f"Received: dtype={dtype!r}"
        )
    return parsed


def _pillow_resize(
    image: npt.NDArray[np.uint8],
    out: np.ndarray,
    window: Region | None,
    place: Region | None,
    interpolation: Interpolation,
) -> None:
    """Resizes `image[window]` into `out[place]` with a Pillow filter, channel by
    channel in 32-bit float (Pillow's mode "F"), so no precision is lost; into a
    `uint8` `out`, rounded half to even."""
    from PIL import Image

    wy, wx, wh, ww = window or (0, 0, *image.shape[:2])
    py, px, ph, pw = place or (0, 0, *out.shape[:2])
    resample = getattr(Image.Resampling, _PILLOW_FILTERS[interpolation])
    crop = image[wy : wy + wh, wx : wx + ww].astype(np.float32)
    region = np.empty((ph, pw, image.shape[2]), np.float32)
    for c in range(image.shape[2]):
        channel = Image.fromarray(np.ascontiguousarray(crop[..., c]), mode="F")
        region[..., c] = np.asarray(channel.resize((pw, ph), resample))
    # Cubic and Lanczos kernels overshoot at edges: pixels stay in [0, 255].
    np.clip(region, 0, 255, out=region)
    out[py : py + ph, px : px + pw] = region if out.dtype != np.uint8 else np.rint(region)


def _sample_paths(paths: Sequence[str]) -> Sequence[str]:
    """Every path, or for a large manifest one path per distinct folder-and-suffix shape.

    Extensions are read from all paths of small manifests; for millions of rows a
    vectorised pass over the text finds the distinct extensions instead.
    """
    if len(paths) < 10_000:
        return paths
    import pandas as pd

    ends = pd.Series(paths, dtype=object).str.extract(r"(\.[^./\\]*)$", expand=False).fillna("")
    firsts = ends.drop_duplicates().index
    return [paths[i] for i in firsts]


LoaderSpec: TypeAlias = Literal["auto", "npy", "image"] | Loader | LoaderFunction
"""The `loader` argument: `"auto"`, `"npy"`, `"image"`, a `Loader` or a function."""


def get_loader(loader: LoaderSpec, paths: Sequence[str] = ()) -> Loader:
    """The loader object for the `loader` argument of `ManifestDataset`.

    Args:
        loader: `"auto"` (by the files' extension), `"npy"`, `"image"`, a
            `Loader`, or any callable `fn(path) -> array`.
        paths: The manifest's paths, for `"auto"`.

    Returns:
        A `Loader`.
    """
    if isinstance(loader, Loader):
        return loader
    if isinstance(loader, str):
        if loader == "npy":
            return NpyLoader()
        if loader == "image":
            return ImageLoader()
        if loader == "auto":
            extensions = sorted({os.path.splitext(p)[1].lower() for p in _sample_paths(paths) if p})
            if extensions == [".npy"]:
                return NpyLoader()
            if extensions and all(e in IMAGE_EXTENSIONS for e in extensions):
                return ImageLoader()
            raise ValueError(
                "`loader='auto'` cannot tell how to load files with "
                f"{'extensions' if len(extensions) != 1 else 'extension'} "
                f"{', '.join(repr(e) for e in extensions) or 'none'}: it knows '.npy' and "
                f"images ({', '.join(IMAGE_EXTENSIONS)}). Pass `loader='npy'`, "
                "`loader=kd.ImageLoader(...)` or a function `fn(path) -> array`."
            )
    if callable(loader):
        return FunctionLoader(loader)
    raise ValueError(
        "Invalid `loader`: expected 'auto', 'npy', 'image', a kdataset loader or a "
        f"callable `fn(path) -> array`. Received: loader={loader!r}"
    )
