"""`facexp faces DATA OUT`: aligned face crops for training, with a report of every photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .settings import FaceSettings


def faces_command(
    data: Annotated[Path, typer.Argument(help="Folder of raw photos (class sub-folders are kept).")],
    out: Annotated[Path, typer.Argument(help="Folder for the aligned face crops and faces_report.csv.")],
    all_faces: Annotated[bool, typer.Option("--all", help="Keep every face, not only the largest.")] = False,
    detector: Annotated[str, typer.Option(help="Face detector: mtcnn or whole.")] = "mtcnn",
    margin: Annotated[float, typer.Option(help="Margin around the face box, fraction of its size.")] = FaceSettings.margin,
    size: Annotated[int, typer.Option(help="Crop size in pixels.")] = FaceSettings.size,
):
    """Detect, align and crop faces in a folder of photos (for training)."""
    from rich.console import Console
    from rich.table import Table

    from .extract import extract_faces

    report = extract_faces(data, out, settings=FaceSettings(detector=detector, margin=margin, size=size),
                           mode="all" if all_faces else "largest")
    table = Table("status", "photos")
    for status, n in sorted(report.counts().items()):
        table.add_row(status, str(n))
    Console().print(table)
    typer.echo(f"{report.n_crops} face crops in {out}; every photo's outcome: {report.report_path}")
