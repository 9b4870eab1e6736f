"""From a folder per class to a manifest, indexed as `image_dataset_from_directory` indexes it."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import pandas as pd

from kdataset.errors import listing, plural

# `keras.src.utils.image_dataset_utils.ALLOWLIST_FORMATS` (Keras 3.15), lower case:
# `image_dataset_from_directory` matches a file name's end against these in any case.
_IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IDFD = "`keras.utils.image_dataset_from_directory`"


def _check_formats(formats: str | Iterable[str] | None) -> tuple[str, ...]:
    """`formats` as a tuple of distinct lower-case extensions, each with its dot."""
    if formats is None:
        return _IMAGE_FORMATS
    given: list[str] | None
    try:
        given = list([formats] if isinstance(formats, str) else formats)
    except TypeError:  # not iterable
        given = None
    if not given or not all(isinstance(f, str) and f.strip(".").strip() for f in given):
        raise ValueError(
            "Invalid `formats`: expected file extensions such as ['.jpg', '.png'] (or None for "
            f"{_IDFD}'s {', '.join(_IMAGE_FORMATS)}). Received: formats={formats!r}"
        )
    return tuple(dict.fromkeys("." + f.strip().lstrip(".").lower() for f in given))


def check_directory(directory: str | os.PathLike[str]) -> str:
    """`directory` made absolute, or an error saying what it is instead of a folder.

    Args:
        directory: The folder to index.

    Returns:
        Its absolute path.

    Raises:
        TypeError: `directory` is not a path.
        FileNotFoundError: it does not exist.
        NotADirectoryError: it is a file.
    """
    if not isinstance(directory, str | os.PathLike):
        raise TypeError(
            "Invalid `directory`: expected the path of a folder. "
            f"Received: directory={directory!r} of type {type(directory).__name__}"
        )
    path = os.fspath(directory)
    absolute = os.path.abspath(path)
    if not os.path.exists(absolute):
        raise FileNotFoundError(f"Directory not found: {path!r} (looked at {absolute!r})")
    if not os.path.isdir(absolute):
        raise NotADirectoryError(
            "Invalid `directory`: expected a folder with one subfolder per class, as "
            f"{_IDFD} reads. Received: directory={path!r}, a file"
        )
    return absolute


def _class_folders(root: str) -> list[str]:
    """The classes: the subfolders not hidden, sorted by name as text (`index_directory`)."""
    return [
        name
        for name in sorted(os.listdir(root))
        if os.path.isdir(os.path.join(root, name)) and not name.startswith(".")
    ]


def _posix(path: str) -> str:
    return path if os.sep == "/" else path.replace(os.sep, "/")


def _class_files(folder: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    """The files of one class folder, relative to it, as Keras's `iter_valid_files` lists them:
    every folder of `os.walk` in the order of its path, each one's files sorted by name."""
    found = []
    walk = os.walk(folder, followlinks=follow_links)
    for top, _, files in sorted(walk, key=lambda entry: entry[0]):
        where = _posix(os.path.relpath(top, folder))
        prefix = "" if where == "." else where + "/"
        found += [prefix + name for name in sorted(files) if name.lower().endswith(formats)]
    return found


def _loose_files(root: str, formats: tuple[str, ...]) -> list[str]:
    """Files directly in `root` with one of `formats`: in no class folder."""
    return [
        name
        for name in sorted(os.listdir(root))
        if name.lower().endswith(formats) and not os.path.isdir(os.path.join(root, name))
    ]


