"""Auditing what was served: a digest of sample ids that hosts combine.

Each host digests the ids of the rows it served; the digests of disjoint parts
add up to the digest of the whole, so the sum of the hosts' digests equals the
digest of the manifest exactly when every row was served once across hosts
(up to a 2**-64 chance of a coincidence). A digest is a count and a sum of
64-bit hashes, sent between hosts as a short text.

Example:

>>> ids = ["a", "b", "c", "d", "e"]
>>> hashes = id_hashes(ids)  # once per manifest; then per host, per epoch:
>>> host_0 = IdDigest().add(hashes[[0, 3]])
>>> host_1 = IdDigest().add(hashes[[4, 1, 2]])
>>> IdDigest.combine([host_0, host_1]) == IdDigest.of(ids)
True
>>> host_0 + host_0 == IdDigest.of(ids)  # a row twice and another missed: caught
False
>>> IdDigest.parse(str(host_1)) == host_1
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from kdataset.errors import check_int

_MASK = 2**64 - 1
_HEX = "0123456789abcdefABCDEF"


def id_hashes(ids: Iterable[object]) -> npt.NDArray[np.uint64]:
    """A stable 64-bit hash of every id: blake2b with an 8-byte digest of its UTF-8.

    The same id gives the same hash in any process, on any machine, with any
    Python (no `PYTHONHASHSEED`): the first 8 bytes of
    `hashlib.blake2b(id.encode("utf-8"), digest_size=8)` read as a
    little-endian unsigned integer. About half a microsecond an id.

    Args:
        ids: Sample ids: strings, or values whose `str()` is the id (any
            iterable, read once).

    Returns:
        A `uint64` array, one hash per id.

    Example:

    >>> int(id_hashes(["0001"])[0]) == int(id_hashes(["0001", "0002"])[0])
    True
    >>> id_hashes([]).dtype.name
    'uint64'
    """
    blake2b = hashlib.blake2b
    # Strings as they are, other values as their text; in one pass, so an iterator
    # of numbers loses none of its ids.
    digests = [
        blake2b((i if isinstance(i, str) else str(i)).encode("utf-8"), digest_size=8).digest()
        for i in ids
    ]
    return np.frombuffer(b"".join(digests), dtype="<u8").astype(np.uint64)


class IdDigest:
    """The count of some ids and the sum of their `id_hashes`, modulo 2**64.

    Digests add up: the digest of two disjoint parts is the sum of theirs, and
    the order of rows does not matter. A row served twice, or missed, changes
    the count; a row served in place of another changes the sum.

    Args:
        count: How many ids.
        total: The sum of their hashes, modulo 2**64.

    Example:

    >>> whole = IdDigest.of(["x", "y", "z"])
    >>> IdDigest.of(["z"]) + IdDigest.of(["y", "x"]) == whole
    True
    >>> str(IdDigest.of([]))
    '0:0000000000000000'
    """

    __slots__ = ("count", "total")
    count: int
    total: int

    def __init__(self, count: int = 0, total: int = 0) -> None:
        self.count = check_int("count", count, 0)
        self.total = check_int("total", total) & _MASK

    @classmethod
    def of(cls, ids: Iterable[object]) -> Self:
        """The digest of `ids` (strings)."""
        return cls().add(id_hashes(ids))

    def add(self, hashes: npt.NDArray[np.uint64] | IdDigest) -> Self:
        """Adds `hashes` (from `id_hashes`, say of the rows of a batch); returns `self`.

        Args:
            hashes: `uint64` hashes; a digest is added as a whole.

        Returns:
            This digest, changed.
        """
        if isinstance(hashes, IdDigest):
            self.count += hashes.count
            self.total = (self.total + hashes.total) & _MASK
            return self
        hashes = np.asarray(hashes)
        if hashes.size and hashes.dtype != np.uint64:
            raise ValueError(
                f"Invalid `hashes`: expected `uint64` hashes from `id_hashes`. "
                f"Received: an array of {hashes.dtype}"
            )
        self.count += int(hashes.size)
        # A uint64 sum wraps around: it is the sum modulo 2**64.
        self.total = (self.total + int(hashes.sum(dtype=np.uint64))) & _MASK
        return self

    @classmethod
    def combine(cls, digests: Iterable[IdDigest]) -> Self:
        """The digest of the union of disjoint parts: the sum of their digests."""
        whole = cls()
        for digest in digests:
            if not isinstance(digest, IdDigest):
                raise ValueError(f"Invalid `digests`: expected `IdDigest`s. Received: {digest!r}")
            whole.add(digest)
        return whole

    def __add__(self, other: IdDigest) -> IdDigest:
        if not isinstance(other, IdDigest):
            return NotImplemented
        return IdDigest.combine([self, other])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdDigest):
            return NotImplemented
        return (self.count, self.total) == (other.count, other.total)

    # Unhashable: changed in place by `add`. (Typeshed's `list` is declared the same way,
    # overriding `object.__hash__` with None.)
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"{self.count}:{self.total:016x}"

    def __repr__(self) -> str:
        return f"IdDigest.parse({str(self)!r})"

    @classmethod
    def parse(cls, text: str) -> Self:
        """The digest written by `str(digest)`: `"<count>:<16 hex digits>"`.

        Raises:
            ValueError: `text` is not such a string.
        """
        try:
            count, total = text.split(":")
            if not count.isdigit() or len(total) != 16 or total.strip(_HEX):
                raise ValueError
            return cls(int(count), int(total, 16))
        except (AttributeError, ValueError):
            raise ValueError(
                "Invalid `text`: expected a digest written by `str(IdDigest)`, "
                f'"<count>:<16 hex digits>". Received: text={text!r}'
            ) from None

    def __getstate__(self) -> str:
        return str(self)

    def __setstate__(self, text: str) -> None:
        parsed = IdDigest.parse(text)
        self.count, self.total = parsed.count, parsed.total
