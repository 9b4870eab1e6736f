"""Where a manifest comes from: local paths or URLs, and CSV text read with pandas.

The bottom of the io room: the manifest reader and the object-storage layer
both read sources through these, so a local and a remote manifest are read
by one CSV reader and one delimiter rule.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import IO, Literal, TypeAlias

import pandas as pd

from kdataset.errors import ManifestError, Problem

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*(?:::[A-Za-z][A-Za-z0-9+.\-]*)*)://")
_LOCAL_PROTOCOLS = {"file", "local"}

Delimiter: TypeAlias = Literal[",", ";", "\t", "|"]
"""The delimiters kdataset tells from a CSV header (`sniff_delimiter`)."""


def is_url(path: object) -> bool:
    """Whether `path` is a URL of a filesystem other than the local one, read through
    fsspec (`kdataset.io.storage`).

    Args:
        path: A path or URL (`str` or `os.PathLike`); anything else is not a URL.

    Returns:
        `True` for `s3://...`, `gs://...`, `memory://...`, `https://...` or any
        other protocol (also chained, as `simplecache::s3://...`); `False` for
        local paths and `file://` URLs.

    Example:

    >>> is_url("s3://bucket/train.csv"), is_url("/data/train.csv"), is_url("file:///data")
    (True, False, False)
    """
    if not isinstance(path, str):
        if not isinstance(path, os.PathLike):
            return False
        path = os.fspath(path)
        if not isinstance(path, str):
            return False
    match = _URL.match(path)
    if match is None:
        return False
    protocols = match.group(1).lower().split("::")
    return not (len(protocols) == 1 and protocols[0] in _LOCAL_PROTOCOLS)


def split_url(path: str) -> tuple[str, str] | None:
    """`(scheme, rest)` of a URL, the scheme with its `://` (`"s3://"`,
    `"simplecache::s3://"`), or `None` for a path with no scheme.

    Example:

    >>> split_url("s3://bucket/a.npy"), split_url("data/a.npy")
    (('s3://', 'bucket/a.npy'), None)
    """
    match = _URL.match(path)
    return None if match is None else (path[: match.end()], path[match.end() :])


def has_urls(paths: Iterable[str]) -> bool:
    """Whether any of `paths` is a URL (`is_url`), with a cheap test first: millions of
    local paths are passed over at the cost of a substring search each."""
    return any("://" in p and is_url(p) for p in paths)


def read_csv(
    source: str | os.PathLike[str] | IO[bytes],
    sep: str,
    shown: str,
    clean: Callable[[Exception], str] = str,
) -> pd.DataFrame:
    """A CSV as kdataset reads one: every cell as text, nothing as NaN, headers and cells
    without the spaces around them. `shown` names it in errors, and `clean` the
    parser's message (to redact a URL's credentials)."""
    try:
        frame = pd.read_csv(
            source, sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ManifestError(
            [Problem(f"the file is not a readable CSV: {clean(e)}")], source=shown
        ) from None
    frame.columns = [c.strip() if isinstance(c, str) else c for c in frame.columns]
    return frame


_OTHER_DELIMITERS: tuple[Delimiter, ...] = (";", "\t", "|")


def delimiter(path: str | os.PathLike[str]) -> Delimiter:
    """The delimiter of a CSV file: `,` unless its header has none and one of `;`, tab, `|`.

    Spreadsheets export `;`-separated files where the decimal mark is a comma,
    and tab-separated files are common too; the header tells which it is.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
    except OSError:
        return ","
    return sniff_delimiter(header)


def sniff_delimiter(header: str) -> Delimiter:
    """The delimiter a CSV header line tells: `,` unless it has none and has `;`, tab or `|`.

    Example:

    >>> sniff_delimiter("id;label\\n"), sniff_delimiter("id,label;x"), sniff_delimiter("id")
    (';', ',', ',')
    """
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in _OTHER_DELIMITERS}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","
