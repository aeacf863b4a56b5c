"""Alignment: rotate about the face so the eyes are level, then cut a square crop with a margin."""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from .detectors import Face


def eye_angle(face: Face) -> float:
    """Angle in degrees of the line from the left to the right eye (0 = level)."""
    if not face.landmarks:
        return 0.0
    (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def align_face(image: Image.Image, face: Face, *, size: int, margin: float, align: bool = True) -> Image.Image:
    """A ``size`` x ``size`` crop centred on the face, eyes level when ``align`` and landmarks exist.

    One affine warp does rotation, crop and resize together (a single resampling). Pixels outside
    the photo repeat its edge rather than turning black: a face cut by the border then looks like
    the tight web crops of FER2013 instead of gaining a black bar the model never saw in training.
    """
    x, y, w, h = face.box
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    theta = math.radians(eye_angle(face)) if align else 0.0
    scale = side / size
    cos, sin = math.cos(theta) * scale, math.sin(theta) * scale
    half = size / 2
    # output pixel (u, v) samples input (cx + cos*(u-half) - sin*(v-half), cy + sin*(u-half) + cos*(v-half))
    to_input = np.array([[cos, -sin, cx - cos * half + sin * half],
                         [sin, cos, cy - sin * half - cos * half]], dtype=np.float64)
    interp = cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR
    out = cv2.warpAffine(np.asarray(image.convert("RGB")), to_input, (size, size),
                         flags=interp | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)
