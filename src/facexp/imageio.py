"""Reading images the same way everywhere: training, prediction, face detection and serving.

One reader means one answer to EXIF rotation, odd modes (L, LA, P, CMYK, I;16, RGBA) and
decompression bombs, so a photo never looks different to the trainer than to the predictor.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import ImageDecodeError, ImageTooLarge

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
DEFAULT_MAX_PIXELS = 64_000_000


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file name looks like an image we can read (by suffix only)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; alpha is composited on white, 16-bit is rescaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img if img.mode == "RGB" else img.convert("RGB")  # convert() would copy an RGB image whole


def open_image(
    source: str | os.PathLike | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> Image.Image:
    """Decode a path or raw bytes into an upright RGB image, or raise a clear error.

    Args:
        source: file path or the encoded bytes.
        max_pixels: refuse images with more pixels (decompression-bomb guard) before decoding.
        name: how to call the input in messages (defaults to the path, or "upload").

    Raises:
        ImageDecodeError: not an image, truncated, or unreadable.
        ImageTooLarge: more than ``max_pixels`` pixels.
    """
    return open_image_reduced(source, max_pixels=max_pixels, name=name)[0]


def open_image_reduced(
    source: str | os.PathLike | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None,
    max_side: int | None = None,
) -> tuple[Image.Image, tuple[int, int]]:
    """``open_image``, but a JPEG longer than ``max_side`` is decoded at 1/2, 1/4 or 1/8 scale (never
    below ``max_side``): a fraction of the memory and time. Returns the image and the upright size
    of the full image (equal to the image's size when decoded whole), to map coordinates back.
    ``max_pixels`` bounds the pixels decoded: a 108-megapixel phone JPEG (12000x9000), decoded at 1/4
    scale for ``max_side`` 1536 (3000x2250), is read, where decoded whole it would be refused.

    Raises:
        ImageDecodeError: not an image, truncated, or unreadable.
        ImageTooLarge: more than ``max_pixels`` pixels.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    try:
        stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as exc:
        raise ImageDecodeError(f"{label}: cannot open ({exc.strerror or exc})") from None
    with stream:
        try:
            with warnings.catch_warnings():
                # PIL warns above 89 megapixels; ``max_pixels`` below is the limit, on the pixels decoded
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(stream)
            full = img.size
            if max_side and img.format == "JPEG" and max(img.size) > max_side:
                k = max_side / max(img.size)
                img.draft(img.mode, (max(1, round(img.width * k)), max(1, round(img.height * k))))
            if img.width * img.height > max_pixels:  # img.size is the size a draft will decode at
                reduced = f" (decoded at {img.width}x{img.height})" if img.size != full else ""
                raise ImageTooLarge(f"{label}: {full[0]}x{full[1]}{reduced} is over the limit of {max_pixels:,} "
                                    "pixels; resize it first")
            img.load()
            decoded = img.size
        except ImageTooLarge:
            raise
        except Image.DecompressionBombError as exc:  # over 179 megapixels: PIL refuses to open it at all
            raise ImageTooLarge(f"{label}: refused as a possible decompression bomb ({exc}); resize it first if it "
                                "is a real photo") from None
        except Exception as exc:  # PIL raises many types for broken files
            raise ImageDecodeError(
                f"{label}: not a readable image ({type(exc).__name__}: {exc}); "
                "remove it or replace it with a valid JPEG/PNG"
            ) from None
        try:  # in place: otherwise an image without an orientation tag is copied whole
            ImageOps.exif_transpose(img, in_place=True)
        except Exception:  # a broken EXIF block should not cost us the pixels
            pass
        if img.size != decoded and img.size == decoded[::-1]:  # rotated by its EXIF orientation
            full = full[::-1]
        return _to_rgb(img), full


def list_images(folder: str | os.PathLike) -> list[Path]:
    """All image files below ``folder``, sorted, hidden files skipped."""
    root = Path(folder)
    return sorted(
        p for p in root.rglob("*") if p.is_file() and is_image_path(p) and not p.name.startswith(".")
    )
