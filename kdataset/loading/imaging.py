"""Images: decoding, and the geometry and resizing of `image_dataset_from_directory`.

JPEGs are decoded by libjpeg-turbo through `simplejpeg` (its fast integer DCT
and fancy upsampling, the pixels of TensorFlow's `decode_jpeg`), with the GIL
released; other formats (PNG, BMP, GIF's first frame, WebP, TIFF) by Pillow.
Resizing is `tf.image.resize` (bilinear or nearest, half-pixel centres, no
antialiasing), or exact area averaging (for `antialias`), done in C by
`kdataset.loading._imaging` with the GIL released where it was built, and in NumPy
here otherwise, into `float32` or (rounded half to even) `uint8`; the crop of
`crop_to_aspect_ratio` is Keras's `smart_resize` and the padding of
`pad_to_aspect_ratio` is `tf.image.resize_with_pad`.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

ColorMode: TypeAlias = Literal["rgb", "rgba", "grayscale"]
"""An image's channels once loaded: `"rgb"` (3), `"rgba"` (4) or `"grayscale"` (1)."""

Region: TypeAlias = tuple[int, int, int, int]
"""`(y, x, height, width)`: a rectangle of an image, from its top-left pixel."""

# Pillow's mode and simplejpeg's colorspace of each `color_mode`, and its channels.
COLOR_MODES: dict[ColorMode, tuple[str, str, int]] = {
    "rgb": ("RGB", "RGB", 3),
    "rgba": ("RGBA", "RGBA", 4),
    "grayscale": ("L", "GRAY", 1),
}

try:
    import simplejpeg
except ImportError:  # a platform without its wheels: Pillow decodes JPEGs too
    simplejpeg = None

Pixels: TypeAlias = npt.NDArray[np.float32] | npt.NDArray[np.uint8]
"""An image in a batch: `float32`, or `uint8` (rounded half to even)."""

# kdataset.loading._imaging.resize(src, height, width, channels, out, out_height, out_width,
# window, place, nearest, to_uint8) and area(..., window, place, to_uint8).
_Resize: TypeAlias = Callable[
    [npt.NDArray[np.uint8], int, int, int, Pixels, int, int, Region, Region, bool, bool], None
]
_Area: TypeAlias = Callable[
    [npt.NDArray[np.uint8], int, int, int, Pixels, int, int, Region, Region, bool], None
]

_resize_c: _Resize | None
_area_c: _Area | None
try:
    from kdataset.loading._imaging import area as _area_c
    from kdataset.loading._imaging import resize as _resize_c
except ImportError:  # built without a C compiler
    _resize_c = _area_c = None


def is_jpeg(data: bytes) -> bool:
    """Whether `data` starts as a JPEG file does."""
    return data[:3] == b"\xff\xd8\xff"


