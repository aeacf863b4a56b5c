"""The dataset manifest: one SQLite file per dataset, the single truth for later stages.

Why SQLite and not CSV: every item's status changes many times (pending → ok/failed →
duplicate/conflict) while downloads run in threads and may be killed at any moment. SQLite gives
atomic, durable single-row updates (WAL journal), so a crash or Ctrl-C leaves a consistent table
and a rerun resumes from it; a CSV would have to be rewritten whole after every change. A plain
``manifest.csv`` (path,label of usable images) is exported beside it for `facexp train`.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

MANIFEST_DB = "manifest.sqlite"
MANIFEST_CSV = "manifest.csv"
STATUSES = ("pending", "ok", "failed", "duplicate", "conflict")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,            -- URL, data: URI digest, or original file path
    label TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    reason TEXT,                     -- why it failed, or the item it duplicates / conflicts with
    sha256 TEXT,
    phash TEXT,
    width INTEGER,
    height INTEGER,
    format TEXT,
    path TEXT,                       -- relative to the dataset folder
    attempts INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (source, label)
);
CREATE INDEX IF NOT EXISTS items_sha ON items (sha256);
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Item:
    id: int
    source: str
    label: str
    status: str
    reason: str | None
    sha256: str | None
    phash: str | None
    path: str | None


class ManifestDB:
    """Thread-safe access to ``DATASET/manifest.sqlite``."""

    def __init__(self, dataset_dir: str | os.PathLike):
        self.root = Path(dataset_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / MANIFEST_DB
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def add(self, source: str, label: str) -> int:
        """Register an item once and return its id; an existing (source, label) keeps its status (the resume)."""
        now = _now()
        with self._lock:
            self._conn.execute("INSERT OR IGNORE INTO items (source, label, created, updated) VALUES (?, ?, ?, ?)",
                               (source, label, now, now))
            return self._conn.execute("SELECT id FROM items WHERE source = ? AND label = ?", (source, label)).fetchone()[0]

    def add_many(self, pairs: list[tuple[str, str]]) -> None:
        now = _now()
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR IGNORE INTO items (source, label, created, updated) VALUES (?, ?, ?, ?)",
                                   [(s, lab, now, now) for s, lab in pairs])
            self._conn.execute("COMMIT")

    def update(self, item_id: int, *, count_attempt: bool = False, **fields) -> None:
        """Change one item atomically; ``count_attempt`` when a download attempt just ended."""
        fields["updated"] = _now()
        columns = ", ".join(f"{k} = ?" for k in fields) + (", attempts = attempts + 1" if count_attempt else "")
        with self._lock:
            self._conn.execute(f"UPDATE items SET {columns} WHERE id = ?", (*fields.values(), item_id))

    def items(self, *, statuses: tuple[str, ...] | None = None) -> list[Item]:
        query = "SELECT id, source, label, status, reason, sha256, phash, path FROM items"
        args: tuple = ()
        if statuses:
            query += f" WHERE status IN ({', '.join('?' * len(statuses))})"
            args = statuses
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
        return [Item(*row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._conn.execute("SELECT status, COUNT(*) FROM items GROUP BY status").fetchall())

    def failure_reasons(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT reason, COUNT(*) FROM items WHERE status = 'failed' GROUP BY reason")
            return {reason.split(":")[0]: n for reason, n in rows.fetchall()}

    def export_csv(self) -> Path:
        """Write ``manifest.csv`` (path,label) of the usable images: ok, not duplicates, not conflicts."""
        target = self.root / MANIFEST_CSV
        tmp = target.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["path", "label"])
            for item in self.items(statuses=("ok",)):
                writer.writerow([item.path, item.label])
        os.replace(tmp, target)
        return target
