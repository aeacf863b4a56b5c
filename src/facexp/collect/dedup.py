"""Duplicates and label conflicts: exact (sha256) and near (perceptual hash within a Hamming radius).

Within one class a group keeps one image (the first collected) and marks the rest ``duplicate``; a group
that spans classes is a label ``conflict``: all its images leave the training manifest and are
listed in ``conflicts.csv`` for a person to decide. With ``apply`` duplicates are moved to
``_duplicates/`` — nothing is ever deleted.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .manifest import ManifestDB

DUPLICATES_DIR = "_duplicates"


@dataclass
class DedupReport:
    n_images: int = 0
    n_duplicates: int = 0
    n_conflict_groups: int = 0
    n_conflict_images: int = 0
    moved: int = 0
    conflicts_csv: Path | None = None
    groups: list[list[int]] = field(default_factory=list)


def _components(n: int, pairs: np.ndarray) -> list[list[int]]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def near_pairs(hashes: np.ndarray, threshold: int, chunk: int = 512) -> np.ndarray:
    """Index pairs (i < j) whose 64-bit hashes differ in at most ``threshold`` bits."""
    out = []
    for start in range(0, len(hashes), chunk):
        block = hashes[start:start + chunk]
        dist = np.bitwise_count(block[:, None] ^ hashes[None, :])
        i, j = np.nonzero(dist <= threshold)
        i += start
        keep = i < j
        out.append(np.stack([i[keep], j[keep]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=int)


def _resolve(db: ManifestDB, groups: list[list[int]], items: list) -> None:
    """Mark each group's duplicates (same label) or conflicts (several labels)."""
    for group in groups:
        members = [items[i] for i in group]
        labels = sorted({m.label for m in members})
        if len(labels) > 1:
            for m in members:
                db.update(m.id, status="conflict", reason=f"same image under labels {', '.join(labels)}")
            continue
        keep = min(members, key=lambda m: m.id)
        for m in members:
            if m.id != keep.id:
                db.update(m.id, status="duplicate", reason=f"duplicate-of {keep.id} ({keep.path})")


def _report(db: ManifestDB, n_images: int, groups: list[list[int]], items: list) -> DedupReport:
    return DedupReport(n_images, len(db.items(statuses=("duplicate",))),
                       sum(1 for g in groups if len({items[i].label for i in g}) > 1),
                       len(db.items(statuses=("conflict",))), groups=[[items[i].id for i in g] for g in groups])


def mark_exact_duplicates(db: ManifestDB) -> DedupReport:
    """Byte-identical images: cheap, so every collect run ends with it."""
    items = db.items(statuses=("ok",))
    by_sha: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_sha[it.sha256].append(i)
    groups = [g for g in by_sha.values() if len(g) > 1]
    _resolve(db, groups, items)
    return _report(db, len(items), groups, items)


def dedup(dataset_dir: str | os.PathLike, *, threshold: int = 4, apply: bool = False) -> DedupReport:
    """Find exact and near duplicates among the dataset's usable images; mark, report, optionally move.

    Args:
        threshold: the largest Hamming distance between 64-bit perceptual hashes that still
            counts as the same picture (0 = identical hashes; 4 catches re-encodes and resizes).
        apply: move duplicates into ``_duplicates/<label>/`` (conflicts stay, excluded from training).
    """
    root = Path(dataset_dir)
    db = ManifestDB(root)
    mark_exact_duplicates(db)
    items = [it for it in db.items(statuses=("ok",)) if it.phash]
    hashes = np.array([int(it.phash, 16) for it in items], dtype=np.uint64)
    groups = _components(len(items), near_pairs(hashes, threshold)) if len(items) else []
    _resolve(db, groups, items)
    report = _report(db, len(items), groups, items)
    report.conflicts_csv = root / "conflicts.csv"
    with open(report.conflicts_csv, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "label", "source", "labels"])
        for it in db.items(statuses=("conflict",)):
            writer.writerow([it.path, it.label, it.source, it.reason])
    if apply:
        report.moved = _move_duplicates(db, root)
    db.export_csv()
    db.close()
    return report


def _move_duplicates(db: ManifestDB, root: Path) -> int:
    moved = 0
    shared = {it.path for it in db.items(statuses=("ok", "conflict"))}
    for it in db.items(statuses=("duplicate",)):
        if not it.path or it.path.startswith(DUPLICATES_DIR) or it.path in shared:
            continue  # already moved, or the same file is the kept copy (content-hash names)
        source = root / it.path
        target = root / DUPLICATES_DIR / it.path
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
            moved += 1
        db.update(it.id, path=str(target.relative_to(root)))
    return moved
