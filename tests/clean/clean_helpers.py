"""Helpers for the clean tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers import make_shapes_dataset

from facexp.clean import CleanStore, Suspect
from facexp.collect import collect_folder


def reviewed_dataset(root: Path, *, collected_from: Path | None = None) -> Path:
    """Shapes in class folders (4 per class), indexed in place (or collected from ``collected_from``
    into ``root``), with suspects: the first 5 images in path order, ranked in that order."""
    if collected_from is None:
        make_shapes_dataset(root, n_per_class=4)
        collect_folder(root, root)
    else:
        make_shapes_dataset(collected_from, n_per_class=4)
        collect_folder(collected_from, root)
    with sqlite3.connect(root / "manifest.sqlite") as c:
        rows = c.execute("SELECT id, path, label FROM items WHERE status = 'ok' ORDER BY path LIMIT 5").fetchall()
    suspects = [Suspect(i, p, label, "square" if label != "square" else "circle", 0.9 - 0.1 * k, ("label issue",))
                for k, (i, p, label) in enumerate(rows)]
    with CleanStore(root) as store:
        store.write_suspects(suspects)
    return root


def item_row(root: Path, item_id: int) -> tuple[str, str]:
    """(path, label) of an item as the manifest has it now."""
    with sqlite3.connect(root / "manifest.sqlite") as c:
        return c.execute("SELECT path, label FROM items WHERE id = ?", (item_id,)).fetchone()


def manifest_rows(root: Path) -> dict[str, str]:
    """manifest.csv as {path: label}."""
    lines = (root / "manifest.csv").read_text().splitlines()[1:]
    return dict(line.rsplit(",", 1) for line in lines)
