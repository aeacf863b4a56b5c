"""``mtcnn``: facenet-pytorch's MTCNN (P-, R- and O-net cascade) with five landmarks per face.

Its weights ship inside the facenet-pytorch wheel, so nothing is ever downloaded. The nets are
built once per process, behind a lock; detection itself is a pure function of the image and
the shared nets, so threads may detect at the same time.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ...errors import MissingExtraError
from ..registry import register_detector
from ..settings import FaceSettings
from ..types import Face

PYRAMID_FACTOR = 0.709  # scale step between pyramid levels: facenet-pytorch's default
MAX_BATCH = 8  # same-size images detected in one call (bounds memory on large folders)

_lock = threading.Lock()
_model: Any = None


def load_mtcnn() -> Any:
    """The process-wide MTCNN (keep_all, CPU), built on first use.

    The nets are switched to channels-last memory: on this project's CPU that makes R-net and
    O-net 3-4x faster (PyTorch's max-pool is slow on NCHW tensors) with outputs equal to 1e-6.

    Raises:
        MissingExtraError: facenet-pytorch is not installed.
    """
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                try:
                    import torch
                    from facenet_pytorch import MTCNN
                except ImportError:
                    raise MissingExtraError("face detection needs facenet-pytorch: "
                                            "pip install facenet-pytorch==2.5.3") from None
                model = MTCNN(keep_all=True, device="cpu").eval()
                _model = model.to(memory_format=torch.channels_last)
    return _model


def _faces(boxes: np.ndarray, points: np.ndarray) -> list[Face]:
    """MTCNN's (x1, y1, x2, y2, score) rows and (5, 2) landmarks → Faces."""
    return [Face((float(x1), float(y1), float(x2 - x1), float(y2 - y1)), float(score),
                 tuple((float(px), float(py)) for px, py in marks))
            for (x1, y1, x2, y2, score), marks in zip(boxes, points)]


@register_detector("mtcnn", landmarks=True, weights="inside the facenet-pytorch 2.5.3 wheel (pnet/rnet/onet.pt)",
                   license="MIT (facenet-pytorch)")
def detect_mtcnn(images: list[np.ndarray], settings: FaceSettings) -> list[list[Face]]:
    """Every face in each image; images of the same size go through the cascade together.

    ``settings.min_face`` sets the smallest pyramid level, which is where most of the time goes.
    """
    import torch
    from facenet_pytorch.models.utils.detect_face import detect_face

    model = load_mtcnn()
    found: list[list[Face]] = [[] for _ in images]
    same_size: dict[tuple[int, ...], list[int]] = {}
    for i, img in enumerate(images):
        if min(img.shape[:2]) >= settings.min_face:  # a smaller image cannot hold such a face
            same_size.setdefault(img.shape, []).append(i)
    for indices in same_size.values():
        for start in range(0, len(indices), MAX_BATCH):
            chunk = indices[start:start + MAX_BATCH]
            with torch.inference_mode():
                boxes, points = detect_face(np.stack([images[i] for i in chunk]), settings.min_face, model.pnet,
                                            model.rnet, model.onet, list(settings.stage_scores), PYRAMID_FACTOR,
                                            "cpu")
            for i, img_boxes, img_points in zip(chunk, boxes, points):
                found[i] = _faces(img_boxes, img_points)
    return found
