"""What a collect or dedup run returns: counts for the summary table plus every item's record."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .manifest import CONFLICTS_CSV, DUPLICATES_CSV, FAILURES_CSV, MANIFEST_CSV, ItemRecord, ManifestDB


@dataclass(frozen=True)
class CollectReport:
    """The outcome of the items of one collect run (as they stand in the manifest afterwards).

    ``dataset_counts`` covers the whole dataset, which may hold items of earlier runs.
    ``skipped_lines`` are (list file, line number, text) of export lines that are not URLs.
    """

    dataset_dir: Path
    records: tuple[ItemRecord, ...]
    dataset_counts: dict[str, int]
    skipped_lines: tuple[tuple[str, int, str], ...] = ()

    def _count(self, status: str) -> int:
        return sum(1 for r in self.records if r.status == status)

    @property
    def n_items(self) -> int:
        return len(self.records)

    @property
    def n_ok(self) -> int:
        return self._count("ok")

    @property
    def n_failed(self) -> int:
        return self._count("failed")

    @property
    def n_duplicates(self) -> int:
        return self._count("duplicate")

    @property
    def n_conflicts(self) -> int:
        return self._count("conflict")

    @property
    def n_pending(self) -> int:
        return self._count("pending")

    @property
    def failures(self) -> dict[str, int]:
        """Failed items per reason, most frequent first."""
        return dict(Counter(r.reason or "unknown" for r in self.records if r.status == "failed").most_common())

    @property
    def manifest_csv(self) -> Path:
        return self.dataset_dir / MANIFEST_CSV

    @property
    def failures_csv(self) -> Path:
        return self.dataset_dir / FAILURES_CSV

    def with_skipped(self, skipped: tuple[tuple[str, int, str], ...]) -> CollectReport:
        return replace(self, skipped_lines=skipped)

    def summary_line(self) -> str:
        """One line for logs: "412 ok, 23 failed, 5 duplicates, 2 conflicts → data/raw/manifest.csv"."""
        usable = self.dataset_counts.get("ok", 0)
        line = (f"{self.n_ok} ok, {self.n_failed} failed, {self.n_duplicates} duplicates, {self.n_conflicts} "
                f"label conflicts → {self.manifest_csv} ({usable} usable images in the dataset)")
        if self.n_failed:
            line += f"; failures in {self.failures_csv}"
        if self.n_pending:
            line += f"; {self.n_pending} unfinished: rerun to resume"
        return line

    def to_dict(self) -> dict:
        return {"dataset_dir": str(self.dataset_dir), "n_items": self.n_items, "n_ok": self.n_ok,
                "n_failed": self.n_failed, "failures": self.failures, "n_duplicates": self.n_duplicates,
                "n_conflicts": self.n_conflicts, "n_pending": self.n_pending, "dataset_counts": self.dataset_counts,
                "manifest_csv": str(self.manifest_csv),
                "skipped_lines": [{"file": f, "line": n, "text": t} for f, n, t in self.skipped_lines],
                "records": [r.to_dict() for r in self.records]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


def build_report(db: ManifestDB, records: list[ItemRecord]) -> CollectReport:
    return CollectReport(db.root, tuple(records), db.counts())


@dataclass(frozen=True)
class DedupReport:
    """The outcome of a duplicate search over a whole dataset.

    ``n_conflicts`` counts images whose picture is also filed under another class (all of them
    are left out of ``manifest.csv`` and listed in ``conflicts.csv`` for review).
    """

    dataset_dir: Path
    threshold: int
    n_images: int
    n_duplicates: int
    n_conflicts: int
    n_conflict_groups: int
    n_indexed: int = 0
    n_moved: int = 0
    n_restored: int = 0
    applied: bool = False

    @property
    def manifest_csv(self) -> Path:
        return self.dataset_dir / MANIFEST_CSV

    @property
    def duplicates_csv(self) -> Path:
        return self.dataset_dir / DUPLICATES_CSV

    @property
    def conflicts_csv(self) -> Path:
        return self.dataset_dir / CONFLICTS_CSV

    def summary_line(self) -> str:
        line = (f"{self.n_images} images: {self.n_duplicates} duplicates → {self.duplicates_csv}, "
                f"{self.n_conflicts} images in {self.n_conflict_groups} label conflicts → {self.conflicts_csv}")
        if self.applied:
            line += f"; {self.n_moved} files moved aside (.duplicates/, .conflicts/), {self.n_restored} moved back"
        elif self.n_duplicates or self.n_conflicts:
            line += "; --apply moves them aside (nothing is deleted)"
        return line

    def to_dict(self) -> dict:
        return {**asdict(self), "dataset_dir": str(self.dataset_dir), "manifest_csv": str(self.manifest_csv),
                "duplicates_csv": str(self.duplicates_csv), "conflicts_csv": str(self.conflicts_csv)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)
