"""The report's charts, drawn by matplotlib as inline SVG (text kept as text).

matplotlib is the `report` extra (`pip install "kdataset[report]"`); figures
are made without pyplot, so nothing global changes and no window opens.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: Colours of the splits, in order (matplotlib's default cycle, colour-blind safe enough).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
#: Classes drawn as bars at most; beyond, the largest and smallest half of them each.
MAX_BARS = 60
#: Classes in the co-occurrence matrix at most (the most frequent).
MAX_MATRIX = 30
_DPI = 96


def readable_bytes(n: float) -> str:
    """`"512 bytes"`, `"2.1 KB"`, `"1.5 MB"` (powers of 1000)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.3g} {unit}"
        n /= 1000
    return f"{n:,.3g} TB"


def require_matplotlib() -> None:
    """Raises an `ImportError` saying how to install matplotlib, if it is not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            'kdataset report draws its charts with matplotlib: pip install "kdataset[report]"'
        ) from None


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def to_svg(figure: Figure) -> str:
    """The figure as an `<svg>` element, its text as text and its ids stable."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "kdataset"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def class_bars(table: pd.DataFrame) -> tuple[str, int]:
    """Grouped horizontal bars, one group per class and one bar per split (the columns of
    `table`), as SVG, and how many classes were left out of it (the middle ones)."""
    shown = table
    left_out = 0
    if len(table) > MAX_BARS:
        order = table.sum(axis=1).sort_values(ascending=False)
        keep = [*order.index[: MAX_BARS // 2], *order.index[-MAX_BARS // 2 :]]
        shown = table.loc[[c for c in table.index if c in set(keep)]]
        left_out = len(table) - len(shown)
    splits = list(shown.columns)
    rows = len(shown)
    figure = _figure(8, min(0.9 + rows * (0.16 + 0.1 * len(splits)), 40))
    axes = figure.add_subplot()
    height = 0.8 / max(1, len(splits))
    positions = np.arange(rows)
    for k, split in enumerate(splits):
        axes.barh(
            positions + (k - (len(splits) - 1) / 2) * height,
            shown[split].to_numpy(),
            height=height,
            label=str(split),
            color=COLORS[k % len(COLORS)],
        )
    axes.set_yticks(positions, [str(c) for c in shown.index])
    axes.invert_yaxis()
    axes.set_xlabel("samples")
    axes.grid(axis="x", alpha=0.3)
    if len(splits) > 1:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return to_svg(figure), left_out


def cooccurrence(matrix: npt.NDArray[np.int64], classes: Sequence[str]) -> str:
    """A heatmap of how often two classes label the same sample (the diagonal: how often
    each labels one), for the most frequent `MAX_MATRIX` classes."""
    if len(classes) > MAX_MATRIX:
        top = np.argsort(-np.diag(matrix), kind="stable")[:MAX_MATRIX]
        top.sort()
        matrix = matrix[np.ix_(top, top)]
        classes = [classes[i] for i in top]
    n = len(classes)
    side = min(2.5 + 0.35 * n, 12)
    figure = _figure(side + 1.2, side)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(n), classes, rotation=90)
    axes.set_yticks(range(n), classes)
    if n <= 15:
        limit = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                axes.text(
                    j,
                    i,
                    f"{int(matrix[i, j]):,}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if matrix[i, j] > limit else "black",
                )
    figure.colorbar(image, ax=axes, label="samples")
    return to_svg(figure)


def image_sizes(
    widths: Mapping[str, npt.NDArray[np.int32]], heights: Mapping[str, npt.NDArray[np.int32]]
) -> str:
    """Width against height of every image, per split, and a histogram of aspect ratios."""
    figure = _figure(10, 4)
    sizes, ratios = figure.subplots(1, 2)
    everything = np.concatenate([*widths.values(), np.zeros(0, np.int32)])
    many = len(everything) > 5_000
    for k, split in enumerate(widths):
        w, h = widths[split], heights[split]
        if len(w) == 0:
            continue
        color = COLORS[k % len(COLORS)]
        # Jittered a little so that many images of one size show as a cloud, not a dot.
        jitter = np.random.default_rng(k).uniform(-0.5, 0.5, (2, len(w))) if many else 0
        sizes.scatter(
            w + jitter[0] if many else w,  # type: ignore[index]
            h + jitter[1] if many else h,  # type: ignore[index]
            s=4 if many else 12,
            alpha=0.3 if many else 0.7,
            color=color,
            label=f"{split} ({len(w):,})",
            rasterized=len(w) > 20_000,
        )
    sizes.set_xlabel("width (pixels)")
    sizes.set_ylabel("height (pixels)")
    sizes.set_title("image sizes")
    sizes.legend(loc="best", markerscale=2)
    aspect = {
        split: widths[split] / np.maximum(heights[split], 1)
        for split in widths
        if len(widths[split])
    }
    if aspect:
        values = np.concatenate(list(aspect.values()))
        low, high = float(values.min()), float(values.max())
        if math.isclose(low, high):
            low, high = low - 0.05, high + 0.05
        bins = np.linspace(low, high, 31)
        for k, (split, value) in enumerate(aspect.items()):
            ratios.hist(value, bins=bins, alpha=0.6, color=COLORS[k % len(COLORS)], label=split)
        ratios.legend(loc="best")
    ratios.set_xlabel("aspect ratio (width / height)")
    ratios.set_ylabel("images")
    ratios.set_title("aspect ratios")
    return to_svg(figure)


def file_sizes(sizes: Mapping[str, npt.NDArray[np.int64]]) -> str:
    """A histogram of file sizes per split, on a logarithmic scale."""
    figure = _figure(7, 3.2)
    axes = figure.add_subplot()
    every = np.concatenate([s for s in sizes.values()] or [np.zeros(0, np.int64)])
    if len(every):
        low, high = max(1, int(every.min())), max(2, int(every.max()))
        if high <= low * 1.1:
            low, high = max(1, int(low / 1.2)), int(high * 1.2) + 1
        bins = np.geomspace(low, high, 41)
        for k, (split, values) in enumerate(sizes.items()):
            if len(values):
                axes.hist(
                    np.maximum(values, 1),
                    bins=bins,
                    alpha=0.6,
                    color=COLORS[k % len(COLORS)],
                    label=split,
                )
        axes.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator

        # Sizes as people read them (2 KB, 1.5 MB), on a few ticks even over a narrow range.
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda v, _: readable_bytes(v)))
        axes.legend(loc="best")
    axes.set_xlabel("file size (bytes)")
    axes.set_ylabel("files")
    return to_svg(figure)


def value_histogram(values: npt.NDArray[np.float64]) -> str:
    """A histogram of the values of the sampled arrays."""
    figure = _figure(7, 3.2)
    axes = figure.add_subplot()
    finite = values[np.isfinite(values)]
    if len(finite):
        axes.hist(finite, bins=50, color=COLORS[0])
    axes.set_xlabel("value")
    axes.set_ylabel("count (sampled)")
    return to_svg(figure)
