"""URL lists as browsers really export them: blank lines, repeats, comments, data: URIs, CSVs."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import CollectError


@dataclass(frozen=True)
class UrlItem:
    url: str
    label: str


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "data:image/"))


def read_url_list(path: str | os.PathLike, *, label: str | None = None, url_column: str = "url",
                  label_column: str | None = None) -> tuple[list[UrlItem], list[str]]:
    """Items of one export (label = file stem unless given or read from a CSV column) and the
    lines that were skipped because they are not URLs (reported, not silently dropped).

    Raises:
        CollectError: the file is missing, or a CSV lacks the URL/label column.
    """
    path = Path(path)
    if not path.exists():
        raise CollectError(f"{path}: no such URL list")
    label = label or path.stem
    skipped: list[str] = []
    if path.suffix.lower() in (".csv", ".tsv"):
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            fields = reader.fieldnames or []
            if url_column not in fields:
                raise CollectError(f"{path}: no column {url_column!r} (columns: {fields}); pass --url-column")
            if label_column and label_column not in fields:
                raise CollectError(f"{path}: no column {label_column!r} (columns: {fields})")
            rows = [((row.get(url_column) or "").strip(), (row.get(label_column) or "").strip() if label_column else label)
                    for row in reader]
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        rows = [(line.strip(), label) for line in text.splitlines()]
    items, seen = [], set()
    for url, lab in rows:
        if not url or url.startswith("#"):
            continue
        if not _is_url(url) or not lab:
            skipped.append(url[:200])
            continue
        if (url, lab) not in seen:
            seen.add((url, lab))
            items.append(UrlItem(url, lab))
    return items, skipped
