"""Prove bytes are an image, hash them, and store them atomically under their content hash.

Only a full decode proves a body is an image (Content-Type headers and file suffixes lie, and a
truncated JPEG has a perfect header), so every image is decoded once here with the project's
reader (bomb guard, EXIF orientation). The original bytes are what is stored, so EXIF and
quality are kept; the recorded width/height are the upright ones.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imagehash
from PIL import Image

from ..errors import ImageDecodeError, ImageTooLarge
from ..imageio import open_image

# Formats the rest of facexp reads (see facexp.imageio.IMAGE_SUFFIXES), with the suffix we store.
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
            "TIFF": ".tif"}
PARTIAL_PREFIX = ".part-"


@dataclass(frozen=True)
class ImageInfo:
    """What the manifest records about a verified image."""

    sha256: str
    phash: str
    width: int
    height: int
    format: str
    n_bytes: int

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.format]


class Rejected(Exception):
    """Bytes that are not a usable image; ``reason`` is short and groupable, the message says why."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<!--"))


def inspect_image(data: bytes, *, name: str, max_pixels: int) -> ImageInfo:
    """Decode ``data`` fully and return its hashes and size.

    Raises:
        Rejected: reason ``html``, ``truncated``, ``not_image``, ``too_many_pixels`` or ``unsupported_format``.
    """
    if _looks_like_html(data):
        raise Rejected("html", f"{name}: the body is an HTML page, not an image (a consent or error page?)")
    try:
        img = open_image(data, max_pixels=max_pixels, name=name)
    except ImageTooLarge as exc:
        raise Rejected("too_many_pixels", str(exc)) from None
    except ImageDecodeError as exc:
        raise Rejected("truncated" if "truncated" in str(exc).lower() else "not_image", str(exc)) from None
    with Image.open(io.BytesIO(data)) as header:
        fmt = header.format or "unknown"
    if fmt not in SUFFIXES:
        raise Rejected("unsupported_format", f"{name}: {fmt} images are not read by facexp training; "
                                             "convert it to JPEG or PNG")
    return ImageInfo(hashlib.sha256(data).hexdigest(), str(imagehash.phash(img)), img.width, img.height, fmt,
                     len(data))


def stored_name(info: ImageInfo) -> str:
    """Content-hash file name: the same picture is stored once per class however often it is found."""
    return f"{info.sha256[:16]}{info.suffix}"


def store_image(data: bytes, dataset_dir: Path, label: str, info: ImageInfo) -> str:
    """Write ``data`` as ``label/<sha256[:16]><suffix>`` unless it is already there; returns the relative path.

    A temp file in the same folder renamed into place means a crash leaves the whole file or none
    (a leftover ``.part-*`` temp file is removed by the next run, see ``remove_partials``).
    """
    folder = dataset_dir / label
    target = folder / stored_name(info)
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return f"{label}/{target.name}"


def remove_partials(dataset_dir: Path) -> int:
    """Remove temp files a killed run left behind (never renamed into place, so never recorded)."""
    parts = [p for p in dataset_dir.glob(f"*/{PARTIAL_PREFIX}*") if p.is_file()]
    for part in parts:
        part.unlink(missing_ok=True)
    return len(parts)
