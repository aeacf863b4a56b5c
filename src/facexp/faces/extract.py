"""A folder of raw photos → aligned face crops for training, with a report of every photo.

Photos with no face, several faces or unreadable bytes are listed in ``faces_report.csv`` with
their status, never silently dropped, and never stop the run. Detections are cached by photo
content (``DetectionCache``), so a second run, or ``facexp train --detect-faces`` on the same
photos, re-crops without detecting again.

A small, square image in which no face is found is kept whole (status ``whole``): it is a tight
face crop already (FER2013-like; see ``looks_like_face_crop``). ``faces.json`` beside the crops
records the settings they were made with, so ``facexp train OUT`` copies them into model.json and
the model finds faces at prediction time as the crops were found (``read_crops_info``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .._plural import counted
from .._progress import track
from ..errors import ConfigError, DataError, ImageDecodeError
from ..imageio import IMAGE_SUFFIXES, list_images, open_image
from .cache import DetectionCache
from .detect import crop_face, detect_faces_batch
from .settings import FaceSettings
from .types import Face

REPORT_NAME = "faces_report.csv"
INFO_NAME = "faces.json"
INFO_FORMAT = "facexp-faces/1"
CACHE_NAME = ".faces_cache.jsonl"
MODES = ("largest", "all")
STATUSES = ("ok", "whole", "no_face", "multiple_faces", "unreadable")
# A no-face image this small and this square is a face crop itself; see looks_like_face_crop.
CROP_MAX_SIDE = 256
CROP_MAX_ASPECT = 1.25


def looks_like_face_crop(width: int, height: int) -> bool:
    """True for an image that is itself a tight face crop: at most 256 px and at most 1.25:1.

    Only asked of images in which MTCNN found no face. Measured with the default FaceSettings:
    MTCNN finds no face in 66 of 400 FER2013 training crops (16.5%; seeded sample over all 7
    classes, all 48 x 48), too tight for its box to fit; where it does find one, the box side is
    0.61-1.63 of the crop side (5th-95th percentile 0.78-1.63), so the whole crop is the face's
    frame. The CC0 photos in ../shared/data/photos are 853-1280 px on their short side (the
    largest of them, angry.jpg, 1280 x 1920; the one without a face, non_face.jpg, 972 x 900)
    and the astronaut is 512 x 512, all with faces found in all but non_face.jpg. 256 px keeps
    every FER2013 crop (and 100-224 px crops of other face datasets) while staying 3.5x below
    the smallest side of any of these photos, and the aspect limit excludes banners and strips.
    """
    return max(width, height) <= CROP_MAX_SIDE and max(width, height) <= CROP_MAX_ASPECT * min(width, height)
BATCH = 8  # photos per detector call: same-size photos run together (measured 10-30% faster
BATCH_PIXELS = 40_000_000  # when small); the pixel cap bounds memory for camera-size photos


@dataclass(frozen=True)
class ExtractRecord:
    """What happened to one photo.

    Attributes:
        path: the photo, relative to the source folder.
        n_faces: faces found (0 when unreadable).
        status: ``ok`` (one face), ``whole`` (no face found in an image that is a face crop
            itself: kept whole), ``no_face``, ``multiple_faces`` or ``unreadable``.
        crops: crops written, relative to the output folder (largest face first).
        message: why a photo is unreadable.
        crop_sized: the photo is small and square like a face crop (``looks_like_face_crop``),
            whether or not a face was found in it.
    """

    path: str
    n_faces: int
    status: str
    crops: tuple[str, ...] = ()
    message: str = ""
    crop_sized: bool = False

    @property
    def framing(self) -> str:
        """How the crops were framed: ``face`` (detected), ``whole`` (the image as is), or '' (none)."""
        return "whole" if self.status == "whole" else "face" if self.crops else ""

    def to_dict(self) -> dict[str, Any]:
        """One CSV row: crops are joined by ';'."""
        return {"path": self.path, "n_faces": self.n_faces, "status": self.status, "crop": ";".join(self.crops),
                "framing": self.framing, "message": self.message}


@dataclass(frozen=True)
class ExtractReport:
    """Every photo's outcome, where the CSV report is, and how many photos needed detection."""

    records: tuple[ExtractRecord, ...]
    report_path: Path
    n_detected: int  # photos run through the detector; the others came from the cache
    source: Path | None = None  # the photo folder (absolute)

    def dropped(self) -> list[tuple[str, str]]:
        """(photo path, reason) of every photo that gave no crop: no face found, or unreadable."""
        root = self.source or Path()
        return [(str(root / r.path), r.message or "no face found") for r in self.records if not r.crops]

    def mostly_face_crops(self) -> bool:
        """Whether most readable inputs are face crops already (FER-like 48 x 48): detection then
        misses some (7% of FER2013's with the second pass, 14% in one) and reframes the rest, where
        ``detector="whole"`` keeps them."""
        readable = [r for r in self.records if r.status != "unreadable"]
        return bool(readable) and 2 * sum(r.crop_sized for r in readable) > len(readable)

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

    def dropped_line(self, limit: int = 20) -> str:
        """'3 photos gave no crop: a.jpg (no face found), ...' or '' when every photo gave one."""
        return dropped_line(self.dropped(), self.report_path, limit)

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
                  mode: str = "largest", cache_dir: str | os.PathLike | None = None,
                  whole_fallback: bool = True) -> ExtractReport:
    """Write aligned face crops of every photo below ``src_dir`` into ``out_dir``.

    Sub-folders are kept (``src/happy/a.jpg`` → ``out/happy/a.png``), so class folders stay
    class folders. ``out_dir/faces_report.csv`` lists every photo: path, n_faces, status, crop,
    message. Crops are PNG (lossless: they are training data). ``out_dir/faces.json`` records
    ``settings`` (``read_crops_info`` reads it back; ``facexp train`` copies it into model.json).

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
        whole_fallback: keep an image with no face found whole (resized to ``settings.size``)
            when it looks like a face crop itself (``looks_like_face_crop``); status ``whole``.

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
                records[photo.index] = _write_crops(photo, faces, stems[photo.rel], out, settings, mode, whole_fallback)
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
                records[index] = _write_crops(photo, cached, stems[rel], out, settings, mode, whole_fallback)
                continue
            pending.append(photo)
            if len(pending) >= BATCH or sum(p.image.width * p.image.height for p in pending) >= BATCH_PIXELS:
                detect_pending()
        if pending:
            detect_pending()
    done = tuple(r for r in records if r is not None)
    report_path = _write_report(out / REPORT_NAME, done)
    report = ExtractReport(done, report_path, n_detected, src.resolve())
    _write_info(out / INFO_NAME, report, settings, mode, whole_fallback)
    return report


def _crop_stems(rels: list[Path]) -> dict[Path, str]:
    """Crop name (without .png) per photo: its own stem, or stem_ext when two photos share a stem."""
    taken = Counter((rel.parent, rel.stem) for rel in rels)
    return {rel: (rel.with_suffix("") if taken[rel.parent, rel.stem] == 1
                  else rel.with_name(f"{rel.stem}_{rel.suffix.lstrip('.').lower()}")).as_posix()
            for rel in rels}


def _write_crops(photo: _Photo, faces: list[Face], stem: str, out: Path, settings: FaceSettings,
                 mode: str, whole_fallback: bool = True) -> ExtractRecord:
    """Save the crops ``mode`` asks for and say how the photo went."""
    rel = photo.rel.as_posix()
    sized = looks_like_face_crop(*photo.image.size)
    if not faces:
        if not (whole_fallback and sized):
            return ExtractRecord(rel, 0, "no_face", crop_sized=sized)
        whole = photo.image.convert("RGB").resize((settings.size, settings.size), Image.BILINEAR)
        _save_png(whole.convert("L") if settings.grayscale else whole, out / f"{stem}.png")
        return ExtractRecord(rel, 0, "whole", (f"{stem}.png",), crop_sized=sized)
    keep = faces if mode == "all" else faces[:1]
    names = []
    for k, face in enumerate(keep):
        name = f"{stem}_face{k}.png" if mode == "all" else f"{stem}.png"
        _save_png(crop_face(photo.image, face, settings=settings), out / name)
        names.append(name)
    return ExtractRecord(rel, len(faces), "ok" if len(faces) == 1 else "multiple_faces", tuple(names), crop_sized=sized)


def _save_png(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    image.save(tmp, format="PNG")
    os.replace(tmp, target)  # never a half-written crop, even when interrupted


def _write_report(path: Path, records: tuple[ExtractRecord, ...]) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "n_faces", "status", "crop", "framing", "message"])
        writer.writeheader()
        writer.writerows(r.to_dict() for r in records)
    os.replace(tmp, path)
    return path


def _write_info(path: Path, report: ExtractReport, settings: FaceSettings, mode: str, whole_fallback: bool) -> None:
    info = {"format": INFO_FORMAT, "settings": settings.to_dict(), "mode": mode, "whole_fallback": whole_fallback,
            "source": str(report.source), "counts": report.counts(), "report": REPORT_NAME}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(info, indent=2))
    os.replace(tmp, path)


def dropped_line(dropped: list[tuple[str, str]], report_path: Path | str, limit: int = 20) -> str:
    """One line naming the photos that gave no crop (the first ``limit``; all are in the report)."""
    if not dropped:
        return ""
    shown = "; ".join(f"{p} ({reason})" for p, reason in dropped[:limit])
    more = f"; and {len(dropped) - limit} more" if len(dropped) > limit else ""
    verb = "is" if len(dropped) == 1 else "are"
    return (f"{counted(len(dropped), 'photo')} gave no face crop and {verb} not used: {shown}{more} "
            f"(all listed in {report_path})")


@dataclass(frozen=True)
class CropsInfo:
    """What ``extract_faces`` recorded about a folder of crops (``read_crops_info``).

    Attributes:
        settings: the FaceSettings the crops were made with, as a dict (model.json's ``faces``).
        counts: photos per status.
        dropped: (photo path, reason) of every photo that gave no crop.
        report_path: the folder's faces_report.csv.
    """

    settings: dict[str, Any]
    counts: dict[str, int]
    dropped: list[tuple[str, str]]
    report_path: Path

    def summary(self) -> dict[str, Any]:
        """For the model card: where the crops came from and how each photo went."""
        return {"report": str(self.report_path), "counts": self.counts, "n_whole": self.counts.get("whole", 0)}


def read_crops_info(folder: str | os.PathLike) -> CropsInfo | None:
    """The settings and outcomes ``extract_faces`` recorded in ``folder`` (None: not its output).

    Raises:
        DataError: ``faces.json`` or ``faces_report.csv`` is there but unreadable (names the file).
    """
    folder = Path(folder)
    info_path = folder / INFO_NAME
    if not info_path.is_file():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        settings = FaceSettings.from_dict(info["settings"]).to_dict()
    except (ValueError, KeyError, TypeError, ConfigError) as exc:
        raise DataError(f"{info_path}: not a readable faces.json from `facexp faces` ({exc}); "
                        "run `facexp faces` again or delete the file") from None
    report_path = folder / info.get("report", REPORT_NAME)
    source = Path(info.get("source") or folder)
    dropped = []
    if report_path.is_file():
        try:
            with open(report_path, newline="", encoding="utf-8") as fh:
                dropped = [(str(source / row["path"]), row.get("message") or "no face found")
                           for row in csv.DictReader(fh) if not row["crop"]]
        except (OSError, KeyError, csv.Error) as exc:
            raise DataError(f"{report_path}: not a readable faces report ({exc})") from None
    return CropsInfo(settings, dict(info.get("counts", {})), dropped, report_path)
