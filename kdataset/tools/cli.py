"""The `kdataset` command: build, validate, describe and split manifests, save their classes,
and fill a dataset's cache ahead of training.

Every command prints tables with rich; an error is one line on stderr (exit 1),
never a traceback.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import sys
import typing
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from kdataset import __version__
from kdataset.errors import ManifestError, plural
from kdataset.labels.encoding import LabelEncoder
from kdataset.loading.imaging import COLOR_MODES
from kdataset.loading.loaders import ImageLoader, Interpolation, LoaderSpec
from kdataset.tools.build import build_manifest, check_directory
from kdataset.tools.cache import build_cache
from kdataset.tools.split import SplitWarning, split_manifest
from kdataset.tools.stats import LabelStats, label_stats
from kdataset.tools.validate import problem_kind, validate_manifest

if TYPE_CHECKING:  # rich is imported when a command prints
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

_EPILOG = "Run `kdataset COMMAND --help` for the options of a command."
_MAX_ROWS = 20
_MAX_KINDS = 5
# A Python argument name as messages write it: `name`, `name=...`, or name= after
# "Received: " or ", ".
_ARGUMENT = re.compile(r"(?<=`)(\w+)(?=[`=])|(?:(?<=Received: )|(?<=, ))(\w+)(?==)")


def _add_label_options(parser: argparse.ArgumentParser, modes: bool = True) -> None:
    group = parser.add_argument_group("labels")
    group.add_argument(
        "--label-column",
        default="label",
        metavar="COLUMN",
        help="column of labels (default: label)",
    )
    group.add_argument(
        "--label-columns",
        metavar="A,B,...",
        help="0/1 columns, one per class, for multi-hot labels (instead of --label-column)",
    )
    group.add_argument(
        "--label-separator",
        metavar="SEP",
        help="split each label cell on SEP: multi-label ('|' for 'cat|dog')",
    )
    if modes:
        group.add_argument(
            "--label-mode",
            choices=["int", "categorical", "binary", "multi_hot"],
            help="as in ManifestDataset (default: categorical, or multi_hot with a separator or columns)",
        )
        group.add_argument(
            "--classes", metavar="JSON", help="a classes file written by `kdataset classes`"
        )


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("files")
    group.add_argument(
        "--id-column", default="id", metavar="COLUMN", help="column of sample ids (default: id)"
    )
    group.add_argument(
        "--path-column",
        metavar="COLUMN",
        help="column of file paths (default: 'path', if there is one)",
    )
    group.add_argument(
        "--path-template", metavar="TEMPLATE", help="paths made from each row, e.g. 'data/{id}.npy'"
    )
    group.add_argument(
        "--root-dir",
        metavar="DIR",
        help="folder relative paths resolve against (default: the manifest's)",
    )
    group.add_argument(
        "--loader",
        default="auto",
        choices=["auto", "npy", "image"],
        help="how files are read (default: auto, by extension)",
    )


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "images", "as kd.ImageLoader's arguments; any of them loads the files as images"
    )
    group.add_argument(
        "--image-size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="resize every image to H x W (default: keep sizes)",
    )
    group.add_argument("--color-mode", choices=list(COLOR_MODES), help="(default: rgb)")
    group.add_argument(
        "--interpolation", choices=typing.get_args(Interpolation), help="(default: bilinear)"
    )
    group.add_argument(
        "--crop-to-aspect-ratio", action="store_true", help="crop to H:W before resizing"
    )
    group.add_argument(
        "--pad-to-aspect-ratio", action="store_true", help="pad to H:W after resizing"
    )
    group.add_argument(
        "--antialias", action="store_true", help="reduced JPEG decode and area resize"
    )
    group.add_argument(
        "--dtype",
        choices=["float32", "uint8"],
        help="the pixels' dtype (default: float32)",
    )


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "object storage", "for a manifest or files at a URL (s3://, gs://, any fsspec URL)"
    )
    group.add_argument(
        "--storage-option",
        action=_StorageOption,
        dest="storage_options",
        metavar="KEY=VALUE",
        help="an option of the URL's fsspec filesystem, as in ManifestDataset(storage_options=...); "
        "repeat it for each option. VALUE is read as JSON when it parses (true, 3, {...}; True, "
        "False and None as Python's), else as text: --storage-option key=AKIA... --storage-option secret=... --storage-option "
        """'client_kwargs={"endpoint_url": "http://localhost:9000"}'""",
    )


# An option's name as fsspec spells them (`anon`, `client_kwargs`, `s3_additional_kwargs`), which an
# error may show; anything else given without `=` may be a secret pasted alone, and is not shown.
_OPTION_NAME = re.compile(r"[a-z_]+[0-9]?[a-z_]*")
_PYTHON_CONSTANTS = {"True": True, "False": False, "None": None}


def _shown_option(text: str) -> str:
    """`text` quoted when it is an option's name, else words that say it is not shown."""
    if len(text) <= 30 and _OPTION_NAME.fullmatch(text):
        return repr(text)
    return "(not shown: it may hold a secret)"


