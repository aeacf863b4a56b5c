"""A folder of raw photos → aligned face crops for training, with a report of every photo.

Photos with no face, several faces or unreadable bytes are listed in ``faces_report.csv`` with
their status, never silently dropped, and never stop the run. Detections are cached by photo
content (``DetectionCache``), so a second run, or ``facexp train --detect-faces`` on the same
photos, re-crops without detecting again.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .._progress import track
from ..errors import ConfigError, DataError, ImageDecodeError
from ..imageio import IMAGE_SUFFIXES, list_images, open_image
from .cache import DetectionCache
from .detect import crop_face, detect_faces_batch
from .settings import FaceSettings
from .types import Face

REPORT_NAME = "faces_report.csv"
CACHE_NAME = ".faces_cache.jsonl"
MODES = ("largest", "all")
STATUSES = ("ok", "no_face", "multiple_faces", "unreadable")
BATCH = 8  # photos per detector call: same-size photos run together (measured 10-30% faster
BATCH_PIXELS = 40_000_000  # when small); the pixel cap bounds memory for camera-size photos


@dataclass(frozen=True)
class ExtractRecord:
    """What happened to one photo.

    Attributes:
        path: the photo, relative to the source folder.
        n_faces: faces found (0 when unreadable).
        status: ``ok`` (one face), ``no_face``, ``multiple_faces`` or ``unreadable``.
        crops: crops written, relative to the output folder (largest face first).
        message: why a photo is unreadable.
    """

    path: str
    n_faces: int
    status: str
    crops: tuple[str, ...] = ()
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """One CSV row: crops are joined by ';'."""
        return {"path": self.path, "n_faces": self.n_faces, "status": self.status, "crop": ";".join(self.crops),
                "message": self.message}


@dataclass(frozen=True)
class ExtractReport:
    """Every photo's outcome, where the CSV report is, and how many photos needed detection."""

    records: tuple[ExtractRecord, ...]
    report_path: Path
    n_detected: int  # photos run through the detector; the others came from the cache

    def counts(self) -> dict[str, int]:
        """Photos per status, every status listed (0 included)."""
        found = Counter(r.status for r in self.records)
        return {status: found.get(status, 0) for status in STATUSES}

    @property
    def n_crops(self) -> int:
        """Face crops written."""
        return sum(len(r.crops) for r in self.records)

    def summary_line(self) -> str:
        """One line for logs: '12 photos: 9 ok, 1 no_face, ...; 10 crops; report → path'."""
        parts = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n)
        return f"{len(self.records)} photos: {parts}; {self.n_crops} crops; report → {self.report_path}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json`` output and logs)."""
        return {"counts": self.counts(), "n_crops": self.n_crops, "n_detected": self.n_detected,
                "report_path": str(self.report_path), "records": [r.to_dict() for r in self.records]}


@dataclass
class _Photo:
    """A readable photo on its way through detection and cropping."""

    index: int
    rel: Path
    image: Image.Image
    key: str


