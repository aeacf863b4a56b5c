"""``facexp clean find``: rank every image of a dataset by how likely it needs a person's look."""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .features import read_views
from .rank import LABEL_ISSUE, N_FOLDS, Suspect, cross_val_probs, label_issues, merge_reasons, model_probs
from .store import QUARANTINE_DIR, SUSPECTS_CSV, CleanStore

log = logging.getLogger(__name__)

METHODS = ("cv-head", "model")


@dataclass(frozen=True)
class CleanReport:
    """What ``find_issues`` found: the ranked suspects and how the dataset was read."""

    dataset_dir: Path
    classes: list[str]
    n_images: int  # images considered (set-aside ones excluded)
    n_read: int  # images whose face went through the model
    method: str
    suspects: list[Suspect]
    csv_path: Path
    seconds: float
    unreadable: list[str] = field(default_factory=list)  # files collect could not verify (failures.csv)

    def counts(self) -> dict[str, int]:
        """Suspects per reason, most frequent first (an image with two reasons counts in both)."""
        return dict(Counter(r for s in self.suspects for r in s.reasons).most_common())

    def summary_line(self) -> str:
        parts = ", ".join(f"{n} {reason}" for reason, n in self.counts().items()) or "none"
        return (f"{len(self.suspects)} suspects among {self.n_images} images ({parts}) → {self.csv_path}; "
                f"review them with `facexp clean review {self.dataset_dir}`")

    def to_dict(self) -> dict:
        return {"dataset": str(self.dataset_dir), "classes": self.classes, "n_images": self.n_images,
                "n_read": self.n_read, "method": self.method, "seconds": round(self.seconds, 2),
                "counts": self.counts(), "unreadable": self.unreadable,
                "suspects": [s.to_dict() for s in self.suspects]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def _repr_html_(self) -> str:
        """Jupyter: the suspects as a grid (image, given → suggested label, score, reason)."""
        from .display import suspects_html

        return suspects_html(self)


def open_dataset(dataset_dir: str | os.PathLike) -> Path:
    """The dataset folder; a plain class-folder dataset is indexed in place first (new files join the manifest).

    Raises:
        DataError: no such folder, or no image in class sub-folders.
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass a folder of class sub-folders or a `facexp collect` dataset")
    from ..collect import MANIFEST_DB, ManifestDB, collect_folder

    if (root / MANIFEST_DB).exists():
        with ManifestDB(root) as db:
            if not is_plain_folder(db):
                return root  # a collect dataset: its manifest is the truth
    collect_folder(root, root)  # (re)index in place: hashes, sizes, exact duplicates; nothing copied or renamed
    return root


def is_plain_folder(db) -> bool:
    """True when the dataset is a class-folder tree indexed in place (its files are its labels)."""
    return {r.origin for r in db.records()} == {f"folder:{db.root.resolve()}"}


def find_issues(dataset_dir: str | os.PathLike, *, model: str | os.PathLike | None = None, method: str = "cv-head",
                detect: bool | None = None, n_folds: int = N_FOLDS, threshold: int | None = None,
                threads: int | None = None, seed: int = 0) -> CleanReport:
    """Find likely wrong labels, duplicates, conflicts and non-faces; rank them and store the list.

    Out-of-sample probabilities come from the model's pooled features and a k-fold cross-validated
    logistic-regression head (``method="cv-head"``) or from the model's own probabilities over the
    dataset's classes (``method="model"``); confident learning (cleanlab) then flags label issues.
    The ranked list goes to ``DATASET/clean_suspects.csv`` and the manifest.

    Args:
        dataset_dir: a folder of class sub-folders (indexed in place: a manifest is added, nothing
            moved) or a ``facexp collect`` dataset.
        model: a model directory; None: the shipped default model.
        method: ``cv-head`` or ``model``.
        detect: find faces first; None: in every image that is not a small square face crop.
        n_folds: cross-validation folds.
        threshold: perceptual-hash distance for near-duplicates (default: the dataset's, else 4).
        threads: ONNX Runtime threads.

    Raises:
        ConfigError: unknown method.
        DataError: no such folder, no readable image, fewer than 2 classes.
        ModelError: the model cannot be loaded.

    Example:
        >>> find_issues("data/raw").suspects[0].reason  # doctest: +SKIP
        'label issue'
    """
    if method not in METHODS:
        raise ConfigError(f"the method parameter must be one of {', '.join(METHODS)}; got {method!r}")
    t0 = time.perf_counter()
    root = open_dataset(dataset_dir)
    from ..bundle import load_bundle
    from ..collect._lock import dataset_lock
    from ..collect.dedup import DEFAULT_THRESHOLD, find_near_pairs, settle
    from ..collect.manifest import STORED, ManifestDB
    from ..predict import default_model_dir

    with dataset_lock(root), ManifestDB(root) as db:
        settle(db)
        records = [r for r in db.records(statuses=STORED) if not r.path.startswith(QUARANTINE_DIR + "/")]
        unreadable = [f"{r.source} ({r.reason})" for r in db.records(statuses=("failed",))]
        stored = db.get_meta("dedup_threshold")
    if not records:
        raise DataError(f"{root}: no readable images" + (f" ({len(unreadable)} could not be read; see "
                                                          f"{root / 'failures.csv'})" if unreadable else ""))
    classes = sorted({r.label for r in records})
    if len(classes) < 2:
        raise DataError(f"{root}: only one class ({classes[0]}); finding wrong labels needs at least 2 classes "
                        "(one sub-folder per class)")
    reasons: list[list[str]] = [[] for _ in records]
    details = [""] * len(records)
    for k, r in enumerate(records):
        if r.status in ("duplicate", "conflict"):
            reasons[k].append(r.status)
            details[k] = r.detail or ""
    _near_duplicates(records, reasons, details, threshold if threshold is not None else
                     int(stored) if stored is not None else DEFAULT_THRESHOLD, find_near_pairs)

    bundle = load_bundle(model if model is not None else default_model_dir(), lazy=True)
    read = [k for k, r in enumerate(records) if r.status != "duplicate"]
    views = read_views([root / records[k].path for k in read], bundle, detect=detect, threads=threads)
    for k, view in zip(read, views):
        reasons[k].extend(view.reasons)
        details[k] = "; ".join(d for d in (details[k], view.detail) if d)
    usable = [(k, v) for k, v in zip(read, views) if v.features is not None]
    labels = np.array([classes.index(records[k].label) for k, _ in usable], dtype=np.int64)
    suggested = [""] * len(records)
    label_scores: list[float | None] = [None] * len(records)
    if len(usable) and len(np.unique(labels)) >= 2:
        if method == "model":
            probs = model_probs(np.stack([v.probs for _, v in usable]), bundle.classes, classes)
        else:
            _check_class_sizes(labels, classes, root)
            probs = cross_val_probs(np.stack([v.features for _, v in usable]), labels, n_folds=n_folds, seed=seed)
        mask, score = label_issues(labels, probs)
        for j, (k, _) in enumerate(usable):
            suggested[k] = classes[int(probs[j].argmax())]
            label_scores[k] = float(score[j])
            if mask[j]:
                reasons[k].insert(0, LABEL_ISSUE)
    suspects = merge_reasons([r.id for r in records], [r.path for r in records], [r.label for r in records],
                             suggested, reasons, label_scores, details)
    log.info("%s: %d images, %d faces read, method %s: %d suspects", root, len(records), len(usable), method,
             len(suspects))
    csv_path = root / SUSPECTS_CSV
    write_suspects_csv(csv_path, suspects)
    with CleanStore(root) as store:
        store.write_suspects(suspects)
    return CleanReport(root, classes, len(records), len(usable), method, suspects, csv_path,
                       time.perf_counter() - t0, unreadable)


def _check_class_sizes(labels: np.ndarray, classes: list[str], root: Path) -> None:
    counts = np.bincount(labels, minlength=len(classes))
    small = [f"{c} ({n})" for c, n in zip(classes, counts) if n < 2]
    if small:
        raise DataError(f"{root}: class(es) {', '.join(small)} have fewer than 2 readable face images; "
                        "cross-validation needs 2 or more per class: add images or remove the folder")


def _near_duplicates(records, reasons, details, threshold: int, find_near_pairs) -> None:
    """Add near-duplicate and cross-class conflict reasons the manifest's statuses do not hold yet."""
    ok = [k for k, r in enumerate(records) if r.status == "ok" and r.phash]
    if len(ok) < 2:
        return
    hashes = np.array([int(records[k].phash, 16) for k in ok], dtype=np.uint64)
    for i, j, d in zip(*find_near_pairs(hashes, threshold)):
        a, b = records[ok[i]], records[ok[j]]
        if a.label != b.label:
            for k, other in ((ok[i], b), (ok[j], a)):
                if "conflict" not in reasons[k]:
                    reasons[k].append("conflict")
                    details[k] = f"same picture as {other.path} under {other.label!r} (distance {d})"
        elif "duplicate" not in reasons[ok[j]]:
            reasons[ok[j]].append("duplicate")
            details[ok[j]] = f"near-duplicate of {a.path} (distance {d})"


def write_suspects_csv(target: Path, suspects: list[Suspect]) -> None:
    """The ranked list as CSV (rank, path, given, suggested, score, reason, detail, item_id), atomically."""
    tmp = target.with_name(f".{target.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rank", "path", "given", "suggested", "score", "reason", "detail", "item_id"])
        for rank, s in enumerate(suspects, 1):
            writer.writerow([rank, s.path, s.given, s.suggested, f"{s.score:.4f}", s.reason, s.detail, s.item_id])
    os.replace(tmp, target)
