"""The one progress-bar API: a wrapper around an iterable, quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.console import Console

T = TypeVar("T")


def track(items: Iterable[T], description: str, *, total: int | None = None, disable: bool | None = None) -> Iterator[T]:
    """Yield ``items`` back while drawing a progress bar on stderr (only on a TTY)."""
    if disable is None:
        disable = not sys.stderr.isatty()
    if disable:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
