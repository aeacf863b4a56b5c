"""`facexp clean find|review|apply`: parse, call ``facexp.clean``, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._cli import friendly_errors
from .._plural import counted

clean_app = typer.Typer(no_args_is_help=True, add_completion=False,
                        help="Find likely wrong labels, duplicates and non-faces; review them in a web page; apply.")
DataArg = Annotated[Path, typer.Argument(help="A folder of class sub-folders, or a `facexp collect` dataset.")]


@clean_app.command("find")
@friendly_errors
def find_command(
    data: DataArg,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model directory whose features are used "
                                                                       "(default: the shipped model).")] = None,
    method: Annotated[str, typer.Option(help="cv-head: features + a cross-validated logistic head; model: the "
                                             "model's own probabilities (its classes must include the dataset's).")]
    = "cv-head",
    detect: Annotated[Optional[bool], typer.Option("--detect/--no-detect", help="Find faces first (default: in "
                                                   "every image that is not a small square face crop).")] = None,
    top: Annotated[int, typer.Option(help="Suspects printed (all are in DATA/clean_suspects.csv).")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
):
    """Rank the images most likely to be mislabelled, duplicated or not a face; write DATA/clean_suspects.csv."""
    from .find import find_issues

    report = find_issues(data, model=model if model != "default" else None, method=method, detect=detect)
    if as_json:
        typer.echo(report.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("#", "file", "given", "suggested", "score", "reason", title=f"top suspects in {data}")
    for rank, s in enumerate(report.suspects[:top], 1):
        table.add_row(str(rank), s.path, s.given, s.suggested or "-", f"{s.score:.3f}", s.reason)
    console = Console(soft_wrap=True)
    console.print(table)
    if report.unreadable:
        typer.echo(f"{counted(len(report.unreadable), 'file')} could not be read and were left out (see "
                   f"{data / 'failures.csv'}): " + "; ".join(report.unreadable[:3]), err=True)
    console.print(report.summary_line(), highlight=False)


@clean_app.command("review")
@friendly_errors
def review_command(
    data: DataArg,
    host: Annotated[str, typer.Option(help="Address to bind; anything but loopback needs --api-key-env.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8001,
    api_key_env: Annotated[Optional[str], typer.Option(
        help="Name of the environment variable holding the API key (never the key itself).")] = None,
):
    """Review the suspects in a local web page: keep, relabel (one key per class) or set aside, with undo."""
    from ..serve.settings import ServeSettings, api_key_from_env, check_bindable
    from .review import run_review

    settings = ServeSettings(host=host, port=port, api_key=api_key_from_env(api_key_env))
    check_bindable(host, port)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"facexp clean review on http://{shown}:{port}/  (Ctrl-C to stop; every decision is already saved)",
               err=True)
    run_review(data, settings)


@clean_app.command("apply")
@friendly_errors
def apply_command(data: DataArg):
    """Move relabelled files to their class folder (collect datasets: rewrite manifest.csv); print what changed."""
    from .apply import apply_decisions

    report = apply_decisions(data)
    for path, old, new in report.relabelled:
        typer.echo(f"relabelled {path}: {old} → {new}")
    for path in report.set_aside:
        typer.echo(f"set aside  {path}")
    typer.echo(report.summary_line())
