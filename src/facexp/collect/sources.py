"""URL lists as browsers really export them, and the browser snippet that makes them.

A Google Images export is one URL per line with blank lines where a thumbnail had no URL,
repeats, sometimes ``data:image/...;base64`` thumbnails (real images, decoded here) and, once
people edit them, comments. A CSV needs a URL column and may carry the label. Lines that are
not URLs are reported with their line numbers, never silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import csv
import difflib
import hashlib
import io
import os
import urllib.parse
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import DataError

URL_PREFIXES = ("http://", "https://", "data:image/")
CSV_SUFFIXES = (".csv", ".tsv")


@dataclass(frozen=True)
class UrlItem:
    """One image to fetch: its URL (or data: URI), its class, and where the URL came from."""

    url: str
    label: str
    origin: str = ""


@dataclass(frozen=True)
class UrlList:
    """The usable items of one export and the lines that were skipped, as (line number, text)."""

    path: Path
    items: tuple[UrlItem, ...]
    skipped: tuple[tuple[int, str], ...] = field(default=())
    n_repeats: int = 0


def check_label(label: str, where: str) -> str:
    """A label becomes a folder name: refuse what would escape the dataset or hide from training."""
    label = label.strip()
    bad = (not label or label in (".", "..") or label.startswith(".") or any(c in label for c in "/\\\0:")
           or label.lower() in ("manifest.csv", "failures.csv", "conflicts.csv", "duplicates.csv"))
    if bad:
        raise DataError(f"{where}: label {label!r} cannot be a class folder name; use letters, digits, spaces, "
                        "'-' or '_' (not starting with '.')")
    return label


def source_key(url: str) -> str:
    """What the manifest stores as an item's source: the URL, or a digest for (long) data: URIs."""
    if url.startswith("data:"):
        return "data:sha256:" + hashlib.sha256(url.encode()).hexdigest()
    return url


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a ``data:`` URI (base64 or percent-encoded).

    Raises:
        ValueError: the URI has no comma or its base64 payload is broken.
    """
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ValueError("no ',' between the data: header and the payload")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(urllib.parse.unquote(payload), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"broken base64 payload ({exc})") from None
    return urllib.parse.unquote_to_bytes(payload)


def _looks_like_url(text: str) -> bool:
    return text.lower().startswith(URL_PREFIXES)


def _clean(cell: str) -> str:
    return cell.strip().strip('"').strip("'").strip()


def _csv_rows(path: Path, text: str, url_column: str, label_column: str | None, label: str):
    """(line number, url, label) of a CSV/TSV; a file whose first cell is a URL has no header."""
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV ({exc}); save it as plain UTF-8 CSV") from None
    if not rows:
        return
    if rows[0] and _looks_like_url(_clean(rows[0][0])):
        if label_column:
            raise DataError(f"{path}: has no header row, so there is no column {label_column!r}; "
                            "add a header (e.g. url,label) or drop --label-column")
        for n, row in enumerate(rows, 1):
            yield n, _clean(row[0]) if row else "", label
        return
    header = [h.strip().lower() for h in rows[0]]

    def column(name: str, option: str) -> int:
        if name.lower() in header:
            return header.index(name.lower())
        close = difflib.get_close_matches(name.lower(), header, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; pass {option} with one of them"
        raise DataError(f"{path}: no column {name!r} (columns: {', '.join(rows[0])}){hint}")

    url_at = column(url_column, "--url-column")
    label_at = column(label_column, "--label-column") if label_column else None
    for n, row in enumerate(rows[1:], 2):
        url = _clean(row[url_at]) if url_at < len(row) else ""
        row_label = (row[label_at].strip() if label_at < len(row) else "") if label_at is not None else label
        yield n, url, row_label


def read_url_list(path: str | os.PathLike, *, label: str | None = None, url_column: str = "url",
                  label_column: str | None = None) -> UrlList:
    """Parse one export: a .txt (one URL per line) or a .csv/.tsv with a URL column.

    Args:
        path: the export file.
        label: class of every URL; default: the file name without suffix (``happy.txt`` → happy).
        url_column: CSV column holding the URLs (case-insensitive).
        label_column: CSV column holding each row's class; rows with an empty label are skipped.

    Returns:
        The items in file order, each (url, label) once, and the skipped lines.

    Raises:
        DataError: the file is missing or unreadable, a column is missing, or a label cannot be
            a folder name.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataError(f"{path}: cannot read the URL list ({exc.strerror or exc}); check the path") from None
    default_label = label if label is not None else path.stem
    if path.suffix.lower() in CSV_SUFFIXES:
        rows = _csv_rows(path, text, url_column, label_column, default_label)
    else:
        rows = ((n, _clean(line), default_label) for n, line in enumerate(text.splitlines(), 1))
    items: list[UrlItem] = []
    skipped: list[tuple[int, str]] = []
    seen: set[tuple[str, str]] = set()
    repeats = 0
    labels_ok: set[str] = set()
    for n, url, row_label in rows:
        if not url or url.startswith("#"):
            continue
        if not _looks_like_url(url) or not row_label.strip():
            skipped.append((n, url[:200] if row_label.strip() else f"{url[:200]} (no label)"))
            continue
        if row_label not in labels_ok:
            check_label(row_label, f"{path} line {n}")
            labels_ok.add(row_label)
        key = (url, row_label.strip())
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        items.append(UrlItem(url, row_label.strip(), f"list:{path.name}"))
    return UrlList(path, tuple(items), tuple(skipped), repeats)


def browser_snippet() -> str:
    """The JavaScript to paste in the browser console on a Google Images results page.

    It saves the page's full-size image URLs (or, failing that, its thumbnails, data: URIs
    included) as ``<query>.txt``, one per line: the input of ``facexp collect urls``.
    """
    return (resources.files("facexp.collect") / "snippet.js").read_text(encoding="utf-8")
