"""What every CLI verb shares: library errors become one line and an exit code; help in journey order."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

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


class JourneyGroup(TyperGroup):
    """Lists the verbs in the order a newcomer uses them (``order``), not in the order the code
    registers them; verbs missing from ``order`` come last."""

    order = ("snippet", "collect", "dedup", "faces", "clean", "train", "evaluate", "predict", "export", "serve",
             "models")

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: i for i, name in enumerate(self.order)}
        return sorted(names, key=lambda name: rank.get(name, len(rank)))


def plain_help() -> None:
    """Make typer's help read like any other command's.

    typer 0.29 writes ``<bool>`` after every flag, ``<list[str]>`` after arguments and ``{data}``
    for a required argument in the usage line; newcomers read them as something to type. Flags and
    arguments lose the type (their help says what they take), and the usage line reads ``DATA`` /
    ``[DATA]`` as in click and most Unix tools.
    """
    with_type = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else with_type(self, ctx)

    def usage_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    TyperOption.display_type_rich = display_type_rich
    TyperArgument.display_type_rich = lambda self, ctx: None
    TyperArgument._usage_display_name = usage_name