def extract_faces(src_dir: str | os.PathLike, out_dir: str | os.PathLike, *, settings: FaceSettings | None = None,
                  mode: str = "largest", cache_dir: str | os.PathLike | None = None) -> ExtractReport:
    """Write aligned face crops of every photo below ``src_dir`` into ``out_dir``.

    Sub-folders are kept (``src/happy/a.jpg`` → ``out/happy/a.png``), so class folders stay
    class folders. ``out_dir/faces_report.csv`` lists every photo: path, n_faces, status, crop,
    message. Crops are PNG (lossless: they are training data).

    Args:
        src_dir: folder of photos, searched recursively.
        out_dir: where crops and the report go (created); when it lies inside ``src_dir``, its
            files are not taken for photos.
        settings: detection and crop settings; record them with the model you train.
        mode: ``largest`` writes one crop per photo, the largest face (the subject; a photo
            with several faces is still reported as ``multiple_faces``); ``all`` writes every
            face as ``<name>_face<k>.png``, largest first.
        cache_dir: where the detection cache lives (default ``out_dir``); share one folder
            between runs to never detect the same photo twice.

    Raises:
        ConfigError: unknown mode.
        DataError: ``src_dir`` is missing or holds no images.
    """
    settings = settings or FaceSettings()
    if mode not in MODES:
        raise ConfigError(f"the mode of extract_faces must be one of {', '.join(MODES)}; got {mode!r}")
    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder; pass a folder of photos (class sub-folders are kept)")
    photos = [p for p in list_images(src) if out.resolve() not in p.resolve().parents]
    if not photos:
        raise DataError(f"{src}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
                        "point it at the folder that holds the photos")
    out.mkdir(parents=True, exist_ok=True)
    stems = _crop_stems([p.relative_to(src) for p in photos])
    records: list[ExtractRecord | None] = [None] * len(photos)
    n_detected = 0
    with DetectionCache(Path(cache_dir or out) / CACHE_NAME) as cache:
        pending: list[_Photo] = []

        def detect_pending() -> None:
            nonlocal n_detected
            found = detect_faces_batch([p.image for p in pending], settings=settings)
            for photo, faces in zip(pending, found):
                cache.put(photo.key, faces)
                records[photo.index] = _write_crops(photo, faces, stems[photo.rel], out, settings, mode)
            n_detected += len(pending)
            pending.clear()

        for index, path in enumerate(track(photos, "finding faces")):
            rel = path.relative_to(src)
            try:
                sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
                image = open_image(path)  # by path, so decode errors name the file and not a buffer
            except (OSError, ImageDecodeError) as exc:
                records[index] = ExtractRecord(rel.as_posix(), 0, "unreadable", message=str(exc))
                continue
            photo = _Photo(index, rel, image, DetectionCache.key(sha256, settings))
            cached = cache.get(photo.key)
            if cached is not None:
                records[index] = _write_crops(photo, cached, stems[rel], out, settings, mode)
                continue
            pending.append(photo)
            if len(pending) >= BATCH or sum(p.image.width * p.image.height for p in pending) >= BATCH_PIXELS:
                detect_pending()
        if pending:
            detect_pending()
    done = tuple(r for r in records if r is not None)
    report_path = _write_report(out / REPORT_NAME, done)
    return ExtractReport(done, report_path, n_detected)


def _crop_stems(rels: list[Path]) -> dict[Path, str]:
    """Crop name (without .png) per photo: its own stem, or stem_ext when two photos share a stem."""
    taken = Counter((rel.parent, rel.stem) for rel in rels)
    return {rel: (rel.with_suffix("") if taken[rel.parent, rel.stem] == 1
                  else rel.with_name(f"{rel.stem}_{rel.suffix.lstrip('.').lower()}")).as_posix()
            for rel in rels}


def _write_crops(photo: _Photo, faces: list[Face], stem: str, out: Path, settings: FaceSettings,
                 mode: str) -> ExtractRecord:
    """Save the crops ``mode`` asks for and say how the photo went."""
    rel = photo.rel.as_posix()
    if not faces:
        return ExtractRecord(rel, 0, "no_face")
    keep = faces if mode == "all" else faces[:1]
    names = []
    for k, face in enumerate(keep):
        name = f"{stem}_face{k}.png" if mode == "all" else f"{stem}.png"
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        crop_face(photo.image, face, settings=settings).save(tmp, format="PNG")
        os.replace(tmp, target)  # never a half-written crop, even when interrupted
        names.append(name)
    return ExtractRecord(rel, len(faces), "ok" if len(faces) == 1 else "multiple_faces", tuple(names))


def _write_report(path: Path, records: tuple[ExtractRecord, ...]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "n_faces", "status", "crop", "message"])
        writer.writeheader()
        writer.writerows(r.to_dict() for r in records)
    os.replace(tmp, path)
    return path
