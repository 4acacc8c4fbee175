"""One look for every long operation in armed: a rich progress bar with count, elapsed time and ETA."""

from __future__ import annotations

from typing import Any


def progress_bar(enabled: bool = True, *extra_columns: Any, **kwargs: Any):
    """A ``rich.progress.Progress`` (use as a context manager); ``enabled=False`` hides it.

    ``extra_columns`` are appended after the ETA (e.g. ``TextColumn("{task.fields[info]}")``); ``kwargs`` go to
    ``Progress`` (``console=``, ``transient=``).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("ETA"), TimeRemainingColumn(), *extra_columns, disable=not enabled, **kwargs)