def build_manifest(
    directory: str | os.PathLike[str],
    *,
    formats: str | Iterable[str] | None = None,
    follow_links: bool = False,
    relative_to: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Lists a folder-per-class tree as a manifest, as `image_dataset_from_directory` sees it.

    The tree is the one `keras.utils.image_dataset_from_directory` reads:

    ```
    directory/
    ...cat/
    ......001.jpg
    ......more/002.png
    ...dog/
    ......003.JPG
    ```

    It is indexed exactly as Keras indexes it (`index_directory` in
    `keras/src/utils/dataset_utils.py`, Keras 3.15): the classes are the
    subfolders whose names do not start with `.`, sorted as text (`"10"`
    before `"2"`); a class's files are found in the folder and all its
    subfolders, walked with `os.walk` in the order of their paths, each
    folder's files sorted by name; a file counts when its name ends in one of
    `formats`, in any case (`.JPG` is a `.jpg`). The rows come in the order
    Keras lists the files with `shuffle=False`: class by class, in class order.
    Files directly in `directory` belong to no class and are left out, as Keras
    leaves them out. A class folder with no such file stays a class, as it does
    for Keras, with no rows.

    kdataset sorts class names numerically when they are all numbers (`"2"`
    before `"10"`), so to keep Keras's class indices pass the class list on:
    `ManifestDataset(frame, ..., classes=frame.attrs["classes"])`, or save it
    with `kd.LabelEncoder(classes=frame.attrs["classes"]).save("classes.json")`
    (as `kdataset build` does) and pass `classes=kd.LabelEncoder.load(...)`.
    Given classes also keep a class with no rows, which learning the classes
    from the labels would drop.

    Args:
        directory: A local folder with one subfolder per class.
        formats: File extensions to index, such as `[".jpg", ".png"]` (matched in
            any case; `"jpg"` means `".jpg"`), or `None` for
            `image_dataset_from_directory`'s: `.bmp`, `.gif`, `.jpeg`, `.jpg` and
            `.png`. `[".npy"]` indexes a folder per class of `.npy` files.
        follow_links: Whether to walk into subfolders that are symbolic links
            (a class folder that is a link is a class either way, as for Keras).
        relative_to: The folder the `path` column is relative to: the folder
            the manifest's CSV file will be written in, since relative paths in
            a CSV manifest resolve against its folder. `None`: the working
            directory, which relative paths in a DataFrame manifest resolve
            against, so the frame can be passed to `ManifestDataset` as it is.

    Returns:
        A pandas DataFrame with one row per file and the columns `id` (the
        file's path relative to `directory`, with `/` between folders and its
        extension kept, so it is unique even where `a.jpg` and `a.png` sit side
        by side: `cat/more/002.png`), `label` (the class folder's name) and
        `path` (the file, relative to `relative_to`). Its
        `frame.attrs["classes"]` holds the class names in Keras's index order.

    Raises:
        FileNotFoundError: `directory` does not exist.
        NotADirectoryError: `directory` is a file.
        ValueError: `formats` is not a list of extensions; `directory` has no
            class folder, or no file with one of `formats` in its class
            folders; or a class folder's name has spaces around it (kdataset
            strips spaces around labels, which spreadsheets add unseen).
        TypeError: `directory` is not a path.

    Warns:
        UserWarning: a class folder holds no file with one of `formats` (it
            stays a class, with no rows), or files with one of `formats` sit
            directly in `directory`, where they are left out.

    Example:

    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ["cat/b.jpg", "cat/a.PNG", "cat/more/c.jpg", "10/d.gif", "2/e.bmp"]:
    ...     os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
    ...     open(os.path.join(root, name), "wb").close()
    >>> frame = build_manifest(root, relative_to=root)
    >>> frame.attrs["classes"]
    ['10', '2', 'cat']
    >>> frame.to_dict("list")  # doctest: +NORMALIZE_WHITESPACE
    {'id': ['10/d.gif', '2/e.bmp', 'cat/a.PNG', 'cat/b.jpg', 'cat/more/c.jpg'],
     'label': ['10', '2', 'cat', 'cat', 'cat'],
     'path': ['10/d.gif', '2/e.bmp', 'cat/a.PNG', 'cat/b.jpg', 'cat/more/c.jpg']}
    >>> import shutil; shutil.rmtree(root)
    """
    formats = _check_formats(formats)
    root = check_directory(directory)
    shown = os.fspath(directory)
    start = os.getcwd() if relative_to is None else os.path.abspath(os.fspath(relative_to))
    wanted = ", ".join(map(repr, formats))
    classes = _class_folders(root)
    loose = _loose_files(root, formats)
    if not classes:
        found = f"; it holds {plural(len(loose), 'such file')} directly" if loose else ""
        raise ValueError(
            f"No class folders in {shown!r}: expected one subfolder per class, as {_IDFD} "
            f"reads, each holding files ending in {wanted}{found}"
        )
    padded = [name for name in classes if name != name.strip()]
    if padded:
        raise ValueError(
            f"Class folders of {shown!r} with spaces around their names: {listing(padded)}. "
            "kdataset strips spaces around labels (spreadsheets add them unseen), so these "
            "would not match their class: rename them"
        )
    ids, labels, counts = [], [], {}
    for name in classes:
        files = _class_files(os.path.join(root, name), follow_links, formats)
        ids += [f"{name}/{file}" for file in files]
        labels += [name] * len(files)
        counts[name] = len(files)
    if not ids:
        raise ValueError(
            f"No files ending in {wanted} (in any case) in the "
            f"{plural(len(classes), 'class folder')} of {shown!r} ({listing(classes)}) or their "
            "subfolders: pass `formats` to index other files"
        )
    empty = [name for name, count in counts.items() if not count]
    if empty:
        one = len(empty) == 1
        warnings.warn(
            f"{plural(len(empty), 'class folder')} of {shown!r} {'holds' if one else 'hold'} "
            f"no file ending in {wanted}: {listing(empty)}. "
            f"{'It stays a class' if one else 'They stay classes'} with no rows, as in {_IDFD}",
            stacklevel=2,
        )
    if loose:
        one = len(loose) == 1
        warnings.warn(
            f"{plural(len(loose), 'file')} directly in {shown!r}, in no class folder, "
            f"{'is' if one else 'are'} left out, as {_IDFD} leaves {'it' if one else 'them'} "
            f"out: {listing(loose)}",
            stacklevel=2,
        )
    try:
        base = _posix(os.path.relpath(root, start))
    except ValueError:  # Windows: another drive than `relative_to`
        base = _posix(root)
    paths = ids if base == "." else [f"{base}/{i}" for i in ids]
    frame = pd.DataFrame({"id": ids, "label": labels, "path": paths})
    frame.attrs["classes"] = list(classes)
    return frame