class _StorageOption(argparse.Action):
    """`--storage-option KEY=VALUE`, repeatable: collects `{KEY: VALUE}` in `args.storage_options`.

    VALUE is read as JSON when it parses (`anon=true`, `client_kwargs={...}`), as Python's
    `True`, `False` and `None` (`anon=False` must not be the text "False", which is true), else
    kept as text. A malformed option is a usage error (exit 2) that shows no secret.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        key, equals, raw = text.partition("=")
        key = key.strip()
        if not equals or not key:
            raise argparse.ArgumentError(
                self,
                "expected KEY=VALUE, such as anon=true or secret=... "
                f"Received: {_shown_option(text)}",
            )
        options: dict[str, Any] = dict(getattr(namespace, self.dest, None) or {})
        if key in options:
            raise argparse.ArgumentError(self, f"{_shown_option(key)} is given twice")
        if raw in _PYTHON_CONSTANTS:
            value: Any = _PYTHON_CONSTANTS[raw]
        else:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as e:
                if raw.lstrip()[:1] in ("{", "["):
                    raise argparse.ArgumentError(
                        self,
                        f"the value of {_shown_option(key)} starts as JSON but does not parse "
                        f"({e.msg}, at character {e.pos}): write JSON, with double quotes, such "
                        """as 'client_kwargs={"endpoint_url": "http://localhost:9000"}'""",
                    ) from None
                value = raw
        options[key] = value
        setattr(namespace, self.dest, options)


def _workers(value: str) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {value!r}")
    return workers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdataset",
        description="Build, check, describe and split CSV manifests (one row per sample) for "
        "Keras training.",
        epilog=_EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"kdataset {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="list every problem of a manifest; exit 1 if there is any",
        description="Check a manifest as ManifestDataset would: columns, ids, labels, that every "
        "file exists and that the first sample loads (with --deep: that every sample loads with one "
        "shape and dtype; images of mixed sizes need --image-size H W, as the dataset needs "
        "image_size). Prints a table of problems and exits 1 if there are any, 0 when clean.",
    )
    validate.add_argument("manifest", help="the CSV file")
    _add_file_options(validate)
    _add_storage_options(validate)
    _add_image_options(validate)
    _add_label_options(validate)
    validate.add_argument(
        "--deep", action="store_true", help="load every sample, not just the first"
    )
    validate.add_argument(
        "--all",
        action="store_true",
        help=f"list every problem (default: the first {_MAX_ROWS}, then counts per kind)",
    )

    stats = commands.add_parser(
        "stats",
        help="class counts and imbalance, as a table",
        description="Count the samples of each class (a sample counts for each of its classes when "
        "labels are multi-label) and show the imbalance ratio (largest class / smallest).",
    )
    stats.add_argument("manifest", nargs="+", help="one or more CSV files (e.g. train.csv val.csv)")
    _add_label_options(stats, modes=False)

    classes = commands.add_parser(
        "classes",
        help="write the class list (a LabelEncoder file) of a manifest",
        description="Learn the classes of a manifest's labels (sorted, numerically for numbers) and "
        "write their text as JSON (never over a file without --force), to ship beside a model: "
        "kd.LabelEncoder.load(PATH), or ManifestDataset(..., classes=kd.LabelEncoder.load(PATH)).",
    )
    classes.add_argument("manifest", help="the CSV file")
    classes.add_argument(
        "-o", "--output", metavar="PATH", help="where to write (default: classes.json)"
    )
    classes.add_argument("--force", action="store_true", help="overwrite an existing file")
    _add_label_options(classes, modes=False)

    split = commands.add_parser(
        "split",
        help="split a manifest into train / val / test CSV files",
        description="Split a manifest into train.csv, val.csv and test.csv: disjoint, complete and "
        "the same for the same seed; stratified by a label column (multi-label with "
        "--label-separator) and with no group (a patient, a session) in two splits. Prints the rows "
        "and class counts per split.",
    )
    split.add_argument("manifest", help="the CSV file")
    split.add_argument(
        "--val", type=float, default=0.1, help="fraction for validation (default: 0.1)"
    )
    split.add_argument("--test", type=float, default=0.0, help="fraction for test (default: 0)")
    split.add_argument(
        "--stratify", metavar="COLUMN", help="keep the class proportions of COLUMN in each split"
    )
    split.add_argument(
        "--group", metavar="COLUMN", help="keep all rows of a COLUMN value in one split"
    )
    split.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    split.add_argument(
        "--label-separator", metavar="SEP", help="the stratify column is multi-label, split on SEP"
    )
    split.add_argument(
        "--out", metavar="DIR", help="folder for the CSV files (default: the manifest's folder)"
    )
    split.add_argument("--force", action="store_true", help="overwrite existing files")

    build = commands.add_parser(
        "build",
        help="write the manifest of a folder per class (image_dataset_from_directory's layout)",
        description="Index DIR as keras.utils.image_dataset_from_directory does (one subfolder "
        "per class, class names sorted as text, each class's files found in its subfolders too, "
        "in Keras's order; files directly in DIR are left out, as Keras leaves them out) and "
        "write a manifest (id, label, path; paths relative to the manifest's folder), with "
        "classes.json (or, for -o NAME.csv, NAME.classes.json) beside it: Keras's class order, "
        "for ManifestDataset(..., classes=kd.LabelEncoder.load('classes.json')) or --classes.",
    )
    build.add_argument("directory", metavar="DIR", help="a folder with one subfolder per class")
    build.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="the manifest to write (default: manifest.csv, with classes.json beside it); the "
        "classes of -o photos.csv go to photos.classes.json beside it",
    )
    build.add_argument(
        "--formats",
        metavar=".JPG,.PNG",
        help="file extensions to index, in any case "
        "(default: image_dataset_from_directory's .bmp,.gif,.jpeg,.jpg,.png)",
    )
    build.add_argument(
        "--follow-links",
        action="store_true",
        help="walk into subfolders that are symbolic links",
    )
    build.add_argument("--force", action="store_true", help="overwrite existing files")

    cache = commands.add_parser(
        "cache",
        help="fill a dataset's cache ahead of training, on every core (resumable)",
        description="Load every sample of a manifest into the packed cache that "
        "ManifestDataset(MANIFEST, cache=PATH, ...) opens with the same file options and loader, "
        "so training reads no sample file. Loads on every core with a progress bar. Run again "
        "after a stop (Ctrl-C, a kill), it goes on where it stopped; a cache of other files or "
        "another loader is started clean. Exits 1 if a sample does not load (it is left out of "
        "the cache).",
    )
    cache.add_argument("manifest", help="the CSV file")
    cache.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="PATH",
        help="the cache file, as given to ManifestDataset(cache=PATH)",
    )
    _add_file_options(cache)
    _add_storage_options(cache)
    _add_image_options(cache)
    cache.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        metavar="N",
        help="loading threads (default: auto: one per core, up to 8, for loaders that work "
        "outside the GIL)",
    )
    report = commands.add_parser(
        "report",
        help="write one offline HTML page: classes, samples, problems, duplicates and leaks",
        description="Read every split's manifest and every file once, and write one "
        "self-contained HTML page (no network, no file beside it): rows, classes and bytes per "
        "split; class counts as bars, splits side by side, with the imbalance ratio; labels "
        "that go together; a seeded sample of thumbnails per class; image sizes and aspect "
        "ratios; file sizes; every problem of `validate --deep`; the same file twice within a "
        "split and across splits, and near copies of an image (re-encoded, resized, slightly "
        "cropped) across splits. Charts need matplotlib: pip install 'kdataset[report]'.",
    )
    report.add_argument(
        "manifest", nargs="+", help="the splits' CSV files, named by file (train.csv val.csv ...)"
    )
    report.add_argument(
        "-o",
        "--output",
        default="report.html",
        metavar="PATH",
        help="the HTML file to write, replaced if it exists (default: report.html)",
    )
    _add_file_options(report)
    _add_storage_options(report)
    _add_image_options(report)
    _add_label_options(report, modes=False)
    report.add_argument(
        "--thumbnails",
        type=int,
        default=8,
        metavar="N",
        help="thumbnails per class (default: 8)",
    )
    report.add_argument(
        "--seed", type=int, default=0, help="seed of the thumbnails' sample (default: 0)"
    )
    report.add_argument(
        "--workers",
        type=_workers,
        default="auto",
        metavar="N",
        help="threads that read files (default: auto: one per core)",
    )
    return parser


class _Failure(Exception):
    """An error to print as one line."""


def _flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """`{dest: flag}` of a command's options, e.g. `path_template` -> `--path-template`."""
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    flags = {}
    for action in commands.choices[command]._actions:
        long = [s for s in action.option_strings if s.startswith("--")]
        if long:
            flags[action.dest] = long[0]
    return flags


