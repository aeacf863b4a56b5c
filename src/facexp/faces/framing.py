"""How a set of face crops is framed, measured the same way for FER2013 crops and for ours.

This is the evidence behind ``FaceSettings.margin``: crops framed like the training data
(FER2013) show the face at the same scale and place, which the classifier depends on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

from .detect import detect_faces
from .settings import FaceSettings

MEASURE_SIDE = 192  # crops are upscaled to this side so MTCNN can find their landmarks again
_MEASURE_SETTINGS = FaceSettings(min_face=40)  # a face fills most of a crop: skip small pyramid levels


@dataclass(frozen=True)
class FramingStats:
    """Medians over the crops in which MTCNN finds a face, as fractions of the crop side.

    Attributes:
        n_crops: crops measured.
        n_found: crops in which a face was found again (the medians are over these).
        eye_distance: between the two eye landmarks.
        eye_to_mouth: vertical distance from the eyes' midpoint to the mouth corners' midpoint.
        box_height: MTCNN's box height (above 1: the box spills past a tight crop).
        eye_y: height of the eyes' midpoint from the top.
    """

    n_crops: int
    n_found: int
    eye_distance: float
    eye_to_mouth: float
    box_height: float
    eye_y: float

    def to_dict(self) -> dict[str, float | int]:
        """JSON-ready form, rounded to 0.001."""
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def framing_stats(crops: Iterable[Image.Image]) -> FramingStats:
    """Measure where faces sit in ``crops`` by running MTCNN again on each, upscaled and gray.

    Measure both sides of a comparison with this function: on a tight crop MTCNN's box and
    landmarks spill past the image, a bias that only cancels when both sides share it.
    """
    rows, n_crops = [], 0
    for crop in crops:
        n_crops += 1
        big = crop.convert("L").convert("RGB").resize((MEASURE_SIDE, MEASURE_SIDE), Image.BICUBIC)
        faces = detect_faces(big, settings=_MEASURE_SETTINGS)
        if not faces or not faces[0].landmarks:
            continue
        (lx, ly), (rx, ry), _, (mlx, mly), (mrx, mry) = faces[0].landmarks
        eye_y = (ly + ry) / 2
        rows.append((math.hypot(rx - lx, ry - ly), (mly + mry) / 2 - eye_y, faces[0].box[3], eye_y))
    if not rows:
        return FramingStats(n_crops, 0, math.nan, math.nan, math.nan, math.nan)
    medians = [statistics.median(column) / MEASURE_SIDE for column in zip(*rows)]
    return FramingStats(n_crops, len(rows), *medians)
