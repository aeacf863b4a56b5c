"""The closing table of a collect or dedup run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .manifest import MANIFEST_CSV, ManifestDB


def print_summary(db: ManifestDB, skipped_lines: int = 0) -> None:
    counts = db.counts()
    table = Table("outcome", "images", title=f"dataset {db.root}")
    table.add_row("downloaded / usable", str(counts.get("ok", 0)))
    for reason, n in sorted(db.failure_reasons().items()):
        table.add_row(f"failed: {reason}", str(n))
    table.add_row("duplicates", str(counts.get("duplicate", 0)))
    table.add_row("label conflicts", str(counts.get("conflict", 0)))
    if counts.get("pending"):
        table.add_row("not finished (rerun to resume)", str(counts["pending"]))
    if skipped_lines:
        table.add_row("lines that are not URLs", str(skipped_lines))
    Console(stderr=True).print(table)
    Console(stderr=True).print(f"training manifest: {db.root / MANIFEST_CSV}")
