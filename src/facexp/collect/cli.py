"""`facexp collect urls|search|folder`, `facexp dedup` and `facexp snippet`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer

collect_app = typer.Typer(no_args_is_help=True, help="Build a dataset from URL lists, image search or folders.")
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Dataset folder (images in OUT/<label>/, manifest beside).")]


def _config(workers: int, per_host_rate: float, timeout: float, retries: int):
    from .download import CollectConfig

    return CollectConfig(workers=workers, per_host_rate=per_host_rate, read_timeout=timeout, retries=retries)


@collect_app.command("urls")
def urls_command(
    lists: Annotated[list[Path], typer.Argument(help="URL lists (.txt: label = file name; .csv/.tsv with a url column).")],
    out: OutOption = Path("data/raw"),
    label_column: Annotated[Optional[str], typer.Option(help="CSV column holding the label.")] = None,
    url_column: Annotated[str, typer.Option(help="CSV column holding the URL.")] = "url",
    workers: Annotated[int, typer.Option(help="Concurrent downloads.")] = 16,
    per_host_rate: Annotated[float, typer.Option(help="Requests per second per host (0: no limit).")] = 10.0,
    timeout: Annotated[float, typer.Option(help="Read timeout per request, seconds.")] = 15.0,
    retries: Annotated[int, typer.Option(help="Retries on 429/5xx/timeouts/resets.")] = 3,
):
    """Download every URL of the lists, verify, hash, de-duplicate; rerun to resume."""
    from .download import download_all
    from .sources import read_url_list
    from .summary import print_summary

    items, skipped = [], 0
    for path in lists:
        found, bad = read_url_list(path, url_column=url_column, label_column=label_column)
        items += found
        skipped += len(bad)
    print_summary(download_all(items, out, cfg=_config(workers, per_host_rate, timeout, retries)), skipped)


@collect_app.command("search")
def search_command(
    query: Annotated[str, typer.Argument(help="What to search for, e.g. 'laughing face'.")],
    label: Annotated[str, typer.Option(help="Class the results belong to.")],
    max_results: Annotated[int, typer.Option("--max", help="Most images to fetch.")] = 100,
    out: OutOption = Path("data/raw"),
):
    """Search DuckDuckGo images and download the results (needs internet)."""
    from .download import download_all
    from .search import search_images
    from .summary import print_summary

    print_summary(download_all(search_images(query, label=label, max_results=max_results), out))


@collect_app.command("folder")
def folder_command(
    src: Annotated[Path, typer.Argument(help="Folder of class sub-folders, or a zip of them.")],
    out: OutOption = Path("data/raw"),
):
    """Copy local images into the dataset, verified and hashed."""
    from .folder import collect_folder
    from .summary import print_summary

    print_summary(collect_folder(src, out))


def dedup_command(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (collected, or any folder of class sub-folders).")],
    threshold: Annotated[int, typer.Option(help="Perceptual-hash Hamming distance still counted as the same image.")] = 4,
    apply: Annotated[bool, typer.Option("--apply", help="Move duplicates to DATASET/_duplicates (never deletes).")] = False,
):
    """Find exact and near-duplicate images and label conflicts."""
    from .dedup import dedup
    from .folder import collect_folder
    from .manifest import MANIFEST_DB

    if not (dataset / MANIFEST_DB).exists():
        collect_folder(dataset, dataset)  # index the folder where it is
    report = dedup(dataset, threshold=threshold, apply=apply)
    typer.echo(f"{report.n_images} images: {report.n_duplicates} duplicates"
               f"{f' ({report.moved} moved to _duplicates/)' if apply else ' (use --apply to move them aside)'}, "
               f"{report.n_conflict_images} images in {report.n_conflict_groups} label conflicts → {report.conflicts_csv}")


def snippet_command():
    """Print the browser-console snippet that exports a Google Images result page's URLs."""
    typer.echo((resources.files("facexp.collect") / "snippet.js").read_text())
