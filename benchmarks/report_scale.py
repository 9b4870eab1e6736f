"""What `kd.write_report` costs at scale: 100,000 JPEGs of 64x64, in time and memory.

The goal (the report's issue): 100,000 images of 64x64 reported in under a
minute on 2 cores, every file hashed and thumbnails sampled, with memory
bounded.

Makes the set once in `--data` (later runs with the same arguments reuse it):
`--rows` rows in `train.csv` and `val.csv` (`id,label,path`, paths relative to
the CSVs, `img/<NN>/<id>.jpg`, 10,000 files a folder), each image a distinct
RGB JPEG of `--size` pixels (quality 90): a random background and a few random
filled ellipses and rectangles, seeded per image. Among the rows are planted
copies, the only duplicates in the set:

- 50 exact byte copies of train images in val (leaks: exact groups across splits);
- 20 exact byte copies of train images in train (exact groups within a split);
- 20 train images re-encoded at JPEG quality 60 in val (near copies across splits).

Their sources are distinct train images. The page cache is warmed first
(every file read once), so the time is the report's, not a cold disk's. The
report runs in a fresh process (`workers="auto"`: one thread per usable core,
no progress bars), so its memory is its own: the table gives the wall time of
`write_report`, the peak resident memory of that process (VmHWM) and its
resident memory before the report, after importing kdataset, NumPy, pandas,
Pillow and matplotlib (the baseline), so the growth is the report's. The second
table sets what the report found beside what was planted; the script exits 1
if a planted duplicate is missed, if anything not planted is flagged (every
group and pair must be exactly a planted one) or if `validate_manifest` finds
a problem.

How it grows: run it at two sizes and compare the seconds and the peak above
the baseline (generating 100,000 files takes about half a minute on 2 cores,
once):

    python benchmarks/report_scale.py                  # 100,000 rows
    python benchmarks/report_scale.py --rows 20000     # the same at a fifth
    python benchmarks/report_scale.py --rows 20000 --profile   # where the time goes
"""

import argparse
import io
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from rich.console import Console
from rich.table import Table

MB = 2**20
#: Planted copies: exact copies of train images in val, in train, and re-encoded ones in val.
LEAKS, WITHIN, NEAR = 50, 20, 20
FOLDER_FILES = 10_000

CHILD = r"""
import json, os, sys, time

def status(field):
    return int(open("/proc/self/status").read().split(field + ":")[1].split()[0]) * 1024

import matplotlib, matplotlib.figure, numpy, pandas, PIL.Image  # the baseline imports
import kdataset as kd
from kdataset.tools.report import writing  # noqa: F401  (loaded lazily by kd.write_report)

config = json.loads(sys.argv[1])
baseline = status("VmRSS")
workers = config["workers"] if config["workers"] == "auto" else int(config["workers"])
profiler = None
if config["profile"]:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
start = time.perf_counter()
report = kd.write_report(
    {"train": config["train"], "val": config["val"]},
    config["output"],
    progress=False,
    workers=workers,
)
seconds = time.perf_counter() - start
if profiler is not None:
    import pstats
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
result = {
    "seconds": seconds,
    "report_seconds": report.seconds,
    "baseline": baseline,
    "peak": status("VmHWM"),
    "files": report.files,
    "bytes": report.bytes,
    "rows": report.rows,
    "summary": report.summary(),
    "problems": [
        f"{split}: {p.line} {p.id} {p.path}: {p.message}"
        for split, problems in report.problems.items() for p in problems
    ],
    "exact": [[[s.split, s.id] for s in g.samples] for g in report.exact_duplicates],
    "near": [
        [[p.first.split, p.first.id], [p.second.split, p.second.id], p.difference]
        for p in report.near_duplicates
    ],
    "html": os.path.getsize(config["output"]),
}
print("RESULT " + json.dumps(result))
"""


# -- the data ---------------------------------------------------------------


def _path(i):
    return f"img/{i // FOLDER_FILES:02d}/{i:06d}.jpg"