def _to_flags(message: str, flags: Mapping[str, str]) -> str:
    """`message` with the Python argument names it holds written as the flags the user typed."""
    return _ARGUMENT.sub(lambda m: flags.get(m.group(0), m.group(0)), message)


def _console() -> Console:
    from rich.console import Console

    # Piped output is not cut to 80 columns: files and CI logs read better whole.
    width = None if sys.stdout.isatty() else 200
    return Console(width=width, highlight=False, soft_wrap=True)


def _label_column(args: argparse.Namespace) -> str | list[str]:
    if args.label_columns:
        return [c.strip() for c in args.label_columns.split(",") if c.strip()]
    column: str = args.label_column
    return column


def _storage_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """The `--storage-option`s as `storage_options=`, or `None` when none was given."""
    options: dict[str, Any] | None = args.storage_options
    return dict(options) if options else None


def _dataset_kwargs(args: argparse.Namespace) -> dict[str, object]:
    label_column = _label_column(args)
    mode = args.label_mode
    if mode is None:
        multi = isinstance(label_column, list) or args.label_separator is not None
        mode = "multi_hot" if multi else "categorical"
    classes = None
    if args.classes:
        classes = LabelEncoder.load(args.classes)
    return {
        "id_column": args.id_column,
        "label_column": label_column,
        "path_column": args.path_column,
        "path_template": args.path_template,
        "root_dir": args.root_dir,
        "loader": _loader(args),
        "label_mode": mode,
        "label_separator": args.label_separator,
        "classes": classes,
    }


