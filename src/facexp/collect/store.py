"""Verify bytes as an image and store them atomically under their content hash."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imagehash
from PIL import Image

from ..imageio import DEFAULT_MAX_PIXELS, open_image

FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp", "TIFF": ".tif",
                 "MPO": ".jpg"}


@dataclass(frozen=True)
class StoredImage:
    path: str  # relative to the dataset folder
    sha256: str
    phash: str
    width: int
    height: int
    format: str


def image_format(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as img:
        return img.format or "unknown"


def _describe(data: bytes, name: str, max_pixels: int) -> tuple[Image.Image, str, str, str]:
    """Decode (the only proof bytes are an image) and hash: (image, format, sha256, phash)."""
    img = open_image(data, max_pixels=max_pixels, name=name)
    return img, image_format(data), hashlib.sha256(data).hexdigest(), str(imagehash.phash(img))


def describe_in_place(dataset_dir: Path, path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> StoredImage:
    """Hashes of an image already inside the dataset folder (indexing, not copying)."""
    img, fmt, sha, phash = _describe(path.read_bytes(), str(path), max_pixels)
    return StoredImage(str(path.relative_to(dataset_dir)), sha, phash, img.width, img.height, fmt)


def store_image(data: bytes, dataset_dir: Path, label: str, *, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> StoredImage:
    """Verify and hash ``data``, then write it as ``label/<sha256[:16]><ext>``.

    The original bytes are written (EXIF orientation and all); temp file + rename means a crash
    leaves either the whole file or none. Raises ImageDecodeError / ImageTooLarge.
    """
    img, fmt, sha, phash = _describe(data, name, max_pixels)
    folder = dataset_dir / label
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{sha[:16]}{FORMAT_SUFFIX.get(fmt, '.img')}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredImage(str(target.relative_to(dataset_dir)), sha, phash, img.width, img.height, fmt)


def remove_partials(dataset_dir: Path) -> int:
    """Temp files left by a killed run (never renamed into place); returns how many were removed."""
    parts = list(dataset_dir.glob("*/.part-*"))
    for part in parts:
        part.unlink(missing_ok=True)
    return len(parts)
