"""Finding the same file twice: exact copies (the same bytes) anywhere, and near copies of an
image (re-encoded, resized, slightly cropped) in two splits.

Near copies are found in three steps, each cheaper than the next is:

1. Every image has a unit vector of the low frequencies of its 32x32 grayscale
   copy (`scan.features_of`). Pairs from two splits whose vectors are close
   (cosine at least `CANDIDATE_COSINE`) are found with one matrix product per
   chunk of rows.
2. Of those, the pairs whose 4x4 grids of mean colours differ by at most
   `MAX_COLOUR_GAP` (of 255, on average) are candidates, at most the 8 closest
   per row: two pictures with the same layout in other colours go no further.
3. Each candidate is decoded again and compared at 48x48 in colour, whole or
   with one of them cropped to its centre 95% or 90% (which undoes a crop of
   up to 5% on each side): it is a near copy when, at the crop that matches
   best, the pixels differ by at most `MAX_DIFFERENCE` of 255 on average and
   their grayscale patterns correlate by at least `MIN_CORRELATION`.

Images nearly uniform (`MIN_DETAIL`) carry too little to compare and are left out.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import io
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from kdataset.tools.report.scan import as_rgb

#: Cosine between two images' low frequencies for the pair to be looked at.
CANDIDATE_COSINE = 0.85
#: Mean difference (0 to 255) of two images' 4x4 grids of colours for the pair to be checked.
MAX_COLOUR_GAP = 16.0
#: Mean absolute difference (0 to 255) of the colour pixels at 48x48 of a near copy.
MAX_DIFFERENCE = 8.0
#: Correlation of the grayscale pixels at 48x48 (their patterns, brightness aside) of a near copy.
MIN_CORRELATION = 0.9
#: Standard deviation of the 32x32 grayscale copy under which an image is too uniform to compare.
MIN_DETAIL = 3.0
#: Candidates checked at most: the closest first.
MAX_CANDIDATES = 20_000
#: Candidates kept per row, the closest.
_PER_ROW = 8
_SIDE = 48
_CROPS = (1.0, 0.95, 0.9)
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def exact_groups(digests: npt.NDArray[np.bytes_], read: npt.NDArray[np.bool_]) -> list[list[int]]:
    """Rows whose files have the same bytes, in groups of two or more (each sorted, the
    groups in the order of their first row)."""
    rows = np.flatnonzero(read)
    if len(rows) == 0:
        return []
    _, inverse, counts = np.unique(digests[rows], return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts > 1)
    if len(repeated) == 0:
        return []
    keep = np.isin(inverse, repeated)
    groups: dict[int, list[int]] = {}
    for row, key in zip(rows[keep].tolist(), inverse[keep].tolist()):
        groups.setdefault(key, []).append(row)
    return sorted(groups.values(), key=lambda g: g[0])


@dataclasses.dataclass
class Candidates:
    """Pairs `(a, b, cosine)` of rows in two splits whose images look alike, closest first,
    and whether more were found than `MAX_CANDIDATES`."""

    pairs: list[tuple[int, int, float]]
    capped: bool


def near_candidates(
    features: npt.NDArray[np.float32],
    colours: npt.NDArray[np.uint8],
    splits: npt.NDArray[np.int32],
    comparable: npt.NDArray[np.bool_],
    digests: npt.NDArray[np.bytes_],
    chunk: int = 256,
) -> Candidates:
    """Pairs of comparable rows in different splits whose features have a cosine of at
    least `CANDIDATE_COSINE` and whose colour grids are within `MAX_COLOUR_GAP`, leaving
    out exact copies (found as such).

    Costs one product of `(chunk, 63)` by `(63, rows of the other splits)` per chunk:
    time quadratic in the rows, memory of `chunk` rows by the other splits' rows.
    """
    found: list[tuple[int, int, float]] = []
    capped = False
    grids = colours.reshape(len(colours), -1).astype(np.float32)
    for a in np.unique(splits).tolist():
        left = np.flatnonzero((splits == a) & comparable)
        right = np.flatnonzero((splits > a) & comparable)
        if len(left) == 0 or len(right) == 0:
            continue
        others = np.ascontiguousarray(features[right].T)
        for start in range(0, len(left), chunk):
            rows = left[start : start + chunk]
            cosines = features[rows] @ others
            i, j = np.nonzero(cosines >= CANDIDATE_COSINE)
            if len(i) == 0:
                continue
            x, y = rows[i], right[j]
            gap = np.abs(grids[x] - grids[y]).mean(axis=1)
            keep = (gap <= MAX_COLOUR_GAP) & (digests[x] != digests[y])
            x, y, similar = x[keep], y[keep], cosines[i[keep], j[keep]]
            # The closest few per row: many look-alikes of one image add nothing to check.
            order = np.lexsort((-similar, x))
            x, y, similar = x[order], y[order], similar[order]
            first = np.r_[True, x[1:] != x[:-1]]
            rank = np.arange(len(x)) - np.maximum.accumulate(np.where(first, np.arange(len(x)), 0))
            few = rank < _PER_ROW
            found += zip(x[few].tolist(), y[few].tolist(), similar[few].tolist())
            if len(found) > 2 * MAX_CANDIDATES:  # bounded: keep the closest
                found.sort(key=lambda p: -p[2])
                del found[MAX_CANDIDATES:]
                capped = True
    found.sort(key=lambda p: -p[2])
    return Candidates(pairs=found[:MAX_CANDIDATES], capped=capped or len(found) > MAX_CANDIDATES)


def near_copies(
    candidates: Sequence[tuple[int, int, float]],
    paths: Sequence[str | None],
    read: Callable[[str], bytes],
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[int, int, float]]:
    """The candidates that are near copies, as `(a, b, difference)`: each pair decoded again
    and compared at 48x48 (see the module's docstring); `progress` is called with 1 after
    each pair."""

    def difference(pair: tuple[int, int, float]) -> float:
        a, b = paths[pair[0]], paths[pair[1]]
        if not a or not b:
            return np.inf
        try:
            first, second = _crops(read(a)), _crops(read(b))
        except Exception:  # unreadable now: not a near copy that can be shown
            return np.inf
        aligned = [(first[0], second[0])]
        aligned += [(x, second[0]) for x in first[1:]] + [(first[0], y) for y in second[1:]]
        gap, x, y = min(
            ((float(np.abs(x - y).mean()), x, y) for x, y in aligned), key=lambda t: t[0]
        )
        return gap if _correlation(x @ _LUMA, y @ _LUMA) >= MIN_CORRELATION else np.inf

    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        differences = []
        for found in pool.map(difference, candidates):
            differences.append(found)
            if progress is not None:
                progress(1)
    return [(a, b, d) for (a, b, _), d in zip(candidates, differences) if d <= MAX_DIFFERENCE]


def _correlation(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> float:
    x, y = x - x.mean(), y - y.mean()
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float((x * y).sum()) / norm if norm > 0 else 0.0


def _crops(data: bytes) -> list[npt.NDArray[np.float32]]:
    """An image's colour copies at 48x48: whole, and its centre at 95% and 90%."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (2 * _SIDE, 2 * _SIDE))
        rgb = as_rgb(image)
        rgb.load()
    width, height = rgb.size
    crops = []
    for keep in _CROPS:
        dx, dy = width * (1 - keep) / 2, height * (1 - keep) / 2
        box = (dx, dy, width - dx, height - dy)
        crops.append(
            np.asarray(rgb.resize((_SIDE, _SIDE), Image.Resampling.BOX, box=box), np.float32)
        )
    return crops
