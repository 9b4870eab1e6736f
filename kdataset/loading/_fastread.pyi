"""Types of `kdataset.loading._fastread` (`_fastread.c`): many small files read with the GIL released.

Each function takes a sequence of paths (`str`, `bytes` or `os.PathLike`, encoded as
`open()` encodes them), positionally only. `read_rows` takes any bytes-like `header` and
any writable C-contiguous buffer `out`; it is typed as kdataset calls it.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from _typeshed import StrOrBytesPath

def read_files(paths: Sequence[StrOrBytesPath], /) -> list[bytes | int]:
    """Each file's whole content, or the errno of the failure (an `int`)."""

def read_rows(
    paths: Sequence[StrOrBytesPath], header: bytes, out: npt.NDArray[np.uint8], /
) -> list[tuple[int, int]]:
    """Reads each file into its row of `out` after a prefix equal to `header`.

    Returns `[(position, errno)]` for the files not read as expected (errno 0: read,
    but the prefix differs or the file is short).
    """

def missing(paths: Sequence[StrOrBytesPath], /) -> list[tuple[int, int]]:
    """`[(position, errno)]` of the paths whose `stat` fails."""
