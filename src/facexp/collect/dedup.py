"""Duplicates and label conflicts: exact (sha256) and near (perceptual hash within a Hamming radius).

Within a class one image of each set of duplicates is kept: the largest (most pixels, then most
bytes, then the first collected), because near-duplicates are mostly resized or recompressed
copies. The others become ``duplicate`` with ``duplicate_of`` pointing at the kept one; matches
are not chained (A~B and B~C does not make C a duplicate of A unless C is close to a kept image).
An image that matches an image of another class is a label ``conflict``: both leave the training
manifest and are listed in ``conflicts.csv`` for a person to decide.

The decisions are recomputed from the hashes on every run, so they always reflect the current
items and the threshold last chosen with ``facexp dedup`` (collect runs use exact matches only
until then). ``apply`` moves files aside into ``.duplicates/`` and ``.conflicts/`` (hidden, so a
folder-reading trainer skips them too) and moves them back when a later decision changes:
nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ._lock import dataset_lock
from .manifest import (CONFLICTS_CSV, DUPLICATES_CSV, FAILURES_CSV, MANIFEST_CSV, MANIFEST_DB, STORED, ItemRecord,
                       ManifestDB)
from .report import DedupReport

DUPLICATES_DIR = ".duplicates"
CONFLICTS_DIR = ".conflicts"
ASIDE_DIRS = (DUPLICATES_DIR, CONFLICTS_DIR)
DEFAULT_THRESHOLD = 4
INDEX_FILES = (MANIFEST_DB, MANIFEST_CSV, DUPLICATES_CSV, CONFLICTS_CSV, FAILURES_CSV)  # what indexing writes
_META_THRESHOLD = "dedup_threshold"


def find_near_pairs(hashes: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All index pairs (i < j) of 64-bit hashes at most ``threshold`` bits apart, and their distances.

    Blocked all-pairs comparison with numpy: exact for any threshold, O(n²) but about a second
    for 30,000 hashes, with memory bounded by the block size.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    block = max(1, 2_000_000 // max(n, 1))
    out_i, out_j, out_d = [], [], []
    for start in range(0, n, block):
        rows = hashes[start:start + block]
        dist = np.bitwise_count(rows[:, None] ^ hashes[None, start:])
        ii, jj = np.nonzero(dist <= threshold)
        keep = jj > ii  # columns start at `start`, so jj > ii means j > i globally
        out_i.append(ii[keep] + start)
        out_j.append(jj[keep] + start)
        out_d.append(dist[ii[keep], jj[keep]])
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d).astype(np.int64)


def _exact_pairs(records: list[ItemRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of byte-identical images (``records`` holds one image per sha256 and class, so these
    are the label conflicts)."""
    groups: dict[str | None, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        groups[record.sha256].append(index)
    pairs = [(a, b) for members in groups.values() for k, a in enumerate(members) for b in members[k + 1:]]
    arr = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1], np.zeros(len(arr), dtype=np.int64)


def _decide(records: list[ItemRecord], pairs) -> tuple[dict[int, tuple], int]:
    """(status, reason, detail, duplicate_of) per record index, and the number of conflict groups."""
    n = len(records)
    # Preference: most pixels, then most bytes, then first collected.
    order = sorted(range(n), key=lambda k: (-(records[k].width or 0) * (records[k].height or 0),
                                            -(records[k].n_bytes or 0), records[k].id))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    a, b, d = pairs
    swap = rank[a] > rank[b]
    better, worse = np.where(swap, b, a), np.where(swap, a, b)
    labels = np.array([r.label for r in records], dtype=object)
    same = labels[better] == labels[worse] if len(better) else np.zeros(0, dtype=bool)

    keeper = np.arange(n)
    distance = np.zeros(n, dtype=np.int64)
    sel = np.nonzero(same)[0]
    sel = sel[np.lexsort((rank[better[sel]], d[sel], rank[worse[sel]]))]  # by worse's rank, then distance
    for k in sel:
        w, g = int(worse[k]), int(better[k])
        if keeper[w] == w and keeper[g] == g:  # w not yet placed, g is kept
            keeper[w], distance[w] = g, int(d[k])

    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    others: dict[int, set[int]] = defaultdict(set)
    for k in np.nonzero(~same)[0]:
        x, y = int(keeper[better[k]]), int(keeper[worse[k]])
        others[x].add(y)
        others[y].add(x)
        parent[find(x)] = find(y)

    decisions: dict[int, tuple] = {}
    for k, record in enumerate(records):
        if keeper[k] != k:
            kept = records[keeper[k]]
            how = "identical bytes" if kept.sha256 == record.sha256 else f"perceptual distance {distance[k]}"
            decisions[k] = ("duplicate", "duplicate", f"duplicate of #{kept.id} {kept.path} ({how})", kept.id)
        elif k in others:
            mates = sorted(others[k], key=lambda m: records[m].id)
            where = ", ".join(f"#{records[m].id} under {records[m].label!r}" for m in mates[:5])
            more = f" and {len(mates) - 5} more" if len(mates) > 5 else ""
            decisions[k] = ("conflict", "conflict", f"same picture as {where}{more}", None)
        else:
            decisions[k] = ("ok", None, None, None)
    return decisions, len({find(k) for k in others})


