"""Raw photos → aligned face crops for training, with a report of every photo and a cache.

Photos with no face, several faces or unreadable bytes are listed in ``faces_report.csv`` with
their status — never silently dropped. A cache keyed by each photo's sha256 and the settings'
digest makes a second run (or a second ``facexp train --detect-faces``) skip detection.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .._progress import track
from ..errors import DataError, ImageDecodeError
from ..imageio import list_images, open_image
from .api import crop_faces
from .settings import FaceSettings

REPORT_FILE = "faces_report.csv"
CACHE_FILE = ".faces_cache.json"
MODES = ("largest", "all")


@dataclass
class ExtractReport:
    """Per-photo outcome rows and the counts by status."""

    rows: list[dict] = field(default_factory=list)
    report_path: Path | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for row in self.rows:
            out[row["status"]] = out.get(row["status"], 0) + 1
        return out

    @property
    def n_crops(self) -> int:
        return sum(len(r["crops"].split(";")) for r in self.rows if r["crops"])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_cache(out_dir: Path) -> dict:
    try:
        return json.loads((out_dir / CACHE_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _save_cache(out_dir: Path, cache: dict) -> None:
    tmp = out_dir / (CACHE_FILE + ".tmp")
    tmp.write_text(json.dumps(cache))
    os.replace(tmp, out_dir / CACHE_FILE)


def extract_faces(src_dir: str | os.PathLike, out_dir: str | os.PathLike, *, settings: FaceSettings | None = None,
                  mode: str = "largest") -> ExtractReport:
    """Write aligned crops of ``src_dir``'s photos to ``out_dir`` with the same sub-folder layout.

    Args:
        mode: ``largest`` keeps one face per photo (the largest: the subject); ``all`` keeps every face.

    Raises:
        DataError: ``src_dir`` missing or without images.
    """
    settings = settings or FaceSettings()
    if mode not in MODES:
        raise DataError(f"mode must be one of {MODES}; got {mode!r}")
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder; pass a folder of photos (class sub-folders are kept)")
    photos = [p for p in list_images(src) if out.resolve() not in p.resolve().parents]
    if not photos:
        raise DataError(f"{src}: no images found")
    out.mkdir(parents=True, exist_ok=True)
    cache = _load_cache(out)
    report = ExtractReport()
    for i, photo in enumerate(track(photos, "finding faces")):
        rel = photo.relative_to(src)
        key = f"{rel}|{settings.digest()}|{mode}"
        digest = _sha256(photo)
        hit = cache.get(key)
        if hit and hit["sha256"] == digest and all((out / c).exists() for c in hit["crops"]):
            row = hit["row"]
        else:
            row = _extract_one(photo, rel, out, settings, mode)
            cache[key] = {"sha256": digest, "crops": row["crops"].split(";") if row["crops"] else [], "row": row}
            if i % 50 == 0:
                _save_cache(out, cache)
        report.rows.append(row)
    _save_cache(out, cache)
    report.report_path = out / REPORT_FILE
    with open(report.report_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "n_faces", "status", "crops", "error"])
        writer.writeheader()
        writer.writerows(report.rows)
    return report


def _extract_one(photo: Path, rel: Path, out: Path, settings: FaceSettings, mode: str) -> dict:
    row = {"path": str(rel), "n_faces": 0, "status": "ok", "crops": "", "error": ""}
    try:
        image = open_image(photo)
    except ImageDecodeError as exc:
        return {**row, "status": "unreadable", "error": str(exc)}
    pairs = crop_faces(image, settings=settings)
    row["n_faces"] = len(pairs)
    if not pairs:
        return {**row, "status": "no_face"}
    if len(pairs) > 1:
        row["status"] = "multiple_faces"
    keep = pairs if mode == "all" else pairs[:1]
    names = []
    for k, (_, crop) in enumerate(keep):
        name = rel.with_suffix("").as_posix() + (f"_face{k}" if mode == "all" else "") + ".png"
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        crop.save(tmp, format="PNG")
        os.replace(tmp, target)
        names.append(name)
    row["crops"] = ";".join(names)
    return row