def _run_validate(args: argparse.Namespace) -> int:
    from rich.table import Table

    problems = validate_manifest(
        args.manifest,
        deep=args.deep,
        progress=sys.stderr.isatty(),
        storage_options=_storage_options(args),
        **_dataset_kwargs(args),
    )
    console = _console()
    if not problems:
        console.print(f"{args.manifest}: no problems found.")
        return 0
    # Problems of the whole manifest (a missing column, the likely cause of missing files) first.
    problems = sorted(problems, key=lambda p: p.line is not None)
    messages = [_to_flags(p.message, args.flags) for p in problems]
    table = Table(title=f"{plural(len(problems), 'problem')} in {args.manifest}")
    for name in ("where", "id", "column", "path", "problem"):
        table.add_column(name, overflow="fold")
    shown = len(problems) if args.all else _MAX_ROWS
    for p, message in zip(problems[:shown], messages):
        table.add_row(p.line or "", p.id or "", p.column or "", p.path or "", message)
    console.print(table)
    kinds = [problem_kind(message) for message in messages]
    hidden = kinds[shown:]
    if hidden:
        console.print(
            f"... and {plural(len(hidden), 'more problem')} ({_kinds(hidden)}); "
            "pass --all to list every one"
        )
    if len(set(kinds)) > 1:
        console.print(f"problems by kind: {_kinds(kinds)}")
    return 1


