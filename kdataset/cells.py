"""What a manifest's cell holds: missing or not, a native Python value, a 0/1 flag.

The lowest room with `errors`: the manifest reader, the labels and the tools
read cells the same way through these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_missing(value: Any) -> bool:
    """Whether a cell is empty: `None`, NaN, or text of only spaces.

    Example:

    >>> [is_missing(v) for v in (None, float("nan"), "  ", "cat", 0)]
    [True, True, True, False, False]
    """
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return not value.strip()
    if kind is int:
        return False
    if kind is float:
        return math.isnan(value)
    if isinstance(value, str) and not value.strip():
        return True
    try:
        return bool(value is np.nan or (np.ndim(value) == 0 and np.isnan(value)))
    except TypeError:
        return False


def native(value: Any) -> Any:
    """A NumPy scalar as the Python value it stands for (so classes survive JSON).

    Example:

    >>> native(np.int64(3)), native("cat")
    (3, 'cat')
    """
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_binary(value: Any) -> int | None:
    """A cell of a 0/1 label column as `0` or `1`, or `None` when it is neither.

    Example:

    >>> [as_binary(v) for v in ("1", " 0 ", "true", 1.0, True, 2, "yes")]
    [1, 0, 1, 1, 1, None, None]
    """
    if isinstance(value, str):
        value = value.strip()
        return {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "true": 1, "false": 0}.get(value.lower())
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | float | np.integer | np.floating) and value in (0, 1):
        return int(value)
    return None
