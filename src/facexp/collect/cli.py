"""`facexp collect urls|search|folder`, `facexp dedup` and `facexp snippet`: parse, call, render.

Each command calls one public function of ``facexp.collect`` and prints its report: a table on
stdout (or JSON with ``--json``); progress bars go to stderr. A ``FacexpError`` becomes one line
``facexp: <Type>: <message>`` on stderr and the error's exit code; Ctrl-C exits with 130 after
the manifest is saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .._cli import friendly_errors
from ..errors import CollectError


collect_app = typer.Typer(no_args_is_help=True, add_completion=False,
                          help="Build a dataset from URL lists, image search or folders.")

OutOption = Annotated[Path, typer.Option("--out", "-o", help="Dataset folder: images in OUT/<label>/, manifest "
                                                             "beside them (manifest.sqlite, manifest.csv).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of a table.")]
WorkersOption = Annotated[int, typer.Option(help="Downloads at once.")]
PerHostOption = Annotated[int, typer.Option(help="Requests in flight per host.")]
RateOption = Annotated[float, typer.Option(help="Request starts per second per host (0: no limit).")]
TimeoutOption = Annotated[float, typer.Option(help="Read timeout per request, seconds.")]
RetriesOption = Annotated[int, typer.Option(help="Retries after 408/429/5xx, timeouts and resets.")]
MaxMbOption = Annotated[float, typer.Option(help="Largest image accepted, MB.")]
AgentOption = Annotated[Optional[str], typer.Option(help="User-Agent header (default: facexp/<version>).")]


_friendly = friendly_errors(
    interrupted="interrupted; what finished is in the manifest: rerun the same command to resume")


def _config(workers: int, per_host: int, rate: float, timeout: float, retries: int, max_mb: float,
            user_agent: str | None):
    from .config import CollectConfig

    extra = {"user_agent": user_agent} if user_agent else {}
    return CollectConfig(workers=workers, per_host=per_host, rate=rate, read_timeout=timeout,
                         max_time=max(60.0, 4 * timeout), retries=retries, max_bytes=int(max_mb * 1024 * 1024), **extra)


def _render(report, as_json: bool) -> None:
    """The summary table (downloaded / failed by reason / duplicates / conflicts), or JSON."""
    if as_json:
        typer.echo(report.to_json())
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("outcome", "items", title=f"collect → {report.dataset_dir}")
        table.add_row("downloaded / stored, usable", str(report.n_ok))
        for reason, n in report.failures.items():
            table.add_row(f"failed: {reason}", str(n))
        table.add_row("duplicates (kept one per class)", str(report.n_duplicates))
        table.add_row("label conflicts (left out, see conflicts.csv)", str(report.n_conflicts))
        if report.n_pending:
            table.add_row("unfinished (rerun to resume)", str(report.n_pending))
        if report.skipped_lines:
            table.add_row("lines that are not URLs (skipped)", str(len(report.skipped_lines)))
        console = Console(soft_wrap=True)
        console.print(table)
        console.print(report.summary_line(), highlight=False)
    if report.n_items and report.n_ok + report.n_duplicates + report.n_conflicts == 0:
        common = ", ".join(f"{reason} ×{n}" for reason, n in list(report.failures.items())[:3])
        raise CollectError(f"none of the {report.n_items} items gave an image ({common}); the reasons are in "
                           f"{report.failures_csv}: fix the cause and rerun")


@collect_app.command("urls")
@_friendly
def urls_command(
    lists: Annotated[list[Path], typer.Argument(help="URL exports: .txt (class = file name, e.g. happy.txt) or "
                                                     ".csv/.tsv with a url column.")],
    out: OutOption = Path("data/raw"),
    label: Annotated[Optional[str], typer.Option(help="One class for every list (instead of file names).")] = None,
    label_column: Annotated[Optional[str], typer.Option(help="CSV column holding each row's class.")] = None,
    url_column: Annotated[str, typer.Option(help="CSV column holding the URL.")] = "url",
    workers: WorkersOption = 16,
    per_host: PerHostOption = 4,
    rate: RateOption = 10.0,
    timeout: TimeoutOption = 15.0,
    retries: RetriesOption = 3,
    max_mb: MaxMbOption = 20.0,
    user_agent: AgentOption = None,
    as_json: JsonOption = False,
):
    """Download every URL of the lists, verify and hash each image, mark duplicates; rerun to resume."""
    from .download import collect_urls

    config = _config(workers, per_host, rate, timeout, retries, max_mb, user_agent)
    _render(collect_urls(lists, out, label=label, url_column=url_column, label_column=label_column, config=config),
            as_json)


@collect_app.command("search")
@_friendly
def search_command(
    query: Annotated[str, typer.Argument(help="What to search for, e.g. 'laughing face'.")],
    label: Annotated[str, typer.Option(help="Class of the results, e.g. laughing.")],
    max_results: Annotated[int, typer.Option("--max", help="Most images to fetch.")] = 100,
    out: OutOption = Path("data/raw"),
    workers: WorkersOption = 16,
    per_host: PerHostOption = 4,
    rate: RateOption = 10.0,
    timeout: TimeoutOption = 15.0,
    retries: RetriesOption = 3,
    max_mb: MaxMbOption = 20.0,
    user_agent: AgentOption = None,
    as_json: JsonOption = False,
):
    """Search DuckDuckGo images and download the results as one class (needs internet)."""
    from .search import collect_search

    config = _config(workers, per_host, rate, timeout, retries, max_mb, user_agent)
    _render(collect_search(query, out, label=label, max_results=max_results, config=config), as_json)


@collect_app.command("folder")
@_friendly
def folder_command(
    src: Annotated[Path, typer.Argument(help="Folder of class sub-folders (src/happy/*.jpg), or a zip of one.")],
    out: OutOption = Path("data/raw"),
    as_json: JsonOption = False,
):
    """Copy local images into the dataset, verified, hashed and de-duplicated."""
    from .folder import collect_folder

    _render(collect_folder(src, out), as_json)


@_friendly
def dedup_command(
    dataset: Annotated[Path, typer.Argument(help="A collected dataset, or any folder of class sub-folders.")],
    threshold: Annotated[int, typer.Option(help="Largest perceptual-hash distance (bits of 64) still counted as "
                                                "the same picture.")] = 4,
    apply: Annotated[bool, typer.Option("--apply", help="Move duplicates to DATASET/.duplicates and conflicts to "
                                                        "DATASET/.conflicts (never deletes).")] = False,
    as_json: JsonOption = False,
):
    """Find exact and near-duplicate images and label conflicts; report, or move them aside with --apply."""
    from .dedup import INDEX_FILES, dedup, is_collected

    if dataset.is_dir() and not is_collected(dataset):
        typer.echo(f"{dataset} is not a collected dataset: indexing it in place, which writes {', '.join(INDEX_FILES)} "
                   "into it (no image is renamed, moved or deleted)", err=True)
    report = dedup(dataset, threshold=threshold, apply=apply)
    if as_json:
        typer.echo(report.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("outcome", "images", title=f"dedup → {report.dataset_dir} (threshold {report.threshold} bits)")
    table.add_row("images", str(report.n_images))
    if report.n_indexed:
        table.add_row("indexed now (the folder had no manifest)", str(report.n_indexed))
    table.add_row(f"duplicates (kept one per class) → {report.duplicates_csv.name}", str(report.n_duplicates))
    table.add_row(f"in label conflicts ({report.n_conflict_groups} groups) → {report.conflicts_csv.name}",
                  str(report.n_conflicts))
    if report.applied:
        table.add_row("moved aside (.duplicates/, .conflicts/)", str(report.n_moved))
        table.add_row("moved back (no longer duplicates)", str(report.n_restored))
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(report.summary_line(), highlight=False)


@_friendly
def snippet_command():
    """Print the browser-console snippet that saves a Google Images result page's URLs to a .txt."""
    from .sources import browser_snippet

    typer.echo(browser_snippet(), nl=False)