def _kinds(messages: Iterable[str]) -> str:
    """Counts per message, most common first: `"1,237 'file not found', 3 'empty label'"`."""
    counts = collections.Counter(messages).most_common()
    shown = [f"{n:,} {message!r}" for message, n in counts[:_MAX_KINDS]]
    if len(counts) > _MAX_KINDS:
        rest = sum(n for _, n in counts[_MAX_KINDS:])
        shown.append(f"{rest:,} in {len(counts) - _MAX_KINDS:,} other kinds")
    return ", ".join(shown)


def _stats_table(stats: LabelStats, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("class")
    for column in stats.table.columns:
        table.add_column(str(column), justify="right")
    for name, row in stats.table.iterrows():
        table.add_row(str(name), *[str(int(v)) for v in row])
    return table


def _run_stats(args: argparse.Namespace) -> int:
    manifests = (
        {os.path.basename(m): m for m in args.manifest}
        if len(args.manifest) > 1
        else args.manifest[0]
    )
    stats = label_stats(
        manifests, label_column=_label_column(args), label_separator=args.label_separator
    )
    console = _console()
    console.print(_stats_table(stats, title="samples per class"))
    console.print(stats.summary())
    return 0


def _run_classes(args: argparse.Namespace) -> int:
    stats = label_stats(
        args.manifest, label_column=_label_column(args), label_separator=args.label_separator
    )
    output = args.output or "classes.json"
    if os.path.exists(output) and os.path.samefile(output, args.manifest):
        raise _Failure(
            f"refusing to overwrite the manifest {args.manifest!r} with the classes file"
        )
    _refuse_overwrite(output, args.force, "" if args.output else "-o PATH")
    # The labels' text, as the CSV holds it (CSV labels that are all integers are read as
    # ints): the dataset matches classes given as text against the CSV's text.
    encoder = LabelEncoder(
        classes=[str(c) for c in stats.label_encoder.classes],
        multi_label=stats.label_encoder.multi_label,
        separator=stats.label_encoder.separator,
    )
    encoder.save(output)
    _console().print(
        f"{encoder.num_classes} classes written to {output}: {', '.join(map(str, encoder.classes))}"
    )
    return 0


def _run_split(args: argparse.Namespace) -> int:
    out = args.out or os.path.dirname(os.path.abspath(args.manifest))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SplitWarning)
        splits = split_manifest(
            args.manifest,
            val=args.val,
            test=args.test,
            stratify=args.stratify,
            group=args.group,
            seed=args.seed,
            label_separator=args.label_separator,
        )
    for w in caught:
        if issubclass(w.category, SplitWarning):
            print(f"kdataset split: warning: {w.message}", file=sys.stderr)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    names = [n for n in ("train", "val", "test") if n != "test" or args.test > 0]
    paths = {n: os.path.join(out, f"{n}.csv") for n in names}
    source = os.path.abspath(args.manifest)
    for name, path in paths.items():
        if os.path.abspath(path) == source:
            raise _Failure(
                f"the {name} split would overwrite the manifest {args.manifest!r}: pass --out DIR"
            )
        _refuse_overwrite(path, args.force, "" if args.out else "--out DIR")
    os.makedirs(out, exist_ok=True)
    for name, path in paths.items():
        splits[name].to_csv(path, index=False)
    console = _console()
    rows = ", ".join(f"{n} {len(splits[n])}" for n in names)
    console.print(f"rows: {rows} (of {sum(len(f) for f in splits.values())}), written to {out}")
    if args.stratify:
        stats = label_stats(
            {n: splits[n] for n in names},
            label_column=args.stratify,
            label_separator=args.label_separator,
        )
        console.print(
            _stats_table(stats, title=f"samples per class of {args.stratify!r}, per split")
        )
    if os.path.abspath(out) != os.path.dirname(source) and _has_relative_paths(splits["train"]):
        console.print(
            "note: relative paths in the split files resolve against their new folder; "
            f"pass root_dir={os.path.dirname(source)!r} to ManifestDataset (or --root-dir)."
        )
    return 0


