"""The calls other stages use: find faces, and find + crop them exactly as the model expects."""

from __future__ import annotations

from PIL import Image

from .align import align_face
from .detectors import Face, get_detector
from .settings import FaceSettings


def detect_faces(image: Image.Image, *, settings: FaceSettings | None = None) -> list[Face]:
    """Every face in ``image``, largest first."""
    return detect_faces_batch([image], settings=settings)[0]


def detect_faces_batch(images: list[Image.Image], *, settings: FaceSettings | None = None) -> list[list[Face]]:
    """Faces for many images; a detector may batch images of the same size."""
    settings = settings or FaceSettings()
    if not images:
        return []
    return get_detector(settings.detector)([img.convert("RGB") for img in images], settings)


def crop_faces(image: Image.Image, *, settings: FaceSettings | None = None,
               size: int | None = None) -> list[tuple[Face, Image.Image]]:
    """Detect, then align and crop each face: the one call the predictor and trainer use."""
    settings = settings or FaceSettings()
    return [(face, align_face(image, face, size=size or settings.size, margin=settings.margin, align=settings.align))
            for face in detect_faces(image, settings=settings)]