def _picture(i, seed, size):
    """The JPEG bytes of image `i`: a random background and 3 to 6 random filled shapes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed + i)
    image = Image.new("RGB", (size, size), tuple(rng.integers(0, 256, 3).tolist()))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 7))):
        x, y = rng.integers(-size // 4, size, 2).tolist()
        w, h = rng.integers(size // 6, size // 2 + 1, 2).tolist()
        colour = tuple(rng.integers(0, 256, 3).tolist())
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape([x, y, x + w, y + h], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _write_pictures(task):
    folder, indices, seed, size = task
    written = 0
    for i in indices:
        data = _picture(i, seed, size)
        with open(os.path.join(folder, _path(i)), "wb") as f:
            f.write(data)
        written += len(data)
    return len(indices), written


def _plan(args):
    """Rows of each split, and the planted copies as `(kind, source row, copy row)`."""
    val = round(args.rows * args.val)
    train = args.rows - val
    if train < 2 * (LEAKS + WITHIN + NEAR) or val < 2 * (LEAKS + NEAR):
        raise SystemExit(
            f"Invalid `--rows`/`--val`: expected room for {LEAKS + WITHIN + NEAR} planted copies "
            f"in each split. Received: --rows {args.rows} --val {args.val}"
        )
    rng = np.random.default_rng(args.seed)
    within_copies = rng.choice(train, WITHIN, replace=False)
    val_copies = train + rng.choice(val, LEAKS + NEAR, replace=False)
    free = np.setdiff1d(np.arange(train), within_copies)
    sources = rng.choice(free, LEAKS + WITHIN + NEAR, replace=False)
    kinds = ["leak"] * LEAKS + ["near"] * NEAR + ["within"] * WITHIN
    copies = [*val_copies.tolist(), *within_copies.tolist()]
    planted = [(k, int(s), int(c)) for k, s, c in zip(kinds, sources.tolist(), copies)]
    return train, val, planted


def make_data(args, folder):
    """Writes the images and manifests into `folder`; returns the planted copies."""
    import pandas as pd
    from PIL import Image

    settings = {k: getattr(args, k) for k in ("rows", "val", "size", "classes", "seed")}
    marker = os.path.join(folder, "planted.json")
    if os.path.exists(marker):
        with open(marker) as f:
            saved = json.load(f)
        if saved["settings"] == settings and all(
            os.path.exists(os.path.join(folder, f"{s}.csv")) for s in ("train", "val")
        ):
            print(f"reusing the {args.rows:,} images in {folder}")
            return saved["planted"]
        os.remove(marker)

    train, _, planted = _plan(args)
    copied = {c for _, _, c in planted}
    for n in range((args.rows - 1) // FOLDER_FILES + 1):
        os.makedirs(os.path.join(folder, "img", f"{n:02d}"), exist_ok=True)
    todo = [i for i in range(args.rows) if i not in copied]
    tasks = [(folder, todo[k : k + 500], args.seed, args.size) for k in range(0, len(todo), 500)]
    processes = len(os.sched_getaffinity(0))
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        done = list(pool.imap_unordered(_write_pictures, tasks))
    for kind, source, copy in planted:
        source_path, copy_path = (os.path.join(folder, _path(i)) for i in (source, copy))
        if kind == "near":
            with Image.open(source_path) as image:
                image.save(copy_path, "JPEG", quality=60)
        else:
            shutil.copyfile(source_path, copy_path)
    seconds = time.perf_counter() - start
    written = sum(b for _, b in done)
    print(
        f"generated {args.rows:,} JPEGs of {args.size}x{args.size} ({written / MB:.0f} MB) in "
        f"{seconds:.1f} s on {processes} processes ({args.rows / seconds:,.0f} files/s)"
    )

    labels = np.random.default_rng(args.seed + 1).integers(0, args.classes, args.rows)
    for _, source, copy in planted:
        labels[copy] = labels[source]  # a copy keeps its label
    ids = [f"{i:06d}" for i in range(args.rows)]
    frame = pd.DataFrame({"id": ids, "label": labels, "path": [_path(i) for i in range(args.rows)]})
    frame.iloc[:train].to_csv(os.path.join(folder, "train.csv"), index=False)
    frame.iloc[train:].to_csv(os.path.join(folder, "val.csv"), index=False)
    planted_ids = [
        [kind, ids[source], "val" if copy >= train else "train", ids[copy]]
        for kind, source, copy in planted
    ]
    with open(marker, "w") as f:  # written last: the set is complete
        json.dump({"settings": settings, "planted": planted_ids}, f)
    return planted_ids


# -- the check --------------------------------------------------------------


def check(result, planted):
    """Rows of the check table, and whether it passed."""
    expected = {"leak": set(), "within": set(), "near": set()}
    for kind, source, split, copy in planted:
        expected[kind].add(frozenset({("train", source), (split, copy)}))
    planted_ids = {row for pairs in expected.values() for pair in pairs for row in pair}
    found = {"leak": set(), "within": set(), "near": set()}
    for group in result["exact"]:
        members = frozenset(map(tuple, group))
        found["leak" if len({s for s, _ in members}) > 1 else "within"].add(members)
    differences = {}
    for first, second, difference in result["near"]:
        pair = frozenset({tuple(first), tuple(second)})
        found["near"].add(pair)
        differences[pair] = difference

    names = {
        "leak": "exact groups across splits",
        "within": "exact groups within a split",
        "near": "near pairs across splits",
    }
    rows, passed = [], True
    for kind, name in names.items():
        hits = found[kind] & expected[kind]
        other = found[kind] - expected[kind]
        stray = [g for g in other if not g & planted_ids]
        passed &= len(hits) == len(expected[kind]) and not other
        rows.append(
            [name, len(expected[kind]), len(found[kind]), len(hits), len(other), len(stray)]
        )
    problems = len(result["problems"])
    rows.append(["problems (validate_manifest)", 0, problems, 0, problems, problems])
    return rows, passed and problems == 0, found, expected, differences


# -- running ----------------------------------------------------------------


def run_report(args, folder, output):
    config = {
        "train": os.path.join(folder, "train.csv"),
        "val": os.path.join(folder, "val.csv"),
        "output": output,
        "workers": args.workers,
        "profile": args.profile,
    }
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"the report's process failed (exit {out.returncode})")
    if args.profile:
        print(out.stderr)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["process_seconds"] = wall
    # ru_maxrss of the children (KB): the report's process, if it is the largest one reaped.
    result["ru_maxrss"] = after * 1024 if after > before else None
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of both splits")
    parser.add_argument("--val", type=float, default=0.2, help="share of the rows in val")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="folder of the set (made once, reused)")
    parser.add_argument("--output", default=None, help="the HTML page (default: in --data)")
    parser.add_argument("--workers", default="auto", help='threads of the report, or "auto"')
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25 (slower)")
    args = parser.parse_args()
    if not 0 < args.val < 1:
        raise SystemExit(f"Invalid `--val`: expected a share in (0, 1). Received: {args.val}")

    folder = args.data or os.path.join(
        tempfile.gettempdir(), f"kdataset-report-scale-{args.rows}-{args.size}"
    )
    os.makedirs(folder, exist_ok=True)
    output = args.output or os.path.join(folder, "report.html")
    planted = make_data(args, folder)

    _warm(folder)

    result = run_report(args, folder, output)
    rows = sum(result["rows"].values())
    cores = len(os.sched_getaffinity(0))
    console = Console(width=120)
    console.print(result["summary"])

    table = Table(
        title=f"kd.write_report: {rows:,} JPEGs of {args.size}x{args.size}, "
        f"workers={args.workers!r} on {cores} cores",
        caption="seconds: write_report's wall time (the process, imports included: "
        f"{result['process_seconds']:.1f} s); peak: VmHWM of the report's process; baseline: its "
        "resident memory after the imports, before the report"
        + (
            f"; ru_maxrss of the process: {result['ru_maxrss'] / MB:.0f} MB"
            if result["ru_maxrss"]
            else ""
        )
        + f"; the page: {result['html'] / MB:.1f} MB.",
    )
    for name in ["rows", "files", "MB read", "seconds", "rows/s", "peak MB", "baseline MB"]:
        table.add_column(name, justify="right")
    table.add_column("growth", justify="right")
    growth = result["peak"] - result["baseline"]
    table.add_row(
        f"{rows:,}",
        f"{result['files']:,}",
        f"{result['bytes'] / MB:,.0f}",
        f"{result['seconds']:.1f}",
        f"{rows / result['seconds']:,.0f}",
        f"{result['peak'] / MB:,.0f}",
        f"{result['baseline'] / MB:,.0f}",
        f"{growth / MB:,.0f} MB, {growth / rows:,.0f} B a row",
    )
    console.print(table)

    rows_checked, passed, found, expected, differences = check(result, planted)
    checked = Table(
        title="Found against planted",
        caption="exact: the found group or pair is a planted one; other: found, not planted "
        "(of them, stray: sharing no row with a planted copy).",
    )
    checked.add_column("")
    for name in ["planted", "found", "exact", "other", "stray"]:
        checked.add_column(name, justify="right")
    for row in rows_checked:
        checked.add_row(*map(str, row))
    console.print(checked)
    for kind in expected:
        other = sorted(found[kind] - expected[kind], key=sorted)
        for group in other[:10]:
            shown = f", difference {differences[group]:.1f}" if group in differences else ""
            console.print(f"not planted ({kind}): {sorted(group)}{shown}")
        if len(other) > 10:
            console.print(f"... and {len(other) - 10:,} more not planted ({kind})")
        missed = sorted(expected[kind] - found[kind], key=sorted)
        for group in missed[:10]:
            console.print(f"missed ({kind}): {sorted(group)}")
        if len(missed) > 10:
            console.print(f"... and {len(missed) - 10:,} more missed ({kind})")
    for problem in result["problems"][:10]:
        console.print(f"problem: {problem}")
    goal = result["seconds"] < 60
    console.print(
        f"goal, under a minute on 2 cores: {'met' if goal else 'not met'} "
        f"({result['seconds']:.1f} s on {cores}); duplicates: "
        f"{'all planted found, nothing else' if passed else 'CHECK FAILED'}"
    )
    if not passed:
        sys.exit(1)


def _warm(folder):
    """Reads every file once, so the timing is of the report, not of a cold disk."""
    for root, _, files in os.walk(os.path.join(folder, "img")):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                f.read()


if __name__ == "__main__":
    main()