def _refuse_overwrite(path: str, force: bool, other: str) -> None:
    """A `_Failure` if `path` exists and `--force` was not given; `other` is the flag that
    writes elsewhere, or `""` when the user already gave it."""
    if os.path.exists(path) and not force:
        elsewhere = f", or {other}" if other else ""
        raise _Failure(f"{path} exists: pass --force to overwrite it{elsewhere}")


def _has_relative_paths(frame: pd.DataFrame) -> bool:
    """Whether a column of `frame` holds relative file paths (`data/0001.npy`), which resolve
    against the manifest's folder."""
    for column in frame.columns:
        values = [v for v in frame[column].tolist()[:100] if isinstance(v, str)]
        if any(
            ("/" in v or os.sep in v) and not os.path.isabs(v) and "://" not in v for v in values
        ):
            return True
    return False


def _run_build(args: argparse.Namespace) -> int:
    from rich.table import Table

    check_directory(args.directory)  # a missing folder is the error, before any file in the way
    given = args.output is not None
    shown = args.output if given else "manifest.csv"
    output = os.path.abspath(shown)
    folder = os.path.dirname(output)
    # `-o photos.csv` keeps its classes in photos.classes.json, so that manifests of several
    # folders can share a folder; the default manifest.csv keeps them in classes.json.
    name = (
        f"{os.path.splitext(os.path.basename(shown))[0]}.classes.json" if given else "classes.json"
    )
    classes_path = os.path.join(folder, name)
    shown_classes = os.path.join(os.path.dirname(shown), name)
    for path in (shown, shown_classes):
        _refuse_overwrite(path, args.force, "" if given else "-o PATH")
    formats = None
    if args.formats is not None:
        formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = build_manifest(
            args.directory, formats=formats, follow_links=args.follow_links, relative_to=folder
        )
    for w in caught:
        if w.category is UserWarning:
            print(
                f"kdataset build: warning: {_to_flags(str(w.message), args.flags)}", file=sys.stderr
            )
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    classes = frame.attrs["classes"]
    os.makedirs(folder, exist_ok=True)
    frame.to_csv(output, index=False)
    LabelEncoder(classes=classes).save(classes_path)

    counts = frame["label"].value_counts()
    table = Table(title=f"files per class in {args.directory}")
    table.add_column("index", justify="right")
    table.add_column("class")
    table.add_column("files", justify="right")
    for index, name in enumerate(classes):
        table.add_row(str(index), name, f"{int(counts.get(name, 0)):,}")
    console = _console()
    console.print(table)
    kinds = plural(len(classes), "class", "classes")
    console.print(
        f"{plural(len(frame), 'file')} in {kinds} written to {shown} (paths relative to its folder)"
    )
    learned = LabelEncoder().fit(classes).classes
    differs = (
        f"; without it kdataset sorts these numerically ({', '.join(map(str, learned[:5]))}"
        f"{', ...' if len(learned) > 5 else ''})"
        if [str(c) for c in learned] != classes
        else ""
    )
    console.print(
        f"class order (image_dataset_from_directory's) written to {shown_classes}: pass "
        f"classes=kd.LabelEncoder.load({shown_classes!r}) to ManifestDataset to keep it{differs}"
    )
    command = ["kdataset", "validate", shown, "--classes", shown_classes]
    console.print(f"next: {shlex.join(command)}")
    return 0