def mark_duplicates(db: ManifestDB, *, threshold: int | None) -> int:
    """Recompute duplicate/conflict statuses of every stored image; returns the number of conflict groups.

    Byte-identical copies within a class are settled first (each follows the first one), so the
    all-pairs search runs over distinct pictures: a placeholder image served 5,000 times costs
    one comparison row, not 12 million pairs.

    Args:
        threshold: largest Hamming distance between 64-bit perceptual hashes that still counts as
            the same picture; ``None`` compares bytes only (sha256).
    """
    records = db.records(statuses=STORED)
    first: dict[tuple[str | None, str], int] = {}
    for k, record in enumerate(records):
        first.setdefault((record.sha256, record.label), k)
    reps = sorted(set(first.values()))
    distinct = [records[k] for k in reps]
    if threshold is None:
        pairs = _exact_pairs(distinct)
    else:
        pairs = find_near_pairs(np.array([int(r.phash, 16) for r in distinct], dtype=np.uint64), threshold)
    decided, n_groups = _decide(distinct, pairs)
    decisions = {k: decided[pos] for pos, k in enumerate(reps)}
    by_id = {r.id: r for r in records}
    for k, record in enumerate(records):
        if k in decisions:
            continue
        rep_index = first[(record.sha256, record.label)]
        rep, (rep_status, _, _, rep_keeper) = records[rep_index], decisions[rep_index]
        if rep_status == "duplicate":  # the first copy is itself a near duplicate: follow it
            kept = by_id[rep_keeper]
            detail = f"duplicate of #{kept.id} {kept.path} (identical bytes to #{rep.id}, its duplicate)"
        else:
            kept = rep
            detail = f"duplicate of #{kept.id} {kept.path} (identical bytes)"
        decisions[k] = ("duplicate", "duplicate", detail, kept.id)
    changes = []
    for k, record in enumerate(records):
        status, reason, detail, dup = decisions[k]
        if (status, reason, detail, dup) != (record.status, record.reason, record.detail, record.duplicate_of):
            changes.append((record.id, status, reason, detail, dup))
    if changes:
        db.set_dedup(changes)
    return n_groups


def _base_path(path: str) -> str:
    head, _, rest = path.partition("/")
    return rest if head in ASIDE_DIRS else path


def check_files(db: ManifestDB) -> None:
    """Find files moved by an interrupted ``--apply`` (in a class folder or set aside), then mark
    the usable items whose file is really gone as failed ``missing_file``."""
    for record in db.records(statuses=STORED):
        if record.path and not (db.root / record.path).is_file():
            base = _base_path(record.path)
            for candidate in (base, *(f"{d}/{base}" for d in ASIDE_DIRS)):
                if (db.root / candidate).is_file():
                    db.set_path(record.path, candidate)
                    break
    db.mark_missing_files()


def _decide_all(db: ManifestDB, threshold: int | None) -> int:
    """Recompute the decisions until no usable item lacks its file (an image that stops being a
    duplicate may have shared a file that is gone); returns the number of conflict groups."""
    n_groups = mark_duplicates(db, threshold=threshold)
    while db.mark_missing_files():
        n_groups = mark_duplicates(db, threshold=threshold)
    return n_groups


