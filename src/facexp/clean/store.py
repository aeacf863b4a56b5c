"""Suspects and review decisions, kept in the dataset's ``manifest.sqlite`` beside the collect items.

Three tables join ``items`` (the collect manifest; a plain folder gets one when ``clean find``
indexes it in place, as ``facexp dedup`` does):

- ``clean_suspects``: the ranked list ``clean find`` wrote (also in ``clean_suspects.csv``);
- ``clean_decisions``: one row per reviewed image: ``keep``, ``relabel`` (to ``label``) or
  ``aside``; ``applied`` once ``clean apply`` has acted on it;
- ``clean_log``: every decision and undo, in order, with the decision it replaced: the undo log.

Every decision is one transaction, committed before the page is answered, so a killed server or
a second tab loses nothing. Setting an image aside moves its file at once into ``.quarantine/``
(same relative path; a hidden folder, so folder readers and ``manifest.csv`` leave it out) and
records the new path in ``items``; nothing is ever deleted. The move happens inside the
transaction: if the process dies in between, ``reconcile`` puts file and table back in step.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from ..errors import DataError
from .rank import Suspect

QUARANTINE_DIR = ".quarantine"
SUSPECTS_CSV = "clean_suspects.csv"
ACTIONS = ("keep", "relabel", "aside")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clean_suspects (
    rank INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, path TEXT NOT NULL, given TEXT NOT NULL,
    suggested TEXT NOT NULL, score REAL NOT NULL, reasons TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clean_decisions (
    item_id INTEGER PRIMARY KEY,
    action TEXT NOT NULL CHECK (action IN ('keep', 'relabel', 'aside')),
    label TEXT,                 -- the new class of a relabel
    path TEXT NOT NULL,         -- where the file was when decided (relative to the dataset)
    decided TEXT NOT NULL,
    applied INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS clean_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, item_id INTEGER NOT NULL, action TEXT NOT NULL, label TEXT,
    before TEXT,                -- the decision this one replaced, as JSON (NULL: none)
    at TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def quarantine_path(path: str) -> str:
    return path if path.startswith(QUARANTINE_DIR + "/") else f"{QUARANTINE_DIR}/{path}"


def original_path(path: str) -> str:
    return path.removeprefix(QUARANTINE_DIR + "/")


class CleanStore:
    """The clean tables of ``DATASET/manifest.sqlite``; safe to share between threads (one lock).

    Raises:
        DataError: the dataset has no manifest (run ``facexp clean find`` first).
    """

    def __init__(self, dataset_dir: str | os.PathLike):
        from ..collect.manifest import MANIFEST_DB

        self.root = Path(dataset_dir)
        db = self.root / MANIFEST_DB
        if not db.is_file():
            raise DataError(f"{self.root}: no {MANIFEST_DB}; run `facexp clean find {self.root}` first")
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a decision survives a power cut, not only a kill
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> CleanStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _transaction(self):
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # --- suspects ----------------------------------------------------------------------------
    def write_suspects(self, suspects: Iterable[Suspect]) -> None:
        """Replace the ranked list (decisions already taken stay)."""
        with self._transaction() as c:
            c.execute("DELETE FROM clean_suspects")
            c.executemany("INSERT INTO clean_suspects VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          ((rank, s.item_id, s.path, s.given, s.suggested, s.score, json.dumps(list(s.reasons)),
                            s.detail) for rank, s in enumerate(suspects, 1)))

    def suspects(self) -> list[dict]:
        """The ranked list with each image's current path and decision (None: undecided)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.rank, s.item_id, COALESCE(i.path, s.path), s.given, s.suggested, s.score, s.reasons, "
                "s.detail, d.action, d.label, d.applied FROM clean_suspects s LEFT JOIN items i ON i.id = s.item_id "
                "LEFT JOIN clean_decisions d ON d.item_id = s.item_id ORDER BY s.rank").fetchall()
        return [{"rank": r[0], "item_id": r[1], "path": r[2], "given": r[3], "suggested": r[4], "score": r[5],
                 "reasons": json.loads(r[6]), "detail": r[7],
                 "decision": None if r[8] is None else {"action": r[8], "label": r[9], "applied": bool(r[10])}}
                for r in rows]

    def classes(self) -> list[str]:
        """The dataset's classes: labels of its stored images."""
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT label FROM items WHERE status IN ('ok', 'duplicate', "
                                      "'conflict') ORDER BY label").fetchall()
        return [r[0] for r in rows]

    def item_path(self, item_id: int) -> Path | None:
        """The file of a listed suspect (None for any other id: the page can read suspects only)."""
        with self._lock:
            row = self._conn.execute("SELECT i.path FROM items i JOIN clean_suspects s ON s.item_id = i.id "
                                     "WHERE i.id = ?", (item_id,)).fetchone()
        return self.root / row[0] if row and row[0] else None

    # --- decisions ---------------------------------------------------------------------------
    def decisions(self, *, applied: bool | None = None) -> list[dict]:
        query = "SELECT item_id, action, label, path, decided, applied FROM clean_decisions"
        if applied is not None:
            query += f" WHERE applied = {int(applied)}"
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY item_id").fetchall()
        return [dict(zip(("item_id", "action", "label", "path", "decided", "applied"), r)) for r in rows]

    def _decision(self, c, item_id: int) -> dict | None:
        row = c.execute("SELECT action, label, path, decided, applied FROM clean_decisions WHERE item_id = ?",
                        (item_id,)).fetchone()
        return None if row is None else dict(zip(("action", "label", "path", "decided", "applied"), row))

    def _item(self, c, item_id: int) -> tuple[str, str]:
        row = c.execute("SELECT path, label FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None or row[0] is None:
            raise DataError(f"item #{item_id} is not an image of this dataset")
        return row

    def decide(self, item_id: int, action: str, label: str | None = None) -> dict:
        """Record one decision (replacing the image's earlier one) and log it; returns the decision.

        Raises:
            DataError: unknown item or action, a relabel to an unknown class, or an applied decision.
        """
        if action not in ACTIONS:
            raise DataError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
        if action == "relabel" and label not in self.classes():
            raise DataError(f"cannot relabel to {label!r}: the classes are {', '.join(self.classes())}")
        with self._transaction() as c:
            path, given = self._item(c, item_id)
            before = self._decision(c, item_id)
            if before and before["applied"]:
                raise DataError(f"item #{item_id}: its decision was applied by `facexp clean apply`; "
                                "review the dataset again with `facexp clean find`")
            if action == "relabel" and label == given:
                action, label = "keep", None
            decision = {"action": action, "label": label if action == "relabel" else None,
                        "path": original_path(path), "decided": _now(), "applied": 0}
            c.execute("INSERT OR REPLACE INTO clean_decisions VALUES (?, ?, ?, ?, ?, 0)",
                      (item_id, decision["action"], decision["label"], decision["path"], decision["decided"]))
            c.execute("INSERT INTO clean_log (item_id, action, label, before, at) VALUES (?, ?, ?, ?, ?)",
                      (item_id, decision["action"], decision["label"], json.dumps(before) if before else None, _now()))
            self._place(c, item_id, path, aside=action == "aside")
        return decision

    def undo(self) -> dict | None:
        """Take back the latest decision not yet undone (from any tab); returns {item_id, decision} or None."""
        with self._transaction() as c:
            row = c.execute("SELECT seq, item_id, before FROM clean_log WHERE undone = 0 ORDER BY seq DESC "
                            "LIMIT 1").fetchone()
            if row is None:
                return None
            seq, item_id, before_json = row
            current = self._decision(c, item_id)
            if current and current["applied"]:
                raise DataError(f"item #{item_id}: its decision was already applied by `facexp clean apply`")
            before = json.loads(before_json) if before_json else None
            if before is None:
                c.execute("DELETE FROM clean_decisions WHERE item_id = ?", (item_id,))
            else:
                c.execute("INSERT OR REPLACE INTO clean_decisions VALUES (?, ?, ?, ?, ?, ?)",
                          (item_id, before["action"], before["label"], before["path"], before["decided"],
                           before["applied"]))
            c.execute("UPDATE clean_log SET undone = 1 WHERE seq = ?", (seq,))
            path, _ = self._item(c, item_id)
            self._place(c, item_id, path, aside=bool(before and before["action"] == "aside"))
        return {"item_id": item_id, "decision": before}

    def _place(self, c, item_id: int, path: str, *, aside: bool) -> None:
        """Move the file into (or back out of) the quarantine folder and record where it is."""
        wanted = quarantine_path(path) if aside else original_path(path)
        if wanted == path:
            return
        source, target = self.root / path, self.root / wanted
        if target.exists():
            raise DataError(f"{target} already exists; move it away, then decide again")
        target.parent.mkdir(parents=True, exist_ok=True)
        c.execute("UPDATE items SET path = ?, updated = ? WHERE path = ?", (wanted, _now(), path))
        shutil.move(source, target)  # last: if it fails, the transaction rolls the table back

    def reconcile(self) -> int:
        """After a crash between a move and its commit: point each item at where its file really is,
        then move files to where their decisions say. Returns the number of items fixed."""
        fixed = 0
        with self._transaction() as c:
            rows = c.execute("SELECT i.id, i.path, d.action FROM items i LEFT JOIN clean_decisions d "
                             "ON d.item_id = i.id WHERE i.path IS NOT NULL").fetchall()
            for item_id, path, action in rows:
                if not (self.root / path).exists():
                    other = original_path(path) if path.startswith(QUARANTINE_DIR + "/") else quarantine_path(path)
                    if (self.root / other).is_file():
                        c.execute("UPDATE items SET path = ? WHERE id = ?", (other, item_id))
                        path, fixed = other, fixed + 1
                if (self.root / path).is_file() and path.startswith(QUARANTINE_DIR + "/") != (action == "aside"):
                    self._place(c, item_id, path, aside=action == "aside")
                    fixed += 1
        return fixed

    def mark_applied(self, item_ids: Iterable[int]) -> None:
        with self._transaction() as c:
            c.executemany("UPDATE clean_decisions SET applied = 1 WHERE item_id = ?", ((i,) for i in item_ids))

    def relabel_item(self, item_id: int, label: str, *, new_path: str | None = None) -> bool:
        """Give an item its new class (and, for a plain folder, its moved file's path and source).

        Returns False when the same source is already registered under ``label`` (nothing changed).
        """
        with self._transaction() as c:
            try:
                if new_path is None:
                    c.execute("UPDATE items SET label = ?, updated = ? WHERE id = ?", (label, _now(), item_id))
                else:
                    c.execute("UPDATE items SET label = ?, source = ?, path = ?, updated = ? WHERE id = ?",
                              (label, new_path, new_path, _now(), item_id))
            except sqlite3.IntegrityError:
                return False
        return True
