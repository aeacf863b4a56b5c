"""What every CLI verb shares: library errors become one line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer

from .errors import FacexpError

F = TypeVar("F", bound=Callable)


def friendly_errors(fn: F | None = None, *, interrupted: str | None = None):
    """Turn FacexpError into ``facexp: Type: message`` on stderr and its exit code.

    With ``interrupted``, Ctrl-C prints that message and exits 130 instead of a traceback. Any
    other exception is a bug and propagates.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except FacexpError as exc:
                typer.echo(f"facexp: {type(exc).__name__}: {exc}", err=True)
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt:
                if interrupted is None:
                    raise
                typer.echo(f"facexp: {interrupted}", err=True)
                raise typer.Exit(130) from None

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate
