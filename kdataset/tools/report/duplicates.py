"""Finding the same file twice: exact copies (the same bytes) anywhere, and near copies of an
image (re-encoded, resized, slightly cropped) in two splits.

Near copies are found in two steps. Every image has a unit vector of the low
frequencies of its 32x32 grayscale copy (`scan.features_of`); pairs from two
splits whose vectors are close (cosine at least `CANDIDATE_COSINE`) are
candidates, found with one matrix product per chunk of rows. Each candidate is
then decoded again and compared pixel by pixel at 48x48, cropped by up to 5%
on each side to undo a slight crop: a mean absolute difference of at most
`MAX_DIFFERENCE` (of 255) makes it a near copy. Images nearly uniform
(`MIN_DETAIL`) carry too little to compare and are left out.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

#: Cosine between two images' low frequencies for the pair to be checked.
CANDIDATE_COSINE = 0.85
#: Mean absolute difference (0 to 255) at 48x48 under which two images are near copies.
MAX_DIFFERENCE = 6.0
#: Standard deviation of the 32x32 grayscale copy under which an image is too uniform to compare.
MIN_DETAIL = 3.0
#: Candidates checked at most: the closest first.
MAX_CANDIDATES = 20_000
#: Candidates kept per row, the closest.
_PER_ROW = 8
_SIDE = 48
_CROPS = (1.0, 0.95, 0.9)


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
    """Pairs `(a, b)` of rows in two splits whose images look alike, closest first."""

    pairs: list[tuple[int, int, float]]
    capped: bool


def near_candidates(
    features: npt.NDArray[np.float32],
    splits: npt.NDArray[np.int32],
    comparable: npt.NDArray[np.bool_],
    digests: npt.NDArray[np.bytes_],
    chunk: int = 512,
) -> Candidates:
    """Pairs of comparable rows in different splits whose features have a cosine of at least
    `CANDIDATE_COSINE`, leaving out exact copies (found as such).

    Costs one product of `(chunk, 63)` by `(63, rows of the other split)` per chunk:
    quadratic in the rows, about a second per billion pairs on two cores.
    """
    found: list[tuple[int, int, float]] = []
    capped = False
    names = np.unique(splits)
    for n, a in enumerate(names):
        left = np.flatnonzero((splits == a) & comparable)
        right = np.flatnonzero((splits > a) & comparable)
        if n == len(names) - 1 or len(left) == 0 or len(right) == 0:
            continue
        others = features[right].T
        for start in range(0, len(left), chunk):
            rows = left[start : start + chunk]
            cosines = features[rows] @ others
            if cosines.shape[1] > _PER_ROW:
                top = np.argpartition(-cosines, _PER_ROW - 1, axis=1)[:, :_PER_ROW]
            else:
                top = np.broadcast_to(np.arange(cosines.shape[1]), cosines.shape)
            values = np.take_along_axis(cosines, top, axis=1)
            i, j = np.nonzero(values >= CANDIDATE_COSINE)
            for x, y, v in zip(rows[i].tolist(), right[top[i, j]].tolist(), values[i, j].tolist()):
                if digests[x] != digests[y]:
                    found.append((x, y, v))
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
) -> list[tuple[int, int, float]]:
    """The candidates that are near copies, as `(a, b, difference)`: each pair decoded again
    and compared at 48x48, cropped by up to 5% on each side, the smallest mean absolute
    difference kept."""

    def difference(pair: tuple[int, int, float]) -> float:
        a, b = paths[pair[0]], paths[pair[1]]
        if not a or not b:
            return np.inf
        try:
            first, second = _crops(read(a)), _crops(read(b))
        except Exception:  # unreadable now: not a near copy that can be shown
            return np.inf
        return min(
            min(float(np.abs(x - second[0]).mean()), float(np.abs(first[0] - y).mean()))
            for x, y in zip(first, second)
        )

    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        differences = list(pool.map(difference, candidates))
    return [(a, b, d) for (a, b, _), d in zip(candidates, differences) if d <= MAX_DIFFERENCE]


def _crops(data: bytes) -> list[npt.NDArray[np.float32]]:
    """An image's grayscale copies at 48x48: whole, and its centre at 95% and 90%."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            image.draft("L", (2 * _SIDE, 2 * _SIDE))
        gray = image.convert("RGBA").convert("L") if image.mode == "P" else image.convert("L")
    width, height = gray.size
    crops = []
    for keep in _CROPS:
        dx, dy = width * (1 - keep) / 2, height * (1 - keep) / 2
        box = (dx, dy, width - dx, height - dy)
        crops.append(
            np.asarray(gray.resize((_SIDE, _SIDE), Image.Resampling.BOX, box=box), np.float32)
        )
    return crops
