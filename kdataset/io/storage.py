"""Object storage: manifests and samples at URLs (`s3://`, `gs://`, `memory://`, ...).

Reading goes through fsspec, installed with `pip install 'kdataset[cloud]'`
(fsspec and s3fs; other protocols need their own fsspec package, such as
gcsfs for `gs://`). Nothing here imports fsspec until a URL is read, so local
manifests never need it.

Credentials never show: every URL and message shown to a user goes through
`redact`, which removes the userinfo of URLs (`s3://key:secret@bucket`), the
query of signed URLs, and the values of the secret storage options.
"""

from __future__ import annotations

import concurrent.futures
import copy
import io
import os
import posixpath
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd

from kdataset.errors import ManifestError, SampleError, check_int, check_options
from kdataset.io.sources import is_url, read_csv, sniff_delimiter, split_url
from kdataset.loading.loaders import (
    FunctionLoader,
    Loader,
    check_sample,
    load_each,
    read_npy_header,
)

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

_K = TypeVar("_K")
_T = TypeVar("_T")

_INSTALL = "pip install 'kdataset[cloud]'"

# `protocol://` or chained `a::b://`; a Windows drive (`C:\`) has no `//`.

# S3: a server that goes away gives an error in seconds. s3fs retries 5 times,
# botocore 5 more inside each, with a 15 s read timeout: minutes of silence.
_S3_RETRIES = 2  # s3fs's own tries (an attribute of S3FileSystem, not an option)
_S3_CONFIG_DEFAULTS = {
    "connect_timeout": 5,
    "read_timeout": 10,
    "retries": {"max_attempts": 2, "mode": "standard"},
}


def _import_fsspec() -> ModuleType:
    try:
        import fsspec
    except ImportError:
        raise ImportError(
            f"Reading manifests and samples at URLs needs fsspec: {_INSTALL}"
        ) from None
    module: ModuleType = fsspec  # installed without types: seen as Any
    return module


def _protocol(url: str) -> str:
    parts = split_url(url)
    return parts[0][: -len("://")].lower().split("::")[-1] if parts else "file"


def _is_s3(url: str) -> bool:
    """A plain (not chained) S3 URL, whose options kdataset gives defaults."""
    return _protocol(url) in ("s3", "s3a") and "::" not in url.split("://", 1)[0]


