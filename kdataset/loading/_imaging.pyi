"""Types of `kdataset.loading._imaging` (`_imaging.c`): resizing as `tf.image.resize` does,
or by exact area averaging, into `float32` or `uint8` images.

The C functions take any C-contiguous buffers whose lengths match the sizes given (one
byte per value of `src`, four of `dst`, or one with `to_uint8`); they are typed as kdataset
calls them.
"""

import numpy as np
import numpy.typing as npt

def resize(
    src: npt.NDArray[np.uint8],
    height: int,
    width: int,
    channels: int,
    dst: npt.NDArray[np.float32] | npt.NDArray[np.uint8],
    dst_height: int,
    dst_width: int,
    window: tuple[int, int, int, int],
    place: tuple[int, int, int, int],
    nearest: bool,
    to_uint8: bool,
    /,
) -> None:
    """Resizes the window `(y, x, h, w)` of the `uint8` image `src` into the region
    `(y, x, h, w)` of `dst` (bilinear, or nearest), with the GIL released: `float32`, or
    `uint8` rounded half to even with `to_uint8`. A `ValueError` if sizes, window or place
    are out of range."""

def area(
    src: npt.NDArray[np.uint8],
    height: int,
    width: int,
    channels: int,
    dst: npt.NDArray[np.float32] | npt.NDArray[np.uint8],
    dst_height: int,
    dst_width: int,
    window: tuple[int, int, int, int],
    place: tuple[int, int, int, int],
    to_uint8: bool,
    /,
) -> None:
    """Resizes the window `(y, x, h, w)` of the `uint8` image `src` into the region
    `(y, x, h, w)` of `dst` by exact area averaging (each output pixel the mean of the
    input area it covers), with the GIL released: `float32`, or `uint8` rounded half to
    even with `to_uint8`. A `ValueError` if sizes, window or place are out of range."""
