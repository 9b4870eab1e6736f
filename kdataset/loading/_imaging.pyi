"""Types of `kdataset.loading._imaging` (`_imaging.c`): resizing as `tf.image.resize` does.

The C function takes any C-contiguous buffers whose lengths match the sizes given (one
byte per value of `src`, four of `dst`); it is typed as kdataset calls it.
"""

import numpy as np
import numpy.typing as npt

def resize(
    src: npt.NDArray[np.uint8],
    height: int,
    width: int,
    channels: int,
    dst: npt.NDArray[np.float32],
    dst_height: int,
    dst_width: int,
    window: tuple[int, int, int, int],
    place: tuple[int, int, int, int],
    nearest: bool,
    /,
) -> None:
    """Resizes the window `(y, x, h, w)` of the `uint8` image `src` into the region
    `(y, x, h, w)` of the `float32` image `dst` (bilinear, or nearest), with the GIL
    released. A `ValueError` if sizes, window or place are out of range."""