def _loader(args: argparse.Namespace) -> LoaderSpec:
    """`--loader`, or the `ImageLoader` the image options make."""
    image: dict[str, Any] = {}
    if args.image_size is not None:
        image["image_size"] = tuple(args.image_size)
    for name in ("color_mode", "interpolation", "dtype"):
        if getattr(args, name) is not None:
            image[name] = getattr(args, name)
    for name in ("crop_to_aspect_ratio", "pad_to_aspect_ratio", "antialias"):
        if getattr(args, name):
            image[name] = True
    loader: LoaderSpec = args.loader
    if not image:
        return loader
    if loader == "npy":
        given = ", ".join(args.flags[name] for name in image)
        raise _Failure(f"{given} shape images: they do not apply to --loader npy")
    return ImageLoader(**image)  # checked there


def _run_cache(args: argparse.Namespace) -> int:
    existed = os.path.exists(args.output + ".json")
    report = build_cache(
        args.manifest,
        args.output,
        id_column=args.id_column,
        path_column=args.path_column,
        path_template=args.path_template,
        root_dir=args.root_dir,
        storage_options=_storage_options(args),
        loader=_loader(args),
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    console = _console()
    if report.resumed:
        console.print(
            f"resumed: {report.already:,} of {report.samples:,} samples were already in the cache"
        )
    elif report.started_clean and existed:
        console.print(
            "started clean: the cache there was of other files, another loader or another "
            "sample shape"
        )
    shape = "x".join(map(str, report.shape)) or "scalar"
    rate = report.written / report.seconds if report.seconds > 0 else 0.0
    console.print(
        f"{plural(report.samples, 'sample')} of {shape} {report.dtype} in {report.path} "
        f"({report.nbytes:,} bytes): {report.written:,} written in {report.seconds:.1f} s "
        f"({rate:,.0f} samples/s)"
    )
    if report.failed:
        print(
            f"kdataset cache: error: {plural(len(report.failed), 'sample')} did not load and "
            f"{'is' if len(report.failed) == 1 else 'are'} not in the cache; the first: "
            f"{report.failed[0]} (kdataset validate --deep lists them all)",
            file=sys.stderr,
        )
        return 1
    console.print(
        f"complete: ManifestDataset({args.manifest!r}, cache={args.output!r}, ...) with the same "
        "file options and loader reads no sample file"
    )
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from kdataset.io.storage import redact
    from kdataset.tools.report.writing import write_report

    output = os.path.abspath(args.output)
    for manifest in args.manifest:
        if os.path.exists(manifest) and os.path.abspath(manifest) == output:
            raise _Failure(f"refusing to overwrite the manifest {manifest!r} with the report")
    label_column = _label_column(args)
    storage_options = _storage_options(args)
    report = write_report(
        args.manifest,
        args.output,
        id_column=args.id_column,
        label_column=label_column,
        label_separator=args.label_separator,
        path_column=args.path_column,
        path_template=args.path_template,
        root_dir=args.root_dir,
        loader=_loader(args),
        thumbnails=args.thumbnails,
        seed=args.seed,
        storage_options=storage_options,
        workers=args.workers,
        progress=sys.stderr.isatty(),
        # The page shows the command, never a secret given in it.
        command=redact(shlex.join(["kdataset", *args.argv]), storage_options),
    )
    console = _console()
    console.print(report.summary())
    size = os.path.getsize(report.path)
    console.print(
        f"written to {args.output} ({size / 1e6:.1f} MB) in {report.seconds:.1f} s: open it in "
        "any browser"
    )
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _run_validate,
    "stats": _run_stats,
    "classes": _run_classes,
    "split": _run_split,
    "build": _run_build,
    "cache": _run_cache,
    "report": _run_report,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line.

    Args:
        argv: The arguments after `kdataset`; `None` reads `sys.argv`.

    Returns:
        The exit code: 0 on success, 1 for an error or a manifest with problems,
        2 for a usage error (such as no command), 130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.flags = _flags(parser, args.command)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _COMMANDS[args.command](args)
    except ManifestError as e:
        count = len(e.problems)
        first = e.problems[0] if e.problems else ""
        extra = f" (and {count - 1:,} more)" if count > 1 else ""
        message = f"{first}{extra}"
    except (_Failure, ValueError, TypeError, OSError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
    except KeyboardInterrupt:
        print(f"kdataset {args.command}: interrupted", file=sys.stderr)
        return 130
    print(f"kdataset {args.command}: error: {_to_flags(message, args.flags)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
