"""Images: decoding, and the geometry and resizing of `image_dataset_from_directory`.

JPEGs are decoded by libjpeg-turbo through `simplejpeg` (its fast integer DCT
and fancy upsampling, the pixels of TensorFlow's `decode_jpeg`), with the GIL
released; other formats (PNG, BMP, GIF's first frame, WebP, TIFF) by Pillow.
Resizing is `tf.image.resize` (bilinear or nearest, half-pixel centres, no
antialiasing), done in C by `kdataset.loading._imaging` with the GIL released where it
was built, and in NumPy here otherwise; the crop of `crop_to_aspect_ratio` is
Keras's `smart_resize` and the padding of `pad_to_aspect_ratio` is
`tf.image.resize_with_pad`.
"""

from __future__ import annotations

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

# kdataset.loading._imaging.resize(src, height, width, channels, out, out_height, out_width,
# window, place, nearest).
_Resize: TypeAlias = Callable[
    [npt.NDArray[np.uint8], int, int, int, npt.NDArray[np.float32], int, int, Region, Region, bool],
    None,
]

_resize_c: _Resize | None
try:
    from kdataset.loading._imaging import resize as _resize_c
except ImportError:  # built without a C compiler
    _resize_c = None


def is_jpeg(data: bytes) -> bool:
    """Whether `data` starts as a JPEG file does."""
    return data[:3] == b"\xff\xd8\xff"


def decode(
    data: bytes, color_mode: ColorMode, min_size: tuple[int, int] | None = None
) -> npt.NDArray[np.uint8]:
    """Decodes image file bytes into a `uint8` array `(height, width, channels)`.

    Args:
        data: The file's bytes.
        color_mode: `"rgb"`, `"rgba"` or `"grayscale"`.
        min_size: `(height, width)`: let libjpeg decode a JPEG at the
            smallest of the scales 1/2, 1/4 and 1/8 that stays at least this
            large (its other scales, such as 3/4, decode slower than in full).

    Raises:
        ValueError: the data is not an image Pillow or libjpeg can read.
    """
    mode, colorspace, channels = COLOR_MODES[color_mode]
    if simplejpeg is not None and is_jpeg(data):
        try:
            height, width = _reduced_size(data, min_size) if min_size else (0, 0)
            decoded: npt.NDArray[np.uint8] = simplejpeg.decode_jpeg(
                data, colorspace, fastdct=True, min_height=height, min_width=width
            )
            return decoded
        except ValueError:
            pass  # a JPEG libjpeg-turbo refuses here (CMYK, say): Pillow tries
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if min_size is not None:
                image.draft(mode, min_size[::-1])  # JPEGs only
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


def _reduced_size(data: bytes, min_size: tuple[int, int]) -> tuple[int, int]:
    """The `(height, width)` of a JPEG decoded at 1/2, 1/4 or 1/8 but at least `min_size`;
    `(0, 0)` to decode it in full."""
    height, width = simplejpeg.decode_jpeg_header(data)[:2]
    for factor in (8, 4, 2):
        reduced = (-(-height // factor), -(-width // factor))  # libjpeg rounds up
        if reduced[0] >= min_size[0] and reduced[1] >= min_size[1]:
            return reduced
    return 0, 0


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


def resize_into(
    src: npt.NDArray[np.uint8],
    out: npt.NDArray[np.float32],
    window: Region | None = None,
    place: Region | None = None,
    nearest: bool = False,
) -> None:
    """Resizes `src[window]` into `out[place]`, as `tf.image.resize` does.

    Args:
        src: A `uint8` image `(height, width, channels)`.
        out: A `float32` C-contiguous image `(height, width, channels)`.
        window: `(y, x, h, w)` of `src`, or the whole image.
        place: `(y, x, h, w)` of `out`, or the whole image. The rest of `out`
            is left as it is.
        nearest: Nearest-neighbour instead of bilinear.
    """
    height, width, channels = src.shape
    out_height, out_width = out.shape[:2]
    window = window or (0, 0, height, width)
    place = place or (0, 0, out_height, out_width)
    if _resize_c is not None and out.flags.c_contiguous:
        src = np.ascontiguousarray(src)
        _resize_c(src, height, width, channels, out, out_height, out_width, window, place, nearest)
    else:
        _resize_numpy(src, out, window, place, nearest)


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
