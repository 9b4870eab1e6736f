"""Facts about the machine that several modules need, with no loading machinery."""

from __future__ import annotations

import os


def usable_cores():
    """How many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
