"""``facexp clean apply``: carry out the review's decisions so ``facexp train`` reads the cleaned data.

A plain class-folder dataset: each relabelled file moves into its new class folder (a name already
taken there gets ``~1``). A ``facexp collect`` dataset: files stay where they are and the item's
label changes in the manifest, so ``manifest.csv`` (rewritten here) carries the new class. Files
set aside already sit in ``.quarantine/`` since the review; ``manifest.csv`` leaves them out.
Nothing is deleted, and applying twice changes nothing the second time.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from .store import QUARANTINE_DIR, CleanStore


@dataclass(frozen=True)
class ApplyReport:
    """What ``apply_decisions`` changed."""

    dataset_dir: Path
    plain_folder: bool
    relabelled: list[tuple[str, str, str]] = field(default_factory=list)  # (path now, old label, new label)
    set_aside: list[str] = field(default_factory=list)  # quarantine paths
    kept: int = 0
    skipped: list[str] = field(default_factory=list)  # why a decision could not be carried out
    n_usable: int = 0

    def summary_line(self) -> str:
        where = "moved to their class folders" if self.plain_folder else "relabelled in manifest.csv"
        line = (f"{len(self.relabelled)} relabelled ({where}), {len(self.set_aside)} set aside in "
                f"{self.dataset_dir / QUARANTINE_DIR}, {self.kept} kept; {self.n_usable} usable images")
        if self.skipped:
            line += f"; {len(self.skipped)} not applied: " + "; ".join(self.skipped[:3])
        train = self.dataset_dir if self.plain_folder else self.dataset_dir / "manifest.csv"
        return line + f". Next: facexp train {train}"


def apply_decisions(dataset_dir: str | os.PathLike) -> ApplyReport:
    """Apply every decision not applied yet; returns what changed.

    Raises:
        DataError: the folder has no manifest or was never reviewed.
        CollectError: another facexp run is writing the dataset.
    """
    from ..collect._lock import dataset_lock
    from ..collect.manifest import ManifestDB
    from .find import is_plain_folder

    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the dataset you reviewed with `facexp clean review`")
    with dataset_lock(root), CleanStore(root) as store:
        store.reconcile()
        with ManifestDB(root) as db:
            plain = is_plain_folder(db)
            labels = {r.id: (r.label, r.path) for r in db.records()}
        relabelled, aside, skipped, done, kept = [], [], [], [], 0
        for d in store.decisions(applied=False):
            item_id = d["item_id"]
            old_label, path = labels.get(item_id, (None, None))
            if path is None:
                skipped.append(f"item #{item_id} has no file any more")
                continue
            if d["action"] == "keep":
                kept += 1
            elif d["action"] == "aside":
                aside.append(path)
            else:
                new_path = _move_to_class(root, path, d["label"]) if plain else None
                if not store.relabel_item(item_id, d["label"], new_path=new_path):
                    if new_path is not None:  # put the file back: the table did not change
                        shutil.move(root / new_path, root / path)
                    skipped.append(f"{path}: already listed under {d['label']!r}")
                    continue
                relabelled.append((new_path or path, old_label, d["label"]))
            done.append(item_id)
        store.mark_applied(done)
        if not done and not store.decisions():
            raise DataError(f"{root}: no review decisions yet; run `facexp clean review {root}` first")
        with ManifestDB(root) as db:
            db.export()
            n_usable = db.counts().get("ok", 0) - sum(1 for r in db.records(statuses=("ok",))
                                                      if r.path.startswith("."))
    return ApplyReport(root, plain, relabelled, aside, kept, skipped, n_usable)


def _move_to_class(root: Path, path: str, label: str) -> str:
    """Move ``label_old/.../name`` to ``label/.../name`` (free name if taken); returns the new relative path."""
    parts = Path(path).parts
    target = root.joinpath(label, *parts[1:])
    n = 1
    while target.exists():
        target = target.with_name(f"{Path(parts[-1]).stem}~{n}{Path(parts[-1]).suffix}")
        n += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / path, target)
    return target.relative_to(root).as_posix()
