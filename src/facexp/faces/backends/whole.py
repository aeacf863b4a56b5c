"""``whole``: the image itself is the face, for inputs that are face crops already (``--no-detect``,
FER2013-style datasets) and for testing downstream code without a real detector."""

from __future__ import annotations

import numpy as np

from ..registry import register_detector
from ..settings import FaceSettings
from ..types import Face


@register_detector("whole", landmarks=False, downscale=False, box_is_crop=True, weights="none", license="n/a")
def detect_whole(images: list[np.ndarray], settings: FaceSettings) -> list[list[Face]]:
    """One face per image covering all of it, with score 1."""
    return [[Face((0.0, 0.0, float(img.shape[1]), float(img.shape[0])), 1.0, None)] for img in images]
