"""The tools' progress bars: rich's, on stderr, gone when the work is done."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(shown: bool, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar of `total` steps, shown if `shown`; yields `advance(n)`.

    >>> with progress_bar(False, "Reading files", 10) as advance:
    ...     advance(10)
    """
    if not shown:
        yield lambda n: None
        return
    from rich.progress import Progress  # imported when a bar is shown

    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.update(task, advance=n)
