"""A packed cache: every sample in one memory-mapped file, filled on first read.

The first epoch reads the files and writes each sample into its row of one file;
later epochs gather batches from that file through the page cache, far faster
than opening thousands of small files. The cache records a fingerprint of what
it was built from (each file's path, size and modification time, the sample
shape and dtype, the loader), and is rebuilt, never served stale, when any of it
changes.

Its disk space is reserved when it is made, so a disk too small for it is an
`OSError` then, saying how much it needs and how much is free, and never a
`SIGBUS` in the middle of an epoch (writes through a memory map into a sparse
file have no other way to fail). A sample is written, then flagged: a process
killed at any moment leaves no flag on a sample that is not there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from kdataset.io.sources import is_url

# 2: space reserved when the cache is made (version 1 made sparse files, rebuilt once).
_VERSION = 2
# Errors of `posix_fallocate` that mean "not on this file system": zeros are written instead.
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class CacheWarning(UserWarning):
    """A dataset's `cache` could not be made (its disk is too small, say), so the
    dataset goes on without it, reading the files every epoch.

    The message names the cache's path and the reason; for a full disk, the
    bytes the cache needs and the bytes free. Training never stops for a cache.

    Example:

    ```python
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", kd.CacheWarning)  # stop instead of going on
        train = kd.ManifestDataset("train.csv", cache="/scratch/train.kdcache")
    ```
    """


class _Meta(TypedDict):
    """What a cache was built from, as its `.json` file holds it."""

    version: int
    fingerprint: str
    count: int
    shape: list[int]
    dtype: str


def source_fingerprint(
    paths: Iterable[str], shape: Sequence[int], dtype: npt.DTypeLike, loader: object
) -> str:
    """A digest of the files (path, size, modification time) and of how they are read.

    Objects in storage (URLs) count by their URL without its query (a signed
    URL's signature changes, the object does not): a cache of them is rebuilt
    when the URLs change, not when an object is rewritten in place.
    Only the digest is written beside the cache, never a path.
    """
    digest = hashlib.sha256(f"{_VERSION}|{tuple(shape)}|{np.dtype(dtype).str}|{loader!r}".encode())
    for path in paths:
        if is_url(path):
            digest.update(f"\0{path.split('?', 1)[0]}".encode())
            continue
        stat = os.stat(path)
        digest.update(f"\0{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


class PackedCache:
    """Samples of one shape and dtype in a memory-mapped file, with a flag per sample.

    Files: `path` (the samples), `path + ".filled"` (one byte per sample) and
    `path + ".json"` (what the cache was built from). They are created or
    rebuilt here when the fingerprint differs, with their disk space reserved
    (`posix_fallocate`, or zeros written where it is missing), so that writing
    a sample later cannot fail.

    Args:
        path: The cache file.
        fingerprint: `source_fingerprint(...)` of the data it holds.
        count: Number of samples.
        shape: Shape of one sample.
        dtype: The dtype samples are stored in: the smallest that holds them
            exactly (decoded images in `uint8` take a quarter of `float32`).
        served_as: The dtype `gather` gives them in; by default `dtype`.

    Raises:
        OSError: the cache cannot be made or its space reserved. For a full
            disk (`errno` `ENOSPC`), the message names the path, the bytes it
            needs and the bytes free; no file of the cache is left behind.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fingerprint: str,
        count: int,
        shape: Sequence[int],
        dtype: npt.DTypeLike,
        served_as: npt.DTypeLike | None = None,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.count, self.shape, self.dtype = int(count), tuple(shape), np.dtype(dtype)
        self.served_as = self.dtype if served_as is None else np.dtype(served_as)
        self.fingerprint = fingerprint
        self.rebuilt = False
        meta: _Meta = {
            "version": _VERSION,
            "fingerprint": fingerprint,
            "count": self.count,
            "shape": list(self.shape),
            "dtype": self.dtype.str,
        }
        if self._read_meta() != meta or not self._sizes_match():
            self._create(meta)
        else:
            self._reserve_existing()
        self._data: np.ndarray | None = None
        self._filled: npt.NDArray[np.uint8] | None = None
        self._maps: tuple[mmap.mmap, mmap.mmap] | None = None
        self._missing = self.count  # counted when the files are mapped (`_open`)
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """The size of the samples' file."""
        return self.count * int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def _read_meta(self) -> object:
        try:
            with open(self.path + ".json", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _sizes_match(self) -> bool:
        try:
            return (
                os.path.getsize(self.path) == self.nbytes
                and os.path.getsize(self.path + ".filled") == self.count
            )
        except OSError:
            return False

    def _create(self, meta: _Meta) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        _remove(self.path + ".json")  # invalid until rebuilt
        made = [self.path, self.path + ".filled"]
        try:
            for name, size in zip(made, (self.nbytes, self.count)):
                with open(name, "wb") as f:  # an old cache's space is freed first
                    _reserve(f.fileno(), size)
                    os.fsync(f.fileno())  # the zeroed flags are on disk before the `.json`
            temporary = self.path + ".json.tmp"
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(meta, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path + ".json")
        except OSError as e:
            # No half-made cache is left: without its files nothing is served from it.
            for name in (*made, self.path + ".json.tmp"):
                _remove(name)
            raise self._unusable(e) from e
        self.rebuilt = True

    def _reserve_existing(self) -> None:
        """Reserves the space of a cache made elsewhere (copied sparse, say) that is still
        to be filled; the flagged samples are kept."""
        reserve = getattr(os, "posix_fallocate", None)
        if reserve is None or self.nbytes == 0:
            return
        try:
            with open(self.path, "r+b") as f:
                if os.fstat(f.fileno()).st_blocks * 512 >= self.nbytes:
                    return  # nothing sparse to fill
                filled = np.fromfile(self.path + ".filled", dtype=np.uint8)
                if filled.all():
                    return  # complete: never written again
                reserve(f.fileno(), 0, self.nbytes)  # keeps what is written
        except OSError as e:
            raise self._unusable(e) from e

    def _unusable(self, error: OSError) -> OSError:
        """The error to raise for `error`, met making the cache: one naming the cache, and
        for a full disk saying how much space the cache needs and how much is free."""
        if error.errno not in _FULL:
            message = f"The cache {self.path!r} cannot be made: {error}."
        else:
            needed = self.nbytes + self.count
            try:
                free = f"{_size(shutil.disk_usage(os.path.dirname(self.path)).free)} are free"
            except OSError:
                free = "the free space is unknown"
            message = (
                f"No space for the cache {self.path!r}: it needs {_size(needed)} and {free} "
                f"on its disk ({os.strerror(error.errno or errno.ENOSPC)}). Free some space, "
                "or give `cache` a path on a larger disk."
            )
        found = OSError(message)
        found.errno = error.errno
        return found

    def _open(self) -> tuple[np.ndarray, npt.NDArray[np.uint8]]:
        data, filled = self._data, self._filled
        if data is None or filled is None:  # both are set together: `_filled` first
            with self._lock:  # loaders in several threads may come here first at once
                if self._data is None or self._filled is None:
                    # Plain arrays over the mappings: indexing a np.memmap costs more.
                    flags = _map(self.path + ".filled")
                    filled = np.frombuffer(flags, dtype=np.uint8)
                    samples = _map(self.path)
                    self._maps = (samples, flags)
                    self._missing = self.count - int(np.count_nonzero(filled))
                    self._filled = filled
                    self._data = np.frombuffer(samples, dtype=self.dtype).reshape(
                        (self.count, *self.shape)
                    )
                data, filled = self._data, self._filled
        return data, filled

    @property
    def complete(self) -> bool:
        """Whether every sample is in the cache."""
        self._open()
        return self._missing == 0

    def gather(
        self, rows: npt.NDArray[np.integer], out: np.ndarray | None = None
    ) -> tuple[np.ndarray, npt.NDArray[np.bool_]]:
        """`(samples, have)`: the rows of the cache (into `out`, if given), and which of
        them are filled."""
        data, filled = self._open()
        if self._missing == 0:
            return self._served(data, rows, out), np.ones(len(rows), dtype=bool)
        # Flags before data: a row is flagged only once its data is written, so a
        # row read as filled here has its data in place when it is gathered next.
        have = filled[rows].astype(bool)
        return self._served(data, rows, out), have

    def _served(
        self, data: np.ndarray, rows: npt.NDArray[np.integer], out: np.ndarray | None
    ) -> np.ndarray:
        """Rows of the cache in the dtype samples are served in."""
        if out is None:
            out = np.empty((len(rows), *self.shape), self.served_as)
        if self.served_as == self.dtype:
            np.take(data, rows, axis=0, out=out, mode="clip")  # "raise" buffers `out`
        else:
            out[...] = data[rows]
        return out

    def missing_rows(self) -> npt.NDArray[np.intp]:
        """The rows not in the cache yet, in order."""
        _, filled = self._open()
        return np.flatnonzero(filled == 0)

    def store(self, rows: npt.NDArray[np.integer], samples: np.ndarray) -> None:
        """Writes samples into their rows, then marks them filled."""
        self.write(rows, samples)
        self.commit(rows, sync=False)

    def write(self, rows: npt.NDArray[np.integer], samples: np.ndarray) -> None:
        """Writes samples (in any dtype that casts to the cache's) into their rows, without
        marking them filled: `commit` does."""
        if len(rows):
            data, _ = self._open()
            data[rows] = samples

    def commit(self, rows: npt.NDArray[np.integer], sync: bool = True) -> None:
        """Marks rows filled, whose samples `write` wrote.

        Args:
            rows: The rows.
            sync: First write their samples through to the disk, so that even
                a machine that loses power keeps no flag on a sample that is
                not there. (A process killed at any moment never does: what it
                wrote is in the page cache, samples before flags.)
        """
        if not len(rows):
            return
        _, filled = self._open()
        if sync and self._maps is not None:
            row_bytes = self.nbytes // max(1, self.count)
            start = int(np.min(rows)) * row_bytes
            stop = (int(np.max(rows)) + 1) * row_bytes
            start -= start % mmap.ALLOCATIONGRANULARITY
            if stop > start:
                self._maps[0].flush(start, stop - start)
        with self._lock:
            self._missing -= int(len(rows) - np.count_nonzero(filled[rows]))
            filled[rows] = 1

    def flush(self) -> None:
        """Writes the samples, then their flags, through to the disk."""
        if self._maps is not None:
            for mapping in self._maps:
                mapping.flush()

    @property
    def filled_count(self) -> int:
        """How many samples the cache holds."""
        self._open()
        return self.count - self._missing

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.update(_data=None, _filled=None, _maps=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _reserve(fd: int, size: int) -> None:
    """Allocates the first `size` bytes of the new, empty file `fd` on its disk.

    Raises:
        OSError: `ENOSPC` where they do not fit.
    """
    if size <= 0:
        return
    reserve = getattr(os, "posix_fallocate", None)  # not on macOS or Windows
    if reserve is not None:
        try:
            reserve(fd, 0, size)
            return
        except OSError as e:
            if e.errno not in _UNSUPPORTED:
                raise
    zeros = bytes(min(size, 1 << 20))
    written = 0
    while written < size:
        written += os.write(fd, zeros[: size - written])


def _map(name: str) -> mmap.mmap:
    with open(name, "r+b") as f:
        return mmap.mmap(f.fileno(), 0)


def _remove(name: str) -> None:
    try:
        os.remove(name)
    except FileNotFoundError:
        pass


def _size(nbytes: int) -> str:
    """`"9,830,600 bytes (9.4 MB)"`."""
    value, unit = float(nbytes), "bytes"
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            break
        value /= 1000
    short = f" ({value:.1f} {unit})" if unit != "bytes" else ""
    return f"{nbytes:,} bytes{short}"
