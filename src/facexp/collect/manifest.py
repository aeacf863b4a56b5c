"""The dataset manifest: ``DATASET/manifest.sqlite``, the single truth later stages read.

Why SQLite rather than a CSV: an item's status changes several times (pending → ok or failed →
duplicate or conflict) while many downloads finish per second, and the process may be killed at
any instant. SQLite (WAL journal) makes each change an atomic transaction, so a crash or Ctrl-C
leaves a consistent table and a rerun resumes from it; a CSV would have to be rewritten whole
after every change and could be cut in half. It ships with Python and one file per dataset is
easy to copy. Because later stages and people want plain text, every run also writes, each
atomically (temp file + rename):

- ``manifest.csv``: ``path,label`` of the usable images (ok: not failed, not a duplicate, not a
  label conflict, not set aside into a hidden folder by ``facexp clean review``), paths relative
  to the dataset folder: what ``facexp train`` reads;
- ``failures.csv``, ``duplicates.csv`` and ``conflicts.csv``: the items set aside, with reasons.

Every item is one (source, label) pair, so a URL exported under two classes is two items.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import DataError

MANIFEST_DB = "manifest.sqlite"
MANIFEST_CSV = "manifest.csv"
FAILURES_CSV = "failures.csv"
DUPLICATES_CSV = "duplicates.csv"
CONFLICTS_CSV = "conflicts.csv"
SCHEMA_VERSION = "1"
STATUSES = ("pending", "ok", "failed", "duplicate", "conflict")
STORED = ("ok", "duplicate", "conflict")  # statuses of items that have an image file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,       -- URL, 'data:sha256:<digest of the data: URI>', or the original file
    label TEXT NOT NULL,
    origin TEXT NOT NULL,       -- 'list:happy.txt', 'search:laughing face', 'folder:/path'
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'ok', 'failed', 'duplicate', 'conflict')),
    reason TEXT,                -- short and groupable: 'http 404', 'timeout', 'html', 'duplicate', ...
    detail TEXT,                -- the long story, for people
    duplicate_of INTEGER,       -- the kept item this one duplicates
    sha256 TEXT,
    phash TEXT,                 -- 64-bit perceptual hash (imagehash.phash), hex
    width INTEGER,              -- upright size (EXIF orientation applied)
    height INTEGER,
    format TEXT,                -- as decoded: JPEG, PNG, ...
    n_bytes INTEGER,
    path TEXT,                  -- the file, relative to the dataset folder
    attempts INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,      -- UTC, ISO 8601
    updated TEXT NOT NULL,
    UNIQUE (source, label)
);
CREATE INDEX IF NOT EXISTS items_status ON items (status);
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ItemRecord:
    """One row of the manifest: where an image came from, what it is, and what became of it."""

    id: int
    source: str
    label: str
    origin: str
    status: str
    reason: str | None
    detail: str | None
    duplicate_of: int | None
    sha256: str | None
    phash: str | None
    width: int | None
    height: int | None
    format: str | None
    n_bytes: int | None
    path: str | None
    attempts: int
    created: str
    updated: str

    def to_dict(self) -> dict:
        return asdict(self)


_COLUMNS = ", ".join(f.name for f in fields(ItemRecord))


class ManifestDB:
    """Read and change ``DATASET/manifest.sqlite``; one writer at a time (see ``dataset_lock``).

    Args:
        dataset_dir: the dataset folder; created when missing.

    Raises:
        DataError: the file is not a manifest, is damaged, or has another schema version.
    """

    def __init__(self, dataset_dir: str | os.PathLike):
        self.root = Path(dataset_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / MANIFEST_DB
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "items" in tables and "meta" not in tables:
                raise DataError(f"{self.path}: written by an older facexp; collect into a new folder "
                                "(or move this file away to re-index the images)")
            self._conn.executescript(_SCHEMA)
            self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a usable manifest ({exc}); move it away and rerun to re-index "
                            "the images") from None
        version = self.get_meta("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(f"{self.path}: manifest schema {version}, this facexp reads {SCHEMA_VERSION}; "
                            "use the facexp version that wrote it or collect into a new folder")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ManifestDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many changes in one transaction (all or none; much faster than one each)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_items(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """Register (source, label, origin) triples; existing ones keep their state (that is the resume)."""
        now = _now()
        with self.batch():
            self._conn.executemany(
                "INSERT OR IGNORE INTO items (source, label, origin, created, updated) VALUES (?, ?, ?, ?, ?)",
                ((source, label, origin, now, now) for source, label, origin in entries))

    def records(self, *, statuses: Iterable[str] | None = None) -> list[ItemRecord]:
        """All items (or those with one of ``statuses``) in the order they were first registered."""
        query, args = f"SELECT {_COLUMNS} FROM items", ()
        if statuses is not None:
            args = tuple(statuses)
            query += f" WHERE status IN ({', '.join('?' * len(args))})"
        return [ItemRecord(*row) for row in self._conn.execute(query + " ORDER BY id", args)]

    def record_ok(self, item_id: int, *, path: str, sha256: str, phash: str, width: int, height: int,
                  format: str, n_bytes: int, attempts: int = 1) -> None:
        """A fetch stored a verified image for the item after ``attempts`` requests (retries included)."""
        self._conn.execute(
            "UPDATE items SET status = 'ok', reason = NULL, detail = NULL, duplicate_of = NULL, path = ?, "
            "sha256 = ?, phash = ?, width = ?, height = ?, format = ?, n_bytes = ?, attempts = attempts + ?, "
            "updated = ? WHERE id = ?",
            (path, sha256, phash, width, height, format, n_bytes, max(0, int(attempts)), _now(), item_id))

    def record_failure(self, item_id: int, reason: str, detail: str = "", *, attempt: bool = True,
                       attempts: int | None = None) -> None:
        """A fetch ended without an image; ``reason`` is short so failures can be counted by kind.

        ``attempts`` requests were made (retries included; default: one, or none with ``attempt=False``).
        """
        n = int(attempt) if attempts is None else max(0, int(attempts))
        self._conn.execute(
            "UPDATE items SET status = 'failed', reason = ?, detail = ?, duplicate_of = NULL, path = NULL, "
            "attempts = attempts + ?, updated = ? WHERE id = ?",
            (reason, detail[:500] or None, n, _now(), item_id))

    def set_dedup(self, changes: Iterable[tuple[int, str, str | None, str | None, int | None]]) -> None:
        """Apply (id, status, reason, detail, duplicate_of) decisions of the duplicate search."""
        now = _now()
        with self.batch():
            self._conn.executemany(
                "UPDATE items SET status = ?, reason = ?, detail = ?, duplicate_of = ?, updated = ? WHERE id = ?",
                ((status, reason, detail, dup, now, item_id) for item_id, status, reason, detail, dup in changes))

    def set_path(self, old: str, new: str) -> None:
        """A file moved: every item stored as ``old`` now lives at ``new``."""
        self._conn.execute("UPDATE items SET path = ?, updated = ? WHERE path = ?", (new, _now(), old))

    def mark_missing_files(self) -> int:
        """Usable items whose file disappeared become failures (retried by the next collect run)."""
        missing = [r.id for r in self.records(statuses=("ok", "conflict")) if not (self.root / r.path).is_file()]
        with self.batch():
            for item_id in missing:
                self.record_failure(item_id, "missing_file", "the image file was moved or deleted", attempt=False)
        return len(missing)

    def counts(self) -> dict[str, int]:
        """Items per status over the whole dataset."""
        return dict(self._conn.execute("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())

    def export(self) -> Path:
        """Write manifest.csv (usable images) and the failures/duplicates/conflicts lists; returns manifest.csv."""
        _write_csv(self.root / MANIFEST_CSV, ["path", "label"],
                   self._conn.execute("SELECT path, label FROM items WHERE status = 'ok' AND path NOT LIKE '.%' "
                                      "ORDER BY id"))  # a hidden folder: set aside by `facexp clean review`
        _write_csv(self.root / FAILURES_CSV, ["source", "label", "reason", "detail", "attempts", "updated"],
                   self._conn.execute("SELECT source, label, reason, detail, attempts, updated FROM items "
                                      "WHERE status = 'failed' ORDER BY id"))
        _write_csv(self.root / DUPLICATES_CSV, ["path", "label", "duplicate_of", "kept_path", "detail", "source"],
                   self._conn.execute("SELECT d.path, d.label, d.duplicate_of, k.path, d.detail, d.source "
                                      "FROM items d LEFT JOIN items k ON k.id = d.duplicate_of "
                                      "WHERE d.status = 'duplicate' ORDER BY d.id"))
        _write_csv(self.root / CONFLICTS_CSV, ["id", "path", "label", "detail", "source"],
                   self._conn.execute("SELECT id, path, label, detail, source FROM items WHERE status = 'conflict' "
                                      "ORDER BY id"))
        return self.root / MANIFEST_CSV


def _write_csv(target: Path, header: list[str], rows: Iterable[tuple]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, target)