def settle(db: ManifestDB) -> None:
    """End of every run: check files, recompute duplicates with the dataset's threshold, write the CSVs."""
    check_files(db)
    stored = db.get_meta(_META_THRESHOLD)
    _decide_all(db, int(stored) if stored is not None else None)
    db.export()


def _same_bytes(path: Path, sha256: str | None) -> bool:
    return sha256 is not None and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def _free_name(target: Path) -> Path:
    n = 1
    while (candidate := target.with_name(f"{target.stem}~{n}{target.suffix}")).exists():
        n += 1
    return candidate


def _apply_moves(db: ManifestDB) -> tuple[int, int]:
    """Put each file where its items' statuses say: class folder if any is ok, else aside."""
    by_path: dict[str, list[ItemRecord]] = defaultdict(list)
    for record in db.records(statuses=STORED):
        by_path[record.path].append(record)
    moved = restored = 0
    for path, records in by_path.items():
        statuses = {r.status for r in records}
        base = _base_path(path)
        wanted = base if "ok" in statuses else f"{CONFLICTS_DIR if 'conflict' in statuses else DUPLICATES_DIR}/{base}"
        if wanted == path:
            continue
        source, target = db.root / path, db.root / wanted
        if not source.is_file():
            continue  # a duplicate whose file was deleted by hand: nothing to move
        if target.exists():
            if _same_bytes(target, records[0].sha256):  # the same picture is already there: point to it
                db.set_path(path, wanted)
                continue
            target = _free_name(target)
            wanted = target.relative_to(db.root).as_posix()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        db.set_path(path, wanted)
        if wanted.startswith(ASIDE_DIRS):
            moved += 1
        else:
            restored += 1
    return moved, restored


def is_collected(dataset_dir: str | os.PathLike) -> bool:
    """Whether ``dataset_dir`` has a manifest; ``dedup`` indexes a folder without one in place first,
    writing ``INDEX_FILES`` into it, which its owner should hear about before it happens."""
    return (Path(dataset_dir) / MANIFEST_DB).exists()


def dedup(dataset_dir: str | os.PathLike, *, threshold: int = DEFAULT_THRESHOLD, apply: bool = False) -> DedupReport:
    """Find exact and near-duplicate images and label conflicts in a dataset; optionally move them aside.

    A folder that was never collected (class sub-folders only) is indexed in place first, which
    adds a manifest to it but renames nothing.

    Args:
        dataset_dir: a collected dataset, or any folder of class sub-folders.
        threshold: largest Hamming distance between 64-bit perceptual hashes still counted as the
            same picture (0: identical hashes; 4 catches resizes and recompression). Stored: later
            collect runs into this dataset use it too.
        apply: move duplicates to ``.duplicates/`` and conflicts to ``.conflicts/`` (never deletes).

    Raises:
        ConfigError: the threshold is outside 0..32.
        DataError: no such folder, or no images in class sub-folders.
        CollectError: another run is writing the dataset.

    Example:
        >>> dedup("data/raw", threshold=4).summary_line()  # doctest: +SKIP
        '530 images: 12 duplicates → data/raw/duplicates.csv, 4 images in 2 label conflicts → ...'
    """
    if not 0 <= threshold <= 32:
        raise ConfigError(f"--threshold must be between 0 and 32 bits (of 64); got {threshold}")
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass a collected dataset or a folder of class sub-folders")
    n_indexed = 0
    if not is_collected(root):
        from .folder import collect_folder

        n_indexed = collect_folder(root, root).n_items
    with dataset_lock(root), ManifestDB(root) as db:
        check_files(db)
        db.set_meta(_META_THRESHOLD, str(threshold))
        n_groups = _decide_all(db, threshold)
        moved, restored = _apply_moves(db) if apply else (0, 0)
        db.export()
        counts = db.counts()
    return DedupReport(root, threshold, sum(counts.get(s, 0) for s in STORED), counts.get("duplicate", 0),
                       counts.get("conflict", 0), n_groups, n_indexed, moved, restored, apply)
