"""A packed cache: every sample in one memory-mapped file, filled on first read.

The first epoch reads the files and writes each sample into its row of one file;
later epochs gather batches from that file through the page cache, far faster
than opening thousands of small files. The cache records a fingerprint of what
it was built from (each file's path, size and modification time, the sample
shape and dtype, the loader), and is rebuilt, never served stale, when any of it
changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from typing import TypedDict

import numpy as np
import numpy.typing as npt

from kdataset.io.sources import is_url

_VERSION = 1


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
    rebuilt here when the fingerprint differs.

    Args:
        path: The cache file.
        fingerprint: `source_fingerprint(...)` of the data it holds.
        count: Number of samples.
        shape: Shape of one sample.
        dtype: The dtype samples are stored in: the smallest that holds them
            exactly (decoded images in `uint8` take a quarter of `float32`).
        served_as: The dtype `gather` gives them in; by default `dtype`.
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
        self._data: np.ndarray | None = None
        self._filled: npt.NDArray[np.uint8] | None = None
        self._missing = self.count  # counted when the files are mapped (`_open`)
        self._lock = threading.Lock()

    def _read_meta(self) -> object:
        try:
            with open(self.path + ".json", encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def _sizes_match(self) -> bool:
        nbytes = self.count * int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        try:
            return (
                os.path.getsize(self.path) == nbytes
                and os.path.getsize(self.path + ".filled") == self.count
            )
        except OSError:
            return False

    def _create(self, meta: _Meta) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        try:
            os.remove(self.path + ".json")  # invalid until rebuilt
        except FileNotFoundError:
            pass
        nbytes = self.count * int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
        for name, size in ((self.path, nbytes), (self.path + ".filled", self.count)):
            with open(name, "wb") as f:
                f.truncate(size)  # sparse: space is used as samples are written
        temporary = self.path + ".json.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(meta, f)
        os.replace(temporary, self.path + ".json")
        self.rebuilt = True

    def _open(self) -> tuple[np.ndarray, npt.NDArray[np.uint8]]:
        data, filled = self._data, self._filled
        if data is None or filled is None:  # both are set together: `_filled` first
            with self._lock:  # loaders in several threads may come here first at once
                if self._data is None or self._filled is None:
                    # Plain arrays over the mappings: indexing a np.memmap costs more.
                    filled = np.asarray(np.memmap(self.path + ".filled", dtype=np.uint8, mode="r+"))
                    self._missing = self.count - int(np.count_nonzero(filled))
                    self._filled = filled
                    self._data = np.asarray(
                        np.memmap(
                            self.path, dtype=self.dtype, mode="r+", shape=(self.count, *self.shape)
                        )
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

    def store(self, rows: npt.NDArray[np.integer], samples: np.ndarray) -> None:
        """Writes samples into their rows, then marks them filled."""
        if len(rows):
            data, filled = self._open()
            data[rows] = samples
            with self._lock:
                self._missing -= int(len(rows) - np.count_nonzero(filled[rows]))
                filled[rows] = 1

    @property
    def filled_count(self) -> int:
        """How many samples the cache holds."""
        self._open()
        return self.count - self._missing

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state.update(_data=None, _filled=None, _lock=None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