def decode(
    data: bytes,
    color_mode: ColorMode,
    large_enough: Callable[[int, int], bool] | None = None,
) -> npt.NDArray[np.uint8]:
    """Decodes image file bytes into a `uint8` array `(height, width, channels)`.

    Args:
        data: The file's bytes.
        color_mode: `"rgb"`, `"rgba"` or `"grayscale"`.
        large_enough: `fn(height, width) -> bool`: let libjpeg decode a JPEG
            at the smallest of the scales 1/2, 1/4 and 1/8 (in its DCT, for
            a fraction of the work) whose size it accepts (see `shrinks`),
            or in full when it accepts none. libjpeg's other scales, such as
            3/4, decode slower than in full.

    Raises:
        ValueError: the data is not an image Pillow or libjpeg can read.
    """
    mode, colorspace, channels = COLOR_MODES[color_mode]
    if simplejpeg is not None and is_jpeg(data):
        try:
            height, width = (0, 0)
            if large_enough is not None:
                full_height, full_width = simplejpeg.decode_jpeg_header(data)[:2]
                factor = _reduction(full_height, full_width, large_enough)
                if factor > 1:
                    height, width = _reduced(full_height, factor), _reduced(full_width, factor)
            # min_height and min_width ask for the smallest scale that is at least that large:
            # exactly the one chosen (0: in full).
            decoded: npt.NDArray[np.uint8] = simplejpeg.decode_jpeg(
                data, colorspace, fastdct=True, min_height=height, min_width=width
            )
            return decoded
        except ValueError:
            pass  # a JPEG libjpeg-turbo refuses here (CMYK, say): Pillow tries
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if large_enough is not None and image.format == "JPEG":
                width, height = image.size
                factor = _reduction(height, width, large_enough)
                if factor > 1:  # Pillow takes the largest scale that keeps this size
                    image.draft(mode, (_reduced(width, factor), _reduced(height, factor)))
            if mode == "L" and image.mode != "L":
                array = _gray(np.asarray(image.convert("RGB")))
            else:
                array = np.asarray(image.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(str(e)) from None
    return array.reshape(*array.shape[:2], channels)


def decode_mask(data: bytes) -> npt.NDArray[np.uint8]:
    """Decodes a segmentation mask's file bytes into a `uint8` array `(height, width, 1)`
    of class indices.

    A palette image (PNG mode "P") gives its palette indices, a grayscale one
    its values, and an RGB(A) one whose channels are all equal its first
    channel; colours are not classes, so any other RGB mask is an error, as
    are values above 255.

    Raises:
        ValueError: the data is not such a mask.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
            if mode == "1":
                image = image.convert("L")
                array = (np.asarray(image) > 0).astype(np.uint8)
            else:
                array = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(str(e)) from None
    if array.ndim == 3:
        if not (array[..., :3] == array[..., :1]).all():
            raise ValueError(
                f"a {mode} mask with colours: a mask holds class indices (a palette or "
                "grayscale image); map its colours to indices first"
            )
        array = array[..., 0]
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"mask values up to {array.max()}: masks hold class indices 0..255")
        array = array.astype(np.uint8)
    return array.reshape(*array.shape[:2], 1)


def _reduced(size: int, factor: int) -> int:
    """A JPEG's height or width decoded at `1 / factor`: libjpeg rounds up."""
    return -(-size // factor)


def _reduction(height: int, width: int, large_enough: Callable[[int, int], bool]) -> int:
    """The largest of 8, 4 and 2 that reduces `height x width` to a size `large_enough`
    accepts, else 1."""
    for factor in (8, 4, 2):
        if large_enough(_reduced(height, factor), _reduced(width, factor)):
            return factor
    return 1


def _gray(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Grey levels of an RGB image as TensorFlow's `decode_png(channels=1)` gives them.

    libpng's `png_set_rgb_to_gray(0.299, 0.587)` in its fixed-point arithmetic
    (coefficients of 32768, truncated); Pillow's `convert("L")` rounds, which
    differs by one level on about half the pixels.
    """
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    gray = ((9797 * r + 19234 * g + 3737 * b) >> 15).astype(np.uint8)
    return np.where((r == g) & (g == b), rgb[..., 0], gray)


def crop_window(height: int, width: int, target_height: int, target_width: int) -> Region:
    """`(y, x, h, w)`: the largest centred window of the target's aspect ratio.

    Keras's `smart_resize` (as `image_dataset_from_directory` runs it with
    TensorFlow), in its float32 arithmetic.
    """
    f32 = np.float32
    crop_height = int(f32(width * target_height) / f32(target_width))
    crop_height = max(min(height, crop_height), 1)
    crop_width = int(f32(height * target_width) / f32(target_height))
    crop_width = max(min(width, crop_width), 1)
    y = int(f32(height - crop_height) / f32(2))
    x = int(f32(width - crop_width) / f32(2))
    return y, x, crop_height, crop_width


def pad_place(height: int, width: int, target_height: int, target_width: int) -> Region:
    """`(y, x, h, w)`: where the resized image goes in the target, padded around.

    `tf.image.resize_with_pad`, in its float32 arithmetic.
    """
    f32 = np.float32
    ratio = max(f32(width) / f32(target_width), f32(height) / f32(target_height))
    resized_height, resized_width = f32(height) / ratio, f32(width) / ratio
    y = max(0, int(np.floor((f32(target_height) - resized_height) / f32(2))))
    x = max(0, int(np.floor((f32(target_width) - resized_width) / f32(2))))
    return y, x, max(1, int(np.floor(resized_height))), max(1, int(np.floor(resized_width)))


def shrinks(
    height: int, width: int, target: tuple[int, int], crop: bool = False, pad: bool = False
) -> bool:
    """Whether resizing a `height x width` image to `target` shrinks it (or keeps its size)
    both ways: the region of the image resized is at least as large as where it goes.

    Args:
        height: The image's height.
        width: Its width.
        target: `(height, width)` it is resized to.
        crop: As with `crop_to_aspect_ratio` (`crop_window` is resized).
        pad: As with `pad_to_aspect_ratio` (into `pad_place`).

    Example:

    >>> shrinks(188, 250, (224, 224)), shrinks(188, 250, (224, 224), pad=True)
    (False, True)
    """
    window = crop_window(height, width, *target) if crop else (0, 0, height, width)
    place = pad_place(height, width, *target) if pad else (0, 0, *target)
    return window[2] >= place[2] and window[3] >= place[3]


def resize_into(
    src: npt.NDArray[np.uint8],
    out: Pixels,
    window: Region | None = None,
    place: Region | None = None,
    nearest: bool = False,
) -> None:
    """Resizes `src[window]` into `out[place]`, as `tf.image.resize` does.

    Args:
        src: A `uint8` image `(height, width, channels)`.
        out: A `float32` image `(height, width, channels)`, or a `uint8` one
            that takes the same floats rounded to the nearest integer, ties to
            even.
        window: `(y, x, h, w)` of `src`, or the whole image.
        place: `(y, x, h, w)` of `out`, or the whole image. The rest of `out`
            is left as it is.
        nearest: Nearest-neighbour instead of bilinear.
    """
    height, width, channels = src.shape
    out_height, out_width = out.shape[:2]
    window = window or (0, 0, height, width)
    place = place or (0, 0, out_height, out_width)
    to_uint8 = _check_pixels(out)
    if _resize_c is not None and out.flags.c_contiguous:
        src = np.ascontiguousarray(src)
        _resize_c(
            src,
            height,
            width,
            channels,
            out,
            out_height,
            out_width,
            window,
            place,
            nearest,
            to_uint8,
        )
    else:
        _numpy_into(functools.partial(_resize_numpy, nearest=nearest), src, out, window, place)


def area_into(
    src: npt.NDArray[np.uint8],
    out: Pixels,
    window: Region | None = None,
    place: Region | None = None,
) -> None:
    """Resizes `src[window]` into `out[place]` by exact area averaging.

    Each pixel of `out` is the mean of the area of `src` it covers, the pixels
    its edges cut weighed by the fraction of them inside (OpenCV's
    `INTER_AREA`; Pillow's `BOX` filter is the same where the sizes divide,
    and elsewhere takes whole pixels by their centres). Enlarging, it repeats
    pixels, blending two at the seams.

    Args:
        src: A `uint8` image `(height, width, channels)`.
        out: A `float32` image `(height, width, channels)`, or a `uint8` one
            (rounded half to even).
        window: `(y, x, h, w)` of `src`, or the whole image.
        place: `(y, x, h, w)` of `out`, or the whole image. The rest of `out`
            is left as it is.

    Example:

    >>> out = np.zeros((1, 2, 1), np.float32)
    >>> area_into(np.array([[[0], [30], [90]]], np.uint8), out)
    >>> out[0, :, 0].tolist()  # 0 and half of 30; the other half of 30 and 90
    [10.0, 70.0]
    """
    height, width, channels = src.shape
    out_height, out_width = out.shape[:2]
    window = window or (0, 0, height, width)
    place = place or (0, 0, out_height, out_width)
    to_uint8 = _check_pixels(out)
    if _area_c is not None and out.flags.c_contiguous:
        src = np.ascontiguousarray(src)
        _area_c(src, height, width, channels, out, out_height, out_width, window, place, to_uint8)
    else:
        _numpy_into(_area_numpy, src, out, window, place)


def _check_pixels(out: np.ndarray) -> bool:
    """Whether `out` is `uint8` (else `float32`; anything else is a `TypeError`)."""
    if out.dtype not in (np.float32, np.uint8):
        raise TypeError(f"images resize into float32 or uint8 arrays, not {out.dtype}")
    return bool(out.dtype == np.uint8)


def _numpy_into(
    resize: Callable[[npt.NDArray[np.uint8], npt.NDArray[np.float32], Region, Region], None],
    src: npt.NDArray[np.uint8],
    out: Pixels,
    window: Region,
    place: Region,
) -> None:
    """A NumPy resize into `out`: into `uint8` through a `float32` region, rounded."""
    if out.dtype == np.float32:
        resize(src, out, window, place)  # type: ignore[arg-type]
        return
    py, px, ph, pw = place
    region = np.empty((ph, pw, out.shape[2]), np.float32)
    resize(src, region, window, (0, 0, ph, pw))
    out[py : py + ph, px : px + pw] = np.clip(np.rint(region), 0, 255)


def _area_weights(out_size: int, in_size: int) -> npt.NDArray[np.float32]:
    """`(out_size, in_size)`: how much of each input pixel each output pixel averages."""
    edges = np.arange(out_size + 1, dtype=np.float64) * in_size / out_size
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(in_size, dtype=np.float64)[None, :]
    overlap = np.clip(np.minimum(pixels + 1, hi) - np.maximum(pixels, lo), 0, None)
    weights: npt.NDArray[np.float32] = (overlap / (hi - lo)).astype(np.float32)
    return weights


def _area_numpy(
    src: npt.NDArray[np.uint8],
    out: npt.NDArray[np.float32],
    window: Region,
    place: Region,
) -> None:
    wy, wx, wh, ww = window
    py, px, ph, pw = place
    image = src[wy : wy + wh, wx : wx + ww].astype(np.float32)
    down = np.einsum("yi,ixc->yxc", _area_weights(ph, wh), image)
    out[py : py + ph, px : px + pw] = np.einsum("xj,yjc->yxc", _area_weights(pw, ww), down)


def _weights(
    out_size: int, in_size: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.float32]]:
    """TensorFlow's bilinear weights (half-pixel centres): lower, upper, lerp."""
    scale = np.float32(in_size) / np.float32(out_size)
    position = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    floor = np.floor(position)
    lower = np.maximum(floor, 0).astype(np.intp)
    upper = np.minimum(np.ceil(position), in_size - 1).astype(np.intp)
    return lower, upper, (position - floor).astype(np.float32)


def _nearest(out_size: int, in_size: int) -> npt.NDArray[np.intp]:
    scale = np.float32(in_size) / np.float32(out_size)
    position = np.floor((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale)
    index: npt.NDArray[np.intp] = np.clip(position, 0, in_size - 1).astype(np.intp)
    return index


def _resize_numpy(
    src: npt.NDArray[np.uint8],
    out: npt.NDArray[np.float32],
    window: Region,
    place: Region,
    nearest: bool,
) -> None:
    wy, wx, wh, ww = window
    py, px, ph, pw = place
    image = src[wy : wy + wh, wx : wx + ww]
    target = out[py : py + ph, px : px + pw]
    if (wh, ww) == (ph, pw):
        target[...] = image
    elif nearest:
        target[...] = image[_nearest(ph, wh)][:, _nearest(pw, ww)]
    else:
        top, bottom, y_lerp = _weights(ph, wh)
        left, right, x_lerp = _weights(pw, ww)
        x_lerp = x_lerp[None, :, None]
        rows = image.astype(np.float32)
        t = rows[top][:, left] + (rows[top][:, right] - rows[top][:, left]) * x_lerp
        b = rows[bottom][:, left] + (rows[bottom][:, right] - rows[bottom][:, left]) * x_lerp
        target[...] = t + (b - t) * y_lerp[:, None, None]
