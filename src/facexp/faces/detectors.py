"""Face detectors behind one interface, registered by name (timm-style registry).

Every detector returns every face it finds as ``Face`` objects in the coordinates of the image
it was given, largest first.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import ConfigError, MissingExtraError
from .settings import FaceSettings


@dataclass(frozen=True)
class Face:
    """One detected face: box (x, y, w, h) in pixels, detector score, 5 landmarks or None.

    Landmarks: left eye, right eye, nose, left and right mouth corner (as seen in the image).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    def to_dict(self) -> dict:
        return {"box": [round(v, 1) for v in self.box], "score": round(self.score, 4),
                "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks] if self.landmarks else None}


Detector = Callable[[list[Image.Image], FaceSettings], list[list[Face]]]
_DETECTORS: dict[str, Detector] = {}


def register_detector(name: str) -> Callable[[Detector], Detector]:
    def add(fn: Detector) -> Detector:
        if name in _DETECTORS:
            raise ConfigError(f"detector {name!r} is registered twice")
        _DETECTORS[name] = fn
        return fn

    return add


def list_detectors() -> list[str]:
    return sorted(_DETECTORS)


def get_detector(name: str) -> Detector:
    if name not in _DETECTORS:
        close = difflib.get_close_matches(name, list(_DETECTORS), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown face detector {name!r}.{hint} Choices: {', '.join(list_detectors())}")
    return _DETECTORS[name]


# --- whole: the image itself is the face (for --no-detect and for data that are crops already) ---


@register_detector("whole")
def _whole(images: list[Image.Image], settings: FaceSettings) -> list[list[Face]]:
    return [[Face((0.0, 0.0, float(img.width), float(img.height)), 1.0, None)] for img in images]


# --- mtcnn: facenet-pytorch's MTCNN, whose weights ship inside the wheel ---

_mtcnn_cache: dict[tuple, object] = {}
_mtcnn_lock = threading.Lock()


def _mtcnn(min_face: int):
    try:
        from facenet_pytorch import MTCNN
    except ImportError:
        raise MissingExtraError("face detection needs facenet-pytorch: pip install facenet-pytorch==2.5.3") from None
    with _mtcnn_lock:
        key = (min_face,)
        if key not in _mtcnn_cache:
            _mtcnn_cache[key] = MTCNN(keep_all=True, device="cpu", min_face_size=min_face, post_process=False)
        return _mtcnn_cache[key]


def _downscale(img: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    scale = min(1.0, max_side / max(img.size))
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)
    return img, scale


@register_detector("mtcnn")
def _mtcnn_detect(images: list[Image.Image], settings: FaceSettings) -> list[list[Face]]:
    """MTCNN on downscaled copies; images of one size go through in one batch."""
    detector = _mtcnn(settings.min_face)
    small = [_downscale(img, settings.max_side) for img in images]
    results: list[list[Face]] = [[] for _ in images]
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, (img, _) in enumerate(small):
        by_size.setdefault(img.size, []).append(i)
    for indices in by_size.values():
        batch = [small[i][0] for i in indices]
        with _mtcnn_lock:
            boxes, probs, points = detector.detect(batch if len(batch) > 1 else batch[0], landmarks=True)
        if len(batch) == 1:
            boxes, probs, points = [boxes], [probs], [points]
        for i, b, p, pts in zip(indices, boxes, probs, points):
            results[i] = _to_faces(b, p, pts, 1.0 / small[i][1], settings.min_score)
    return results


def _to_faces(boxes, probs, points, inv_scale: float, min_score: float) -> list[Face]:
    if boxes is None:
        return []
    faces = []
    for (x1, y1, x2, y2), p, pts in zip(np.asarray(boxes), np.asarray(probs), np.asarray(points)):
        if p is None or float(p) < min_score:
            continue
        box = (x1 * inv_scale, y1 * inv_scale, (x2 - x1) * inv_scale, (y2 - y1) * inv_scale)
        marks = tuple((float(x) * inv_scale, float(y) * inv_scale) for x, y in pts)
        faces.append(Face(tuple(float(v) for v in box), float(p), marks))
    return sorted(faces, key=lambda f: -f.area)
