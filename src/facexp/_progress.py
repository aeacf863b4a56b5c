"""The one progress-bar API: a wrapper around an iterable, quiet when stderr is not a terminal.

With ``status`` (a callable giving e.g. "412 ok, 23 failed"), progress also shows when stderr is
not a terminal (a log file, CI, a pipe): a plain line every 10% of ``total`` or ``LINE_EVERY_S``
seconds, and one at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.console import Console

T = TypeVar("T")
LINE_EVERY_S = 10.0


def track(items: Iterable[T], description: str, *, total: int | None = None, disable: bool | None = None,
          status: Callable[[], str] | None = None) -> Iterator[T]:
    """Yield ``items`` back while drawing a progress bar on stderr (only on a TTY).

    Args:
        status: counts to show beside the bar; with it, a non-TTY stderr gets plain progress lines.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    tty = sys.stderr.isatty()
    if disable is None:
        disable = not tty
    if disable:
        if status is None or tty:
            yield from items
        else:
            yield from _lines(items, description, total, status)
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    if status is not None:
        columns.append(TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total, status=status() if status else "")
        for item in items:
            yield item
            progress.update(task, advance=1, **({"status": status()} if status else {}))


def _lines(items: Iterable[T], description: str, total: int | None, status: Callable[[], str]) -> Iterator[T]:
    """Plain progress lines on stderr: every tenth of ``total`` (or LINE_EVERY_S seconds) and at the end."""
    step = total // 10 if total and total >= 20 else None  # small runs: the final line only (and the timer)
    last = time.monotonic()
    done = 0

    def line() -> None:
        of = f"/{total}" if total else ""
        print(f"{description}: {done}{of} ({status()})", file=sys.stderr, flush=True)

    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if (step and done % step == 0) or now - last >= LINE_EVERY_S:
            last = now
            if not (total and done == total):
                line()
    line()
