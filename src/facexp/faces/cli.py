"""``facexp faces DATA OUT``: face crops for training, framed as the model will see them, and a report of every photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import FacexpError
from .extract import ExtractReport, extract_faces
from .settings import FaceSettings


def faces_command(
    data: Annotated[Path, typer.Argument(help="Folder of raw photos; class sub-folders are kept.")],
    out: Annotated[Path, typer.Argument(help="Folder for the face crops and faces_report.csv.")],
    all_faces: Annotated[bool, typer.Option("--all", help="Write every face, not only the largest.")] = False,
    detector: Annotated[str, typer.Option(help="Face detector: mtcnn, or whole (photos are face crops).")] = "mtcnn",
    margin: Annotated[float, typer.Option(help="Space around the face box, as a fraction of its larger side "
                                                "(negative: tighter; the default frames faces like FER2013).")
                      ] = FaceSettings.margin,
    size: Annotated[int, typer.Option(help="Side of the square crops in pixels.")] = FaceSettings.size,
    whole_fallback: Annotated[bool, typer.Option(
        "--whole-fallback/--no-whole-fallback",
        help="Keep a small (<= 256 px), square image with no face found whole: it is a face crop already (FER2013).")
    ] = True,
) -> None:
    """Detect and crop the faces in a folder of photos (training data for `facexp train`).

    The settings are saved in OUT/faces.json; `facexp train OUT` copies them into the model, so
    prediction finds and crops faces the same way.
    """
    try:
        report = extract_faces(data, out, settings=FaceSettings(detector=detector, margin=margin, size=size),
                               mode="all" if all_faces else "largest", whole_fallback=whole_fallback)
    except FacexpError as exc:
        typer.echo(f"facexp: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    _print_summary(report)
    if detector != "whole" and report.mostly_face_crops():
        typer.echo(f"note: most of these {len(report.records)} images are small square face crops already (like "
                   "FER2013's 48 px): `--detector whole` keeps each as it is instead of searching it for a face "
                   "(the model then classifies whole images at prediction time too)")


def _print_summary(report: ExtractReport) -> None:
    """Counts per status as a table on stdout, then where the crops and the report are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"faces: {len(report.records)} photos")
    table.add_column("status")
    table.add_column("photos", justify="right")
    for status, n in report.counts().items():
        table.add_row(status, str(n))
    console = Console()
    console.print(table)
    cached = len(report.records) - report.n_detected - report.counts()["unreadable"]
    console.print(f"{report.n_crops} face crops in {report.report_path.parent} "
                  f"({cached} photos from the detection cache); every photo's outcome: {report.report_path}",
                  soft_wrap=True)
    if report.counts()["whole"]:
        console.print(f"{report.counts()['whole']} small square images with no face found were kept whole "
                      "(they are face crops already; framing 'whole' in the report)", soft_wrap=True)
    if report.dropped():
        console.print(report.dropped_line(), soft_wrap=True, markup=False)