def with_defaults(url: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The storage options for `url`, with kdataset's defaults where the user set none.

    For `s3://` (s3fs): a 5 s connect timeout, a 10 s read timeout and one
    retry in botocore (`config_kwargs`), so that a server that stops answering
    gives an error within seconds instead of minutes. Options the user set,
    also inside `config_kwargs`, are kept as given. (`filesystem` also sets
    s3fs's own tries to 2, or to the `retries` option when given.)

    Args:
        url: The URL the options are for.
        storage_options: The user's options (a dict), or `None`.

    Returns:
        A new dict.

    Example:

    >>> with_defaults("s3://b/x", {"config_kwargs": {"read_timeout": 60}})["config_kwargs"]
    {'read_timeout': 60, 'connect_timeout': 5, 'retries': {'max_attempts': 2, 'mode': 'standard'}}
    """
    options = check_options(storage_options)
    if _is_s3(url):
        config = dict(options.get("config_kwargs") or {})
        for name, value in _S3_CONFIG_DEFAULTS.items():
            # A copy: botocore rewrites the `retries` dict it is given.
            config.setdefault(name, copy.deepcopy(value))
        options["config_kwargs"] = config
    return options


def filesystem(
    url: str, storage_options: dict[str, Any] | None = None
) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem of `url`, and the path within it.

    Args:
        url: A URL such as `"s3://bucket/data/train.csv"`.
        storage_options: Options for the filesystem (for s3fs: `key`, `secret`,
            `token`, `client_kwargs={"endpoint_url": ...}`, ...). See
            `with_defaults` for the timeouts set when none are given.

    Returns:
        `(fs, path)`: the filesystem (fsspec caches instances, so equal options
        give the same one) and `url` without its protocol.

    Raises:
        ImportError: fsspec, or the package of the protocol, is not installed.

    Example:

    >>> fs, path = filesystem("memory://kdataset-doc/train.csv")
    >>> type(fs).__name__, path
    ('MemoryFileSystem', '/kdataset-doc/train.csv')
    """
    fsspec = _import_fsspec()
    options = with_defaults(url, storage_options)
    retries = options.pop("retries", _S3_RETRIES) if _is_s3(url) else None
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as e:
        raise ImportError(
            f"Reading {redact(url)!r} needs the fsspec package of its protocol "
            f"({redact(str(e), options)}); for s3:// {_INSTALL}"
        ) from None
    except ValueError as e:
        if "Protocol not known" in str(e):
            raise ValueError(
                f"Invalid URL {redact(url)!r}: fsspec knows no protocol "
                f"{_protocol(url)!r}. Received: {redact(url)!r}"
            ) from None
        raise
    if retries is not None and isinstance(getattr(fs, "retries", None), int):
        fs.retries = retries
    return fs, path


# -- credentials -----------------------------------------------------------

_SECRET_NAME = re.compile(r"key|secret|token|passw|credential|signature|auth|sas|cookie", re.I)
# The userinfo and the query of URLs anywhere in a text. A secret may hold `/`
# (AWS's do), so the password runs to the `@`.
_URL_IN_TEXT = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#@:'\"]*(?::[^\s@'\"]*)?@)?"
    r"(?P<rest>[^\s?#'\"]*)(?P<query>\?[^\s#'\"]*)?"
)
_REDACTED = "<redacted>"


def _secret_values(options: dict[str, Any] | None) -> list[str]:
    """The values of the secret options (by name: key, secret, token, ...), nested too."""
    found: list[str] = []

    def walk(value: object, secret: bool) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, secret or bool(_SECRET_NAME.search(str(name))))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, secret)
        elif secret and isinstance(value, str | bytes) and len(value) >= 4:
            found.append(value.decode(errors="replace") if isinstance(value, bytes) else value)

    walk(options or {}, False)
    return sorted(set(found), key=len, reverse=True)


def redact(text: object, storage_options: dict[str, Any] | None = None) -> str:
    """`text` (a URL, a path or a message) with its credentials removed.

    Removes the userinfo of URLs (`s3://key:secret@bucket` becomes
    `s3://<redacted>@bucket`) and their query (signed URLs:
    `...?X-Amz-Signature=...` becomes `...?<redacted>`), and, when
    `storage_options` are given, every occurrence of their secret values
    (the options named like key, secret, token, password, credentials).

    Args:
        text: Anything; it is shown with `str`.
        storage_options: The storage options whose secrets to remove, or `None`.

    Returns:
        A `str`.

    Example:

    >>> redact("s3://AKIA:s3cr3t@bucket/a.npy")
    's3://<redacted>@bucket/a.npy'
    >>> redact("cannot read https://host/b/a.npy?X-Amz-Signature=abc&X-Amz-Expires=60 (403)")
    'cannot read https://host/b/a.npy?<redacted> (403)'
    """
    text = (
        text
        if isinstance(text, str)
        else str(os.fspath(text) if isinstance(text, os.PathLike) else text)
    )

    def clean(match: re.Match[str]) -> str:
        userinfo = f"{_REDACTED}@" if match.group("userinfo") else ""
        query = f"?{_REDACTED}" if match.group("query") else ""
        return f"{match.group('scheme')}{userinfo}{match.group('rest')}{query}"

    text = _URL_IN_TEXT.sub(clean, text)
    for secret in _secret_values(storage_options):
        text = text.replace(secret, _REDACTED)
    return text


def safe_options(storage_options: dict[str, Any] | None) -> dict[str, object]:
    """A copy of `storage_options` fit to show: secret values replaced by `'<redacted>'`.

    Options named like key, secret, token, password or credentials (nested
    dicts too) are replaced; URLs among the other values are redacted.

    Example:

    >>> safe_options({"key": "AKIA", "secret": "s3cr3t", "client_kwargs": {"region_name": "x"}})
    {'key': '<redacted>', 'secret': '<redacted>', 'client_kwargs': {'region_name': 'x'}}
    """

    def walk(value: object, secret: bool) -> object:
        if isinstance(value, dict):
            return walk_dict(value, secret)
        if isinstance(value, list | tuple):
            return type(value)(walk(item, secret) for item in value)
        if secret and value is not None and not isinstance(value, bool):
            return _REDACTED
        if isinstance(value, str):
            return redact(value)
        return value

    def walk_dict(options: dict[_K, object], secret: bool) -> dict[_K, object]:
        return {
            name: walk(item, secret or bool(_SECRET_NAME.search(str(name))))
            for name, item in options.items()
        }

    return walk_dict(check_options(storage_options), False)


