"""`write_report`: one offline HTML page that shows a data set's splits, classes, samples,
problems and leaks."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import platform
import shlex
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from kdataset.errors import ManifestError, Problem, SampleError, check_int, plural
from kdataset.io.manifest import Manifest
from kdataset.io.sources import is_url
from kdataset.io.storage import read_object
from kdataset.loading.loaders import read_file, read_files
from kdataset.loading.parallel import usable_cores
from kdataset.tools.progress import progress_bar
from kdataset.tools.report import charts, page
from kdataset.tools.report.duplicates import (
    CANDIDATE_COSINE,
    MAX_COLOUR_GAP,
    MAX_DIFFERENCE,
    MIN_CORRELATION,
    MIN_DETAIL,
    exact_groups,
    near_candidates,
    near_copies,
)
from kdataset.tools.report.scan import Scan, kind_of, scan_files
from kdataset.tools.stats import LabelStats, label_stats
from kdataset.tools.validate import problem_kind, validate_manifest

if TYPE_CHECKING:
    import pandas as pd

    from kdataset.loading.loaders import LoaderSpec

Source: TypeAlias = "str | os.PathLike[str] | pd.DataFrame"
#: Rows of a table shown at most (problems, duplicates); the report's object holds them all.
MAX_SHOWN = 200
#: Arrays sampled for the value histogram.
_SAMPLED_ARRAYS = 200


@dataclasses.dataclass(frozen=True)
class SampleRef:
    """A row of a split, as the report names it.

    Attributes:
        split: The split's name (`train` for `train.csv`).
        row: The row's position in its split (0-based).
        line: Where it is: `"line 12 of train.csv"`.
        id: Its sample id, if the manifest has ids.
        path: Its file.
        label: Its label cell as written, if any.
    """

    split: str
    row: int
    line: str
    id: str | None
    path: str | None
    label: str | None


@dataclasses.dataclass(frozen=True)
class DuplicateGroup:
    """Rows whose files have the same bytes.

    Attributes:
        samples: The rows, in the order of the splits and lines.
    """

    samples: tuple[SampleRef, ...]

    @property
    def splits(self) -> list[str]:
        """The splits the copies are in, each once."""
        return list(dict.fromkeys(s.split for s in self.samples))

    @property
    def across(self) -> bool:
        """Whether the copies are in more than one split: a leak."""
        return len(self.splits) > 1


@dataclasses.dataclass(frozen=True)
class NearDuplicate:
    """Two images in two splits that are one picture: re-encoded, resized or slightly cropped.

    Attributes:
        first: The row in the earlier split.
        second: The row in the later split.
        difference: Mean absolute difference of their grayscale pixels at 48x48
            (0 to 255), after the crop that matches best.
    """

    first: SampleRef
    second: SampleRef
    difference: float


@dataclasses.dataclass
class DataReport:
    """What `write_report` found, and where it wrote the page.

    Attributes:
        path: The HTML file written.
        rows: Rows per split.
        problems: Every problem `validate_manifest(..., deep=True)` found, per split.
        exact_duplicates: Groups of rows with the same file bytes, within and across splits.
        near_duplicates: Pairs of images in two splits that are one picture (not the same bytes).
        files: Files read.
        bytes: Their bytes.
        seconds: Time taken.
    """

    path: str
    rows: dict[str, int]
    problems: dict[str, list[Problem]]
    exact_duplicates: list[DuplicateGroup]
    near_duplicates: list[NearDuplicate]
    files: int
    bytes: int
    seconds: float

    @property
    def leaks(self) -> int:
        """Exact duplicate groups across splits plus near duplicates across splits."""
        return sum(g.across for g in self.exact_duplicates) + len(self.near_duplicates)

    def summary(self) -> str:
        """One line: rows, problems, duplicates and leaks."""
        problems = sum(len(p) for p in self.problems.values())
        within = sum(not g.across for g in self.exact_duplicates)
        across = sum(g.across for g in self.exact_duplicates)
        rows = ", ".join(f"{name} {n:,}" for name, n in self.rows.items())
        return (
            f"{sum(self.rows.values()):,} rows ({rows}); {plural(problems, 'problem')}; the same "
            f"file twice: {plural(within, 'group')} within a split, {across:,} across splits "
            f"(leaks); {plural(len(self.near_duplicates), 'near copy', 'near copies')} across "
            "splits (leaks)"
        )


def write_report(
    manifests: Sequence[Source] | Mapping[str, Source],
    output: str | os.PathLike[str],
    *,
    id_column: str | None = "id",
    label_column: str | Sequence[str] | None = "label",
    label_separator: str | None = None,
    path_column: str | None = None,
    path_template: str | None = None,
    root_dir: str | os.PathLike[str] | None = None,
    loader: LoaderSpec = "auto",
    storage_options: dict[str, Any] | None = None,
    thumbnails: int = 8,
    seed: int = 0,
    workers: int | Literal["auto"] = "auto",
    progress: bool = False,
    command: str | None = None,
) -> DataReport:
    """Writes one self-contained HTML page about the splits of a data set.

    The page shows, per split, rows, classes and bytes; the class counts as
    bars, splits side by side, with the imbalance ratio; how often labels go
    together (multi-label); a seeded sample of thumbnails per class (or value
    histograms and shapes of `.npy` arrays); image sizes and aspect ratios;
    file sizes; every problem `validate_manifest(..., deep=True)` finds; files
    with the same bytes within a split and across splits; and near copies of an
    image across splits (re-encoded, resized, slightly cropped), each pair with
    both thumbnails and rows. It needs no network and no file beside it.

    Every file is read once more for the page (hashed; its size, the low
    frequencies of a 32x32 grayscale copy and a 4x4 grid of colours kept: some
    330 bytes per row), besides `validate_manifest`'s reading. Near copies are
    searched with one matrix product per chunk of rows, in time quadratic in the
    rows (3 to 6 s per billion pairs of rows in two splits, on two cores).
    100,000 JPEGs of 64x64 (80,000 and 20,000) take about 17 s on two cores, with
    a peak of 141 MB above the imports (`benchmarks/report_scale.py`).

    Args:
        manifests: The splits: a list of CSV paths (named by their file name,
            `train` for `train.csv`) or DataFrames (`split0`, ...), or a dict
            of them by name.
        output: The HTML file to write (replaced whole, at the end).
        id_column: The column of sample ids, as in `ManifestDataset`.
        label_column: The column of labels, or a list of 0/1 columns. A split
            without it (a test set) is reported without labels.
        label_separator: For multi-label data in one column, the string
            between labels.
        path_column: The column of file paths, as in `ManifestDataset`.
        path_template: Paths made from each row, such as `"images/{id}.jpg"`.
        root_dir: The folder relative paths resolve against.
        loader: What the problems are checked with, as in `ManifestDataset`
            (`kd.ImageLoader(image_size=(224, 224))`, say); the page's own
            reading does not depend on it.
        storage_options: For manifests and files at a URL, as in
            `ManifestDataset`.
        thumbnails: Thumbnails per class.
        seed: Seed of the thumbnails' sample.
        workers: Threads that read files (`"auto"`: one per core).
        progress: Show progress bars while reading files.
        command: The command line to print on the page (the CLI passes its own).

    Returns:
        A `DataReport` with everything found.

    Raises:
        ImportError: matplotlib is not installed (`pip install "kdataset[report]"`).
        ValueError: an argument is invalid, or no manifest is given.
        ManifestError: a manifest cannot be read at all (no rows, a missing
            column of ids or paths).

    Example:

    ```python
    report = kd.write_report(["train.csv", "val.csv"], "report.html")
    print(report.summary())
    ```
    """
    charts.require_matplotlib()
    started = time.perf_counter()
    thumbnails = check_int("thumbnails", thumbnails, minimum=0)
    threads = usable_cores() if workers == "auto" else check_int("workers", workers, minimum=1)
    named = _named(manifests)
    columns = [label_column] if isinstance(label_column, str) else list(label_column or [])
    multi_label = label_separator is not None or not isinstance(label_column, str | None)
    label_arg: str | list[str] | None = (
        label_column if isinstance(label_column, str | None) else list(label_column)
    )

    splits: list[_Split] = []
    for name, source in named.items():
        manifest = Manifest(
            source,
            id_column=id_column,
            path_column=path_column,
            path_template=path_template,
            root_dir=root_dir,
            check_files=False,
            storage_options=storage_options,
        )
        if manifest.paths is None:
            raise ManifestError(manifest.problems, source=manifest.source or name)
        labelled = bool(columns) and all(c in manifest.frame.columns for c in columns)
        problems = validate_manifest(
            source,
            deep=True,
            progress=progress,
            id_column=id_column,
            label_column=label_arg if labelled else None,
            label_separator=label_separator if labelled else None,
            label_mode=("multi_hot" if multi_label else "categorical") if labelled else None,
            path_column=path_column,
            path_template=path_template,
            root_dir=root_dir,
            loader=loader,
            storage_options=storage_options,
        )
        splits.append(_Split(name, manifest, labelled, problems))

    offsets = np.cumsum([0, *[len(s.manifest) for s in splits]])
    paths: list[str | None] = [p or None for s in splits for p in (s.manifest.paths or [])]
    split_of = np.repeat(np.arange(len(splits), dtype=np.int32), np.diff(offsets))
    read = _reader(storage_options)
    kinds = [kind_of(p) if p else "other" for p in paths]
    rng = np.random.default_rng(seed)
    arrays = [i for i, k in enumerate(kinds) if k == "npy"]
    sampled = frozenset(
        rng.choice(arrays, min(len(arrays), _SAMPLED_ARRAYS), replace=False).tolist()
        if arrays
        else []
    )
    with progress_bar(progress, "Reading files", len(paths)) as advance:
        scan = scan_files(paths, _bulk_reader(read), sampled, workers=threads, progress=advance)

    readable = scan.sizes >= 0
    groups = exact_groups(scan.digests, readable)
    comparable = (scan.heights > 0) & (scan.detail >= MIN_DETAIL)
    candidates = near_candidates(scan.features, scan.colours, split_of, comparable, scan.digests)
    with progress_bar(progress, "Comparing look-alikes", len(candidates.pairs)) as advance:
        near = near_copies(candidates.pairs, paths, read, workers=threads, progress=advance)

    def ref(g: int) -> SampleRef:
        k = int(split_of[g])
        split, row = splits[k], g - int(offsets[k])
        return SampleRef(
            split=split.name,
            row=row,
            line=split.manifest.where(row),
            id=split.manifest.id_of(row),
            path=paths[g],
            label=split.label_text(row, columns),
        )

    exact = [DuplicateGroup(tuple(ref(g) for g in group)) for group in groups]
    near_pairs = [NearDuplicate(ref(a), ref(b), round(d, 2)) for a, b, d in near]
    report = DataReport(
        path=os.fspath(output),
        rows={s.name: len(s.manifest) for s in splits},
        problems={s.name: s.problems for s in splits},
        exact_duplicates=exact,
        near_duplicates=near_pairs,
        files=int(readable.sum()),
        bytes=int(scan.sizes[readable].sum()),
        seconds=0.0,
    )
    context = _Context(
        splits=splits,
        offsets=offsets,
        paths=paths,
        kinds=kinds,
        split_of=split_of,
        scan=scan,
        read=read,
        rng=rng,
        thumbnails=thumbnails,
        seed=seed,
        threads=threads,
        label_arg=label_arg,
        label_separator=label_separator,
        ref=ref,
        candidates_capped=candidates.capped,
    )
    with progress_bar(progress, "Drawing the page", 1) as advance:
        html = _page(context, report, command, started)
        advance(1)
    _write_atomically(os.fspath(output), html)
    report.seconds = time.perf_counter() - started
    return report


# -- reading --------------------------------------------------------------


@dataclasses.dataclass
class _Split:
    name: str
    manifest: Manifest
    labelled: bool
    problems: list[Problem]

    def label_text(self, row: int, columns: Sequence[str]) -> str | None:
        if not self.labelled:
            return None
        frame = self.manifest.frame
        if len(columns) == 1:
            value = frame[columns[0]].iloc[row]
            return None if value is None or value != value else str(value)
        return "|".join(c for c in columns if str(frame[c].iloc[row]) in ("1", "1.0", "True"))


def _named(manifests: Sequence[Source] | Mapping[str, Source]) -> dict[str, Source]:
    if isinstance(manifests, Mapping):
        named = {str(k): v for k, v in manifests.items()}
    elif isinstance(manifests, str | os.PathLike) or hasattr(manifests, "columns"):
        raise ValueError(
            "Invalid `manifests`: expected a list of splits (`['train.csv', 'val.csv']`) or a "
            f"dict of them by name. Received: {manifests!r:.80}"
        )
    else:
        named = {}
        for k, source in enumerate(manifests):
            if isinstance(source, str | os.PathLike):
                stem = os.path.splitext(os.path.basename(os.fspath(source).rstrip("/")))[0]
            else:
                stem = f"split{k}"
            name, n = stem or f"split{k}", 2
            while name in named:
                name, n = f"{stem}-{n}", n + 1
            named[name] = source
    if not named:
        raise ValueError("Invalid `manifests`: no split given. Received: an empty collection")
    return named


def _reader(storage_options: dict[str, Any] | None) -> Callable[[str], bytes]:
    """`fn(path) -> bytes`: a local file, or an object through fsspec."""

    def read(path: str) -> bytes:
        if is_url(path):
            return read_object(path, storage_options)
        return read_file(path)

    return read


def _bulk_reader(
    read: Callable[[str], bytes],
) -> Callable[[Sequence[str]], list[bytes | SampleError]]:
    """`fn(paths) -> [bytes or SampleError]`: local files in one call (outside the GIL with
    kdataset's C reader), objects one at a time."""

    def read_many(paths: Sequence[str]) -> list[bytes | SampleError]:
        if not any(is_url(p) for p in paths):
            return read_files(paths)
        found: list[bytes | SampleError] = []
        for path in paths:
            try:
                found.append(read(path))
            except SampleError as e:
                found.append(e)
        return found

    return read_many


def _write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".report-", suffix=".html", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# -- the page ---------------------------------------------------------------


@dataclasses.dataclass
class _Context:
    splits: list[_Split]
    offsets: npt.NDArray[np.int64]
    paths: list[str | None]
    kinds: list[str]
    split_of: npt.NDArray[np.int32]
    scan: Scan
    read: Callable[[str], bytes]
    rng: np.random.Generator
    thumbnails: int
    seed: int
    threads: int
    label_arg: str | list[str] | None
    label_separator: str | None
    ref: Callable[[int], SampleRef]
    candidates_capped: bool

    def picture(self, g: int) -> str | None:
        path = self.paths[g]
        if not path or self.scan.sizes[g] < 0:
            return None
        try:
            return page.image_uri(self.read(path), self.kinds[g])
        except Exception:
            return None

    def pictures(self, rows: Sequence[int]) -> dict[int, str | None]:
        import concurrent.futures

        unique = list(dict.fromkeys(rows))
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            return dict(zip(unique, pool.map(self.picture, unique)))


def _page(context: _Context, report: DataReport, command: str | None, started: float) -> str:
    stats, stats_error = _label_stats(context)
    membership = _membership(context, stats)
    sections: list[tuple[str, str, str]] = []
    sections.append(("summary", "Summary", _summary(context, report, stats)))
    if stats is not None or stats_error:
        sections.append(("classes", "Classes", _classes(stats, stats_error)))
    if stats is not None and stats.label_encoder.multi_label and membership is not None:
        labelled = np.repeat([s.labelled for s in context.splits], np.diff(context.offsets))
        sections.append(
            ("cooccurrence", "Labels together", _cooccurrence(stats, membership, labelled))
        )
    sections.append(("samples", "Samples", _samples(context, stats, membership)))
    images = context.scan.heights > 0
    if images.any():
        sections.append(("images", "Image sizes", _images(context, images)))
    if context.scan.arrays:
        sections.append(("arrays", "Arrays", _arrays(context)))
    sections.append(("files", "File sizes", _files(context)))
    sections.append(("problems", "Problems", _problems(report)))
    sections.append(("duplicates", "Duplicates and leaks", _duplicates(context, report)))
    body = "".join(page.section(a, t, b) for a, t, b in sections)
    names = ", ".join(s.name for s in context.splits)
    subtitle = (
        f"{names}: {sum(report.rows.values()):,} rows, {report.files:,} files, "
        f"{charts.readable_bytes(report.bytes)}; written {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )
    footer = _provenance(command, time.perf_counter() - started)
    links = [(a, t) for a, t, _ in sections]
    return page.document("kdataset report", subtitle, links, body, footer)


def _label_stats(context: _Context) -> tuple[LabelStats | None, str | None]:
    labelled = {s.name: s.manifest.frame for s in context.splits if s.labelled}
    if not labelled or context.label_arg is None:
        return None, None
    try:
        stats = label_stats(
            labelled, label_column=context.label_arg, label_separator=context.label_separator
        )
    except ManifestError as e:
        more = len(e.problems) - 1
        return None, f"class counts need clean labels: {e.problems[0]}" + (
            f" (and {more:,} more: see Problems)" if more else ""
        )
    return stats, None


def _membership(context: _Context, stats: LabelStats | None) -> npt.NDArray[np.bool_] | None:
    """`(rows, classes)`: which classes label each row of every split (none for unlabelled)."""
    from kdataset.io.manifest import Rows

    if stats is None:
        return None
    encoder = stats.label_encoder
    member = np.zeros((int(context.offsets[-1]), encoder.num_classes), bool)
    for k, split in enumerate(context.splits):
        if not split.labelled:
            continue
        labels = Rows(
            split.manifest.frame,
            label_column=context.label_arg,
            empty_labels=context.label_separator is not None,
        ).labels
        assert labels is not None  # read by label_stats already, without a problem
        encoded = (
            np.asarray(labels) if isinstance(context.label_arg, list) else encoder.encode(labels)
        )
        rows = np.arange(int(context.offsets[k]), int(context.offsets[k + 1]))
        if encoded.ndim == 2:
            member[rows] = encoded > 0
        else:
            member[rows, encoded] = True
    return member


def _summary(context: _Context, report: DataReport, stats: LabelStats | None) -> str:
    rows = []
    for k, split in enumerate(context.splits):
        mask = context.split_of == k
        read = mask & (context.scan.sizes >= 0)
        classes = "no labels"
        if stats is not None and split.name in stats.table:
            classes = f"{int((stats.table[split.name] > 0).sum()):,}"
        rows.append(
            [
                split.name,
                f"{len(split.manifest):,}",
                classes,
                f"{int(read.sum()):,}",
                charts.readable_bytes(int(context.scan.sizes[read].sum())),
                f"{len(split.problems):,}",
            ]
        )
    problems = sum(len(p) for p in report.problems.values())
    within = sum(not g.across for g in report.exact_duplicates)
    across = sum(g.across for g in report.exact_duplicates)
    cards = "".join(
        [
            page.card(f"{sum(report.rows.values()):,}", "rows"),
            page.card(f"{problems:,}", "problems", "bad" if problems else "good"),
            page.card(f"{across:,}", "exact copies across splits", "bad" if across else "good"),
            page.card(
                f"{len(report.near_duplicates):,}",
                "near copies across splits",
                "bad" if report.near_duplicates else "good",
            ),
            page.card(f"{within:,}", "exact copies within a split", "bad" if within else "good"),
        ]
    )
    table = page.table(
        ["split", "rows", "classes", "files read", "bytes", "problems"],
        rows,
        numeric=(1, 2, 3, 4, 5),
    )
    return f'<div class="cards">{cards}</div>{table}'


def _classes(stats: LabelStats | None, error: str | None) -> str:
    if stats is None:
        return page.note(error or "no labels")
    svg, left_out = charts.class_bars(stats.table.drop(columns="total", errors="ignore"))
    caption = stats.summary()
    if left_out:
        caption += f"; the chart shows the {len(stats.table) - left_out} largest and smallest classes ({left_out} in between left out)"
    ratios = []
    for column in stats.table.columns:
        counts = stats.table[column]
        present = counts[counts > 0]
        ratio = f"{present.max() / present.min():.2f}" if len(present) > 1 else "n/a"
        absent = [str(c) for c in counts.index[counts == 0]]
        missing = ", ".join(absent[:10]) + (f", ... ({len(absent):,})" if len(absent) > 10 else "")
        largest = str(present.idxmax()) if len(present) else ""
        smallest = str(present.idxmin()) if len(present) else ""
        ratios.append([column, f"{len(present):,}", ratio, largest, smallest, missing])
    table = page.table(
        ["split", "classes present", "imbalance ratio", "largest", "smallest", "absent classes"],
        ratios,
        numeric=(1, 2),
        row_class="split-classes",
    )
    return page.figure(svg, caption, "classes") + table


def _cooccurrence(
    stats: LabelStats, membership: npt.NDArray[np.bool_], labelled: npt.NDArray[np.bool_]
) -> str:
    m = membership[labelled].astype(np.int64)
    matrix = m.T @ m
    classes = [str(c) for c in stats.label_encoder.classes]
    per_row = m.sum(axis=1)
    counts = Counter(per_row.tolist())
    caption = (
        "samples labelled with both classes (diagonal: with the class); labels per sample: "
        + ", ".join(f"{plural(n, 'label')}: {counts[n]:,}" for n in sorted(counts))
    )
    return page.figure(charts.cooccurrence(matrix, classes), caption, "cooccurrence")


def _samples(
    context: _Context, stats: LabelStats | None, membership: npt.NDArray[np.bool_] | None
) -> str:
    # Files that can be drawn: read, and decoded if they are images.
    images = np.array([k == "image" for k in context.kinds], bool)
    readable = (context.scan.sizes >= 0) & (~images | (context.scan.heights > 0))
    if context.thumbnails == 0:
        return page.note("no thumbnails (thumbnails=0)")
    groups: list[tuple[str, str, list[int]]] = []
    if stats is not None and membership is not None:
        for c, name in enumerate(stats.label_encoder.classes):
            members = np.flatnonzero(membership[:, c] & readable)
            chosen = context.rng.permutation(members)[: context.thumbnails]
            groups.append(
                (str(name), plural(int(membership[:, c].sum()), "sample"), sorted(chosen.tolist()))
            )
    unlabelled = np.flatnonzero(
        readable
        & ~(membership.any(axis=1) if membership is not None else np.zeros(len(readable), bool))
    )
    if len(unlabelled):
        chosen = context.rng.permutation(unlabelled)[: context.thumbnails * (1 if groups else 4)]
        groups.append(("no label", plural(len(unlabelled), "sample"), sorted(chosen.tolist())))
    pictures = context.pictures([g for _, _, rows in groups for g in rows])
    html = []
    for name, count, rows in groups:
        cells = "".join(_thumb(context, g, pictures[g]) for g in rows)
        html.append(
            f'<div class="class-row" data-class="{page.esc(name)}"><div class="name">{page.esc(name)}'
            f'<span>{page.esc(count)}</span></div><div class="grid">{cells}</div></div>'
        )
    seeded = page.note(
        f"up to {context.thumbnails} per class, drawn with seed {context.seed}; hover for the row"
    )
    return seeded + "".join(html)


def _thumb(context: _Context, g: int, uri: str | None) -> str:
    ref = context.ref(g)
    caption = ref.id if ref.id is not None else ref.line
    title = f"{ref.split}, {ref.line}, id {ref.id}, {ref.path}"
    return page.thumb(uri, f"{ref.split}: {caption}", title)


def _images(context: _Context, images: npt.NDArray[np.bool_]) -> str:
    widths = {}
    heights = {}
    for k, split in enumerate(context.splits):
        mask = images & (context.split_of == k)
        widths[split.name] = context.scan.widths[mask]
        heights[split.name] = context.scan.heights[mask]
    svg = charts.image_sizes(widths, heights)
    sizes = Counter(
        zip(context.scan.heights[images].tolist(), context.scan.widths[images].tolist())
    )
    rows = [
        [f"{h} x {w}", f"{n:,}", f"{n / images.sum():.1%}"] for (h, w), n in sizes.most_common(10)
    ]
    table = page.table(["height x width", "images", "share"], rows, numeric=(1, 2))
    flat = int((images & (context.scan.detail < MIN_DETAIL)).sum())
    extra = page.note(f"{flat:,} images are nearly uniform (little detail)") if flat else ""
    return (
        page.figure(
            svg,
            f"{plural(int(images.sum()), 'image')}, {plural(len(sizes), 'distinct size')}",
            "sizes",
        )
        + f"<h3>Most common sizes</h3>{table}{extra}"
    )


def _arrays(context: _Context) -> str:
    rows = [
        [f"({', '.join(map(str, shape))})", dtype, f"{n:,}"]
        for (shape, dtype), n in context.scan.arrays.most_common(20)
    ]
    table = page.table(["shape", "dtype", "files"], rows, numeric=(2,))
    html = f"<h3>Shapes</h3>{table}"
    if context.scan.values:
        values = np.concatenate(context.scan.values)
        finite = values[np.isfinite(values)]
        caption = (
            f"values of {len(context.scan.values)} sampled arrays: min {finite.min():.4g}, "
            f"mean {finite.mean():.4g}, max {finite.max():.4g}"
            if len(finite)
            else "no finite values in the sampled arrays"
        )
        html += page.figure(charts.value_histogram(values), caption, "values")
    return html


def _files(context: _Context) -> str:
    sizes = {
        split.name: context.scan.sizes[(context.split_of == k) & (context.scan.sizes >= 0)]
        for k, split in enumerate(context.splits)
    }
    every = np.concatenate(list(sizes.values()))
    caption = (
        f"{len(every):,} files: median {charts.readable_bytes(float(np.median(every)))}, largest {charts.readable_bytes(int(every.max()))}"
        if len(every)
        else "no file could be read"
    )
    return page.figure(charts.file_sizes(sizes), caption, "file-sizes")


def _problems(report: DataReport) -> str:
    every = [(name, p) for name, problems in report.problems.items() for p in problems]
    if not every:
        return page.note("validate_manifest(..., deep=True) found no problem.")
    kinds = Counter(problem_kind(p.message) for _, p in every)
    by_kind = page.table(
        ["problem", "rows"], [[k, f"{n:,}"] for k, n in kinds.most_common()], numeric=(1,)
    )
    rows = [
        [name, p.line or "", p.id or "", p.path or "", p.message] for name, p in every[:MAX_SHOWN]
    ]
    table = page.table(
        ["split", "line", "id", "path", "problem"], rows, row_class="problem", path=(3,)
    )
    more = (
        page.note(f"the first {MAX_SHOWN} of {len(every):,} shown")
        if len(every) > MAX_SHOWN
        else ""
    )
    return f"<h3>By kind</h3>{by_kind}<h3>Every problem</h3>{table}{more}"


def _duplicates(context: _Context, report: DataReport) -> str:
    across = [g for g in report.exact_duplicates if g.across]
    within = [g for g in report.exact_duplicates if not g.across]
    shown_rows = [
        *[s for g in across[:MAX_SHOWN] for s in g.samples],
        *[s for g in within[:MAX_SHOWN] for s in g.samples],
        *[s for p in report.near_duplicates[:MAX_SHOWN] for s in (p.first, p.second)],
    ]
    index = {s.name: int(context.offsets[k]) for k, s in enumerate(context.splits)}
    pictures = context.pictures([index[s.split] + s.row for s in shown_rows])

    def picture(s: SampleRef) -> str:
        uri = pictures.get(index[s.split] + s.row)
        return page.thumb(uri, s.id or s.line, f"{s.split}, {s.line}, {s.path}")

    def group_rows(groups: list[DuplicateGroup], kind: str) -> str:
        rows = []
        for n, g in enumerate(groups[:MAX_SHOWN], 1):
            members = "<br>".join(
                f"<b>{page.esc(s.split)}</b> {page.esc(s.line)}, id {page.esc(s.id)}, "
                f"label {page.esc(s.label)}<br><code>{page.esc(s.path)}</code>"
                for s in g.samples
            )
            rows.append([str(n), picture(g.samples[0]), members, ", ".join(g.splits)])
        if not rows:
            return page.note("none found")
        more = (
            page.note(f"the first {MAX_SHOWN} of {len(groups):,} groups shown")
            if len(groups) > MAX_SHOWN
            else ""
        )
        return (
            page.table(
                ["#", "picture", "rows with the same bytes", "splits"],
                rows,
                raw=(1, 2),
                row_class=kind,
            )
            + more
        )

    near_rows = []
    for n, p in enumerate(report.near_duplicates[:MAX_SHOWN], 1):
        near_rows.append(
            [
                str(n),
                picture(p.first),
                f"<b>{page.esc(p.first.split)}</b> {page.esc(p.first.line)}, id {page.esc(p.first.id)}, "
                f"label {page.esc(p.first.label)}<br><code>{page.esc(p.first.path)}</code>",
                picture(p.second),
                f"<b>{page.esc(p.second.split)}</b> {page.esc(p.second.line)}, id {page.esc(p.second.id)}, "
                f"label {page.esc(p.second.label)}<br><code>{page.esc(p.second.path)}</code>",
                f"{p.difference:.1f}",
            ]
        )
    near = (
        page.table(
            ["#", "first", "row", "second", "row", "difference"],
            near_rows,
            raw=(1, 2, 3, 4),
            numeric=(5,),
            row_class="leak-near",
        )
        if near_rows
        else page.note("none found")
    )
    method = page.note(
        "Exact: the same bytes (BLAKE2b). Near: two images whose 32x32 grayscale low "
        f"frequencies agree (cosine >= {CANDIDATE_COSINE}), whose 4x4 grids of colours differ by "
        f"at most {MAX_COLOUR_GAP:g} of 255, and whose colour pixels at 48x48 differ by at most "
        f"{MAX_DIFFERENCE:g} of 255 on average with grayscale patterns correlated by at least "
        f"{MIN_CORRELATION:g}, one of them cropped by up to 5% on each side to undo a slight "
        "crop: re-encoded, resized or slightly cropped copies. Nearly uniform images are not "
        "compared."
        + (
            " Too many look-alikes to check them all: the closest were checked."
            if context.candidates_capped
            else ""
        )
    )
    return (
        f'<h3 id="exact-across">The same file in two splits (leaks): {len(across):,}</h3>'
        + group_rows(across, "leak-exact")
        + f'<h3 id="near-across">Near copies in two splits (leaks): {len(report.near_duplicates):,}</h3>'
        + near
        + f'<h3 id="exact-within">The same file twice in one split: {len(within):,}</h3>'
        + group_rows(within, "dup-exact")
        + method
    )


def _provenance(command: str | None, seconds: float) -> str:
    from importlib import metadata

    versions = []
    for package in ("kdataset", "numpy", "pandas", "pillow", "simplejpeg", "matplotlib"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    shown = command if command is not None else shlex.join(["python", *sys.argv])
    return (
        f'<div id="provenance">Made by <code>{page.esc(shown)}</code> in {seconds:.1f} s on '
        f"Python {page.esc(platform.python_version())} ({page.esc(platform.platform())}); "
        f"{page.esc(', '.join(versions))}.</div>"
    )