def safe_repr_options(storage_options: dict[str, Any] | None) -> str:
    """`repr` of `storage_options` with the secrets redacted (see `safe_options`).

    Example:

    >>> safe_repr_options({"token": "abcd", "anon": False})
    "{'token': '<redacted>', 'anon': False}"
    """
    return repr(safe_options(storage_options))


# -- manifests -------------------------------------------------------------


def read_frame(url: str, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Reads a CSV manifest at `url` as kdataset reads a local one.

    Every cell as text, nothing read as NaN, spaces after delimiters skipped,
    headers stripped, and the delimiter told by the header: `,` unless the
    header has none and has `;`, tab or `|`. The object is read through the
    same fsspec filesystem (and timeouts) as the samples; `.gz`, `.bz2`,
    `.xz` and `.zst` manifests are decompressed.

    Args:
        url: The manifest's URL.
        storage_options: Options for its filesystem (see `filesystem`).

    Returns:
        A `pandas.DataFrame` (empty for an empty object).

    Raises:
        FileNotFoundError: no object at `url` (named, redacted).
        ManifestError: the object is not a readable CSV.
        OSError: the storage could not be read (the reason, redacted).

    Example:

    >>> import fsspec
    >>> fsspec.filesystem("memory").pipe("/kdataset-doc/m.csv", b"id;path\\n1;a.npy\\n")
    >>> read_frame("memory://kdataset-doc/m.csv")
      id   path
    0  1  a.npy
    """
    fsspec = _import_fsspec()
    fs, path = filesystem(url, storage_options)
    shown = redact(url, storage_options)
    try:
        with fs.open(path, "rb", compression=fsspec.utils.infer_compression(path)) as f:
            header = f.readline().decode("utf-8", errors="replace")
            f.seek(0)
            return read_csv(
                f, sniff_delimiter(header), shown, clean=lambda e: redact(str(e), storage_options)
            )
    except ManifestError:
        raise
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"Manifest file not found: {shown!r}") from None
    except Exception as e:
        raise OSError(
            f"Cannot read the manifest {shown!r}: {_reason(e, storage_options)}"
        ) from None


def folder(url: str) -> str:
    """The folder URL of an object's URL, that relative paths resolve against.

    Example:

    >>> folder("s3://bucket/data/train.csv?versionId=3")
    's3://bucket/data'
    """
    base = url.split("?", 1)[0].split("#", 1)[0]
    head, _, _ = base.rpartition("/")
    return head if "://" in head else base


def resolve(root: str, path: str) -> str:
    """`path` from a manifest, resolved against the folder URL `root`.

    Args:
        root: The folder URL (`s3://bucket/data`, with or without a final `/`).
        path: The path as written: relative paths (`a/0.npy`, `../b.npy`) join
            `root` (`.` and `..` resolved, never above the bucket); URLs and
            absolute local paths (`/mnt/x.npy`, `~/x.npy`) stay as they are;
            `""` stays `""`.

    Returns:
        The URL (or local path).

    Example:

    >>> resolve("s3://bucket/data", "x/../0.npy")
    's3://bucket/data/0.npy'
    >>> resolve("s3://bucket/data/", "gs://other/1.npy")
    'gs://other/1.npy'
    """
    return resolve_all(root, [path])[0]


def resolve_all(root: str, paths: Iterable[str]) -> list[str]:
    """`resolve(root, p)` for every path of `paths`, in one pass (a list)."""
    parts = split_url(root)
    if parts is None:
        raise ValueError(
            f"Invalid `root`: expected a URL such as 's3://bucket/data'. Received: {redact(root)!r}"
        )
    scheme, base = parts[0], parts[1].rstrip("/")
    bucket, _, _ = base.partition("/")
    prefix = base + "/"
    out = []
    for p in paths:
        if not p or p[0] in "/~" or split_url(p):
            out.append(os.path.expanduser(p) if p[:1] == "~" else p)
            continue
        joined = prefix + p
        if "/." in joined or "//" in joined:
            normal = posixpath.normpath(joined)
            if normal != bucket and not normal.startswith(bucket + "/"):
                normal = bucket + "/" + normal.lstrip("./")
            joined = normal + ("/" if p.endswith("/") else "")
        out.append(scheme + joined)
    return out


def missing_objects(
    urls: Sequence[str], storage_options: dict[str, Any] | None = None, threads: int = 16
) -> list[int]:
    """Positions of the URLs whose object does not exist, found by listing folders.

    One listing (paged by the server: a request per 1,000 objects on S3) per
    distinct folder, run `threads` at a time: a manifest of a million objects
    in a hundred folders is checked in about a thousand requests, not a
    million. URLs with a query (signed URLs) and `http(s)://` URLs, which
    cannot be listed, are checked one by one; local paths with
    `os.path.exists`; `""` is left to the empty-path check. A folder that
    cannot be listed (no list permission) is checked object by object.

    Args:
        urls: The URLs (a list of `str`).
        storage_options: Options for their filesystems.
        threads: How many listings run at once.

    Returns:
        The sorted positions of the missing objects.

    Raises:
        OSError: the storage could not be listed (the reason, redacted).

    Example:

    >>> import fsspec
    >>> fsspec.filesystem("memory").pipe("/kdataset-doc/d/0.npy", b"x")
    >>> missing_objects(["memory://kdataset-doc/d/0.npy", "memory://kdataset-doc/d/1.npy"])
    [1]
    """
    folders: dict[str, list[tuple[int, str]]] = {}
    single: list[int] = []
    missing: list[int] = []
    for i, url in enumerate(urls):
        if not url:
            continue
        if not is_url(url):
            if not os.path.exists(url):
                missing.append(i)
            continue
        protocol = _protocol(url)
        head, _, name = url.rpartition("/")
        if (
            "?" in url
            or "#" in url
            or protocol in ("http", "https")
            or not name
            or "://" not in head
            or head.endswith("://")
        ):
            single.append(i)
        else:
            folders.setdefault(head, []).append((i, name))

    def listed(head: str) -> set[str] | None:
        fs, path = filesystem(head, storage_options)
        try:
            fs.invalidate_cache(path)
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            return set()
        except PermissionError:
            return None
        return {
            e["name"].rstrip("/").rpartition("/")[2]
            for e in entries
            if e.get("type") != "directory"
        }

    def exists(i: int) -> bool:
        fs, path = filesystem(urls[i], storage_options)
        try:
            fs.info(path)
        except FileNotFoundError:
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(max(1, int(threads))) as pool:
        try:
            heads = list(folders)
            for head, names in zip(heads, pool.map(listed, heads)):
                if names is None:
                    single.extend(i for i, _ in folders[head])
                else:
                    missing.extend(i for i, name in folders[head] if name not in names)
            for i, found in zip(single, pool.map(exists, single)):
                if not found:
                    missing.append(i)
        except (ImportError, TypeError, ValueError):
            raise
        except Exception as e:
            raise OSError(
                f"Cannot check that the manifest's objects exist: {_reason(e, storage_options)}"
            ) from None
    return sorted(missing)


# -- loading ---------------------------------------------------------------


def read_object(
    url: str,
    storage_options: dict[str, Any] | None = None,
    timeout: float | None = None,
    start: int | None = None,
    end: int | None = None,
) -> bytes:
    """An object's bytes (`start:end` of them), or a `SampleError` naming it (redacted).

    Args:
        url: The object's URL.
        storage_options: The filesystem's options (see `filesystem`).
        timeout: Seconds to wait for an answer, where the filesystem takes a deadline
            (async ones, such as s3fs); `None` for the storage's own.
        start: First byte, or `None` for the whole object.
        end: Byte after the last, with `start`.
    """
    shown = redact(url, storage_options)
    try:
        fs, path = filesystem(url, storage_options)
        kwargs = (
            {"timeout": timeout} if timeout is not None and getattr(fs, "async_impl", False) else {}
        )
        if start is None:
            data: bytes = fs.cat_file(path, **kwargs)
        else:
            data = fs.cat_file(path, start=start, end=end, **kwargs)
        return data
    except ImportError:
        raise
    except Exception as e:
        reason = _reason(e, storage_options)
        if reason == "no answer from the storage in time" and timeout is not None:
            reason += f" (`timeout`={timeout:g} s of RemoteLoader)"
        raise SampleError(f"cannot read the object ({reason})", path=shown) from None


def _reason(error: BaseException, storage_options: dict[str, Any] | None = None) -> str:
    """What went wrong, in words, credentials removed."""
    name = type(error).__name__
    if name in ("FSTimeoutError", "TimeoutError"):
        return "no answer from the storage in time"
    if isinstance(error, FileNotFoundError):
        return "object not found"
    if isinstance(error, PermissionError):
        text = f"access denied ({error})" if str(error) else "access denied"
    else:
        text = f"{name}: {error}" if str(error) else name
    return redact(text, storage_options)


# NumPy parses .npy headers with `ast.literal_eval`, which CPython before 3.11.9
# can break on when threads parse at once: the lock kdataset's NpyLoader holds.
_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEAD = 1024  # bytes read first to learn a header (they are 64 to 128 bytes, usually)
# A parsed .npy header: (shape, Fortran order, dtype, offset of the data).
_NpyHeader: TypeAlias = tuple[tuple[int, ...], bool, np.dtype, int]


def _header_length(head: bytes, shown: str) -> int:
    """The length of the .npy header (magic to data) from its first 12 bytes."""
    if len(head) < 10 or head[:6] != _NPY_MAGIC:
        raise SampleError("not a readable .npy file (no .npy magic bytes)", path=shown)
    major = head[6]
    if major == 1:
        return 10 + int.from_bytes(head[8:10], "little")  # "<H"
    if major in (2, 3) and len(head) >= 12:
        return 12 + int.from_bytes(head[8:12], "little")  # "<I"
    raise SampleError(f"not a readable .npy file (format version {major})", path=shown)


class RemoteLoader(Loader):
    """Loads samples at URLs (`s3://`, `gs://`, ...) with kdataset's loaders.

    Each object is read through fsspec in one request, then decoded as the
    wrapped loader decodes a file: `.npy` arrays are parsed here (never
    unpickled), images by the `ImageLoader`'s own decoding and resizing, and
    for any other loader the bytes are written to a temporary file it reads.
    `probe` reads only the first bytes of a `.npy` object (a ranged read) to
    learn its shape and dtype. Local paths go straight to the wrapped loader.

    Loading is I/O bound, so `load_many_into` reads a batch's objects in
    `threads` threads at once. The loader pickles (with its storage options,
    for worker processes), but its `repr` and its errors never show a
    credential.

    Args:
        loader: The loader to decode with: a `NpyLoader`, an `ImageLoader`,
            another `kdataset.loading.loaders.Loader`, or a function `fn(path) -> array`
            (it is given a local temporary file).
        storage_options: Options for the filesystem (for s3fs: `key`,
            `secret`, `token`, `client_kwargs={"endpoint_url": ...}`).
        threads: How many objects one `load_many_into` call reads at once.
        timeout: Seconds an object may take to be read before it fails, for
            asynchronous filesystems (s3, gcs, http); `None` for no limit.
            Raise it for large objects on slow links.

    Raises:
        SampleError: (from loading) naming the object and the reason.

    Example:

    >>> import fsspec, io, numpy as np
    >>> from kdataset.loading.loaders import NpyLoader
    >>> buffer = io.BytesIO()
    >>> np.save(buffer, np.arange(3, dtype="float32"))
    >>> fsspec.filesystem("memory").pipe("/kdataset-doc/a.npy", buffer.getvalue())
    >>> RemoteLoader(NpyLoader())("memory://kdataset-doc/a.npy")
    array([0., 1., 2.], dtype=float32)
    """

    releases_gil = True  # waiting on the network: threads

    def __init__(
        self,
        loader: Loader | Callable[[str], npt.ArrayLike],
        storage_options: dict[str, Any] | None = None,
        threads: int = 16,
        timeout: float | None = 20.0,
    ) -> None:
        if not isinstance(loader, Loader):
            if not callable(loader):
                raise TypeError(
                    "Invalid `loader`: expected a kdataset loader (NpyLoader, ImageLoader, ...) "
                    f"or a function `fn(path) -> array`. Received: loader={loader!r}"
                )
            loader = FunctionLoader(loader)
        if isinstance(loader, RemoteLoader):
            raise TypeError("Invalid `loader`: it is already a RemoteLoader.")
        threads = check_int("threads", threads, 1)
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ValueError(
                f"Invalid `timeout`: expected a positive number of seconds or None. Received: timeout={timeout!r}"
            )
        self.loader = loader
        self.storage_options = check_options(storage_options)
        self.threads = threads
        self.timeout = None if timeout is None else float(timeout)
        self._headers: dict[bytes, _NpyHeader] = {}

    # Read-only here, where `Loader.storage_dtype` is a class attribute a subclass may set.
    @property
    def storage_dtype(self) -> np.dtype | None:  # type: ignore[override]
        """The wrapped loader's `storage_dtype`."""
        return getattr(self.loader, "storage_dtype", None)

    # -- reading -------------------------------------------------------

    def _fs(self, url: str) -> tuple[AbstractFileSystem, str]:
        return filesystem(url, self.storage_options)

    def _deadline(self, fs: AbstractFileSystem) -> dict[str, float]:
        """fsspec's `timeout=` for the filesystem's calls, where it takes one (async ones)."""
        if self.timeout is not None and getattr(fs, "async_impl", False):
            return {"timeout": self.timeout}
        return {}

    def _read(self, url: str, start: int | None = None, end: int | None = None) -> bytes:
        """The object's bytes (`start:end` of them), or a `SampleError` naming it."""
        return read_object(url, self.storage_options, self.timeout, start, end)

    def _size(self, url: str) -> int:
        shown = redact(url, self.storage_options)
        try:
            fs, path = self._fs(url)
            size: int = fs.info(path, **self._deadline(fs))["size"]
            return size
        except ImportError:
            raise
        except Exception as e:
            reason = _reason(e, self.storage_options)
            raise SampleError(f"cannot read the object ({reason})", path=shown) from None

    # -- npy ---------------------------------------------------------------

    def _npy_header(self, data: bytes, shown: str) -> _NpyHeader:
        """(shape, fortran, dtype, offset) of .npy bytes; known headers are not parsed again."""
        offset = _header_length(data[:12], shown)
        if len(data) < offset:
            raise SampleError(
                f"not a readable .npy file (its header is cut short at {len(data)} bytes)",
                path=shown,
            )
        header = bytes(data[:offset])
        parsed = self._headers.get(header)
        if parsed is None:
            parsed = read_npy_header(io.BytesIO(header), shown)
            if len(self._headers) < 64:
                self._headers[header] = parsed
        return parsed

    def _npy_into(self, url: str, out: np.ndarray | None = None) -> np.ndarray:
        shown = redact(url, self.storage_options)
        data = self._read(url)
        shape, fortran, dtype, offset = self._npy_header(data, shown)
        if out is None:
            out = np.empty(shape, dtype)
        else:
            check_sample(shape, dtype, out.shape, out.dtype, shown)
        if len(data) - offset < out.nbytes:
            raise SampleError(
                f"the object is truncated: {len(data) - offset} of its {out.nbytes} data bytes "
                "are there",
                path=shown,
            )
        values = np.frombuffer(data, dtype=dtype, count=out.size, offset=offset)
        if fortran:
            out[...] = values.reshape(shape[::-1]).transpose()
        else:
            out[...] = values.reshape(shape)
        return out

    def _npy_probe(self, url: str) -> tuple[tuple[int, ...], np.dtype]:
        shown = redact(url, self.storage_options)
        size = self._size(url)
        head = self._read(url, 0, min(size, _NPY_HEAD)) if size else b""
        offset = _header_length(head[:12], shown)
        if offset > len(head) and size >= offset:
            head = self._read(url, 0, offset)
        shape, _, dtype, offset = self._npy_header(head, shown)
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if size < offset + expected:
            raise SampleError(
                f"the object is truncated: {max(size - offset, 0)} of its {expected} data bytes "
                "are there",
                path=shown,
            )
        return shape, dtype

    # -- any other loader: through a temporary file ------------------------

    def _through_file(self, url: str, use: Callable[[str], _T]) -> _T:
        shown = redact(url, self.storage_options)
        data = self._read(url)
        suffix = posixpath.splitext(url.split("?", 1)[0])[1]
        fd, local = tempfile.mkstemp(prefix="kdataset-", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:
                return use(local)
            except SampleError as e:
                raise SampleError(_swap(e.reason, local, shown), path=shown) from None
            except Exception as e:
                raise SampleError(
                    _swap(f"{type(e).__name__}: {e}", local, shown), path=shown
                ) from None
        finally:
            try:
                os.unlink(local)
            except OSError:
                pass

    # -- the Loader interface ------------------------------------------------

    def __call__(self, path: str) -> npt.ArrayLike:
        if not is_url(path):
            return self.loader(path)
        if self.loader.remote_reads == "npy":
            return self._npy_into(path)
        if self.loader.remote_reads == "bytes":
            return self.loader.decode_into(redact(path, self.storage_options), self._read(path))
        return self._through_file(path, self.loader.array)

    def probe(self, path: str) -> tuple[tuple[int, ...], np.dtype]:
        if not is_url(path):
            return self.loader.probe(path)
        if self.loader.remote_reads == "npy":
            return self._npy_probe(path)
        if self.loader.remote_reads == "bytes":
            return self.loader.probe_bytes(redact(path, self.storage_options), self._read(path))
        return self._through_file(path, self.loader.probe)

    def load_into(self, path: str, out: np.ndarray) -> None:
        if not is_url(path):
            self.loader.load_into(path, out)
        elif self.loader.remote_reads == "npy":
            self._npy_into(path, out)
        elif self.loader.remote_reads == "bytes":
            self.loader.decode_into(redact(path, self.storage_options), self._read(path), out)
        else:
            self._through_file(path, lambda local: self.loader.load_into(local, out))

    def load_many_into(
        self, paths: Iterable[str], out: np.ndarray, skip: bool = False
    ) -> list[tuple[int, SampleError]]:
        """Loads `paths` into the rows of `out`, `threads` objects read at once.

        Returns:
            `[(position, SampleError)]`: the first failure (by position), or
            every one with `skip`.
        """
        paths = list(paths)
        if not any(is_url(p) for p in paths):
            many = getattr(self.loader, "load_many_into", None)
            if many is not None:
                found: list[tuple[int, SampleError]] = many(paths, out, skip)
                return found
            return load_each(self.loader, paths, out, skip)

        failures: list[tuple[int, SampleError]] = []
        stop = threading.Event()

        def fill(j: int) -> SampleError | None:
            if stop.is_set():
                return None
            try:
                self.load_into(paths[j], out[j, ...])
            except Exception as e:
                if not skip:
                    stop.set()
                if isinstance(e, SampleError):
                    return e
                shown = redact(paths[j], self.storage_options)
                return SampleError(_reason(e, self.storage_options), path=shown)
            return None

        workers = max(1, min(self.threads, len(paths)))
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for j, error in enumerate(pool.map(fill, range(len(paths)))):
                if error is not None:
                    failures.append((j, error))
        if not skip:
            return failures[:1]
        return failures

    # -- pickling and showing ----------------------------------------------

    def __getstate__(self) -> dict[str, object]:
        # Filesystems are made again in each process (fsspec caches them);
        # headers are relearnt.
        return {
            "loader": self.loader,
            "storage_options": self.storage_options,
            "threads": self.threads,
            "timeout": self.timeout,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._headers = {}

    def __repr__(self) -> str:
        return (
            f"RemoteLoader({self.loader!r}, storage_options="
            f"{safe_repr_options(self.storage_options)}, threads={self.threads!r}, "
            f"timeout={self.timeout!r})"
        )


def _swap(text: str, local: str, shown: str) -> str:
    return text.replace(repr(local), repr(shown)).replace(local, shown)
