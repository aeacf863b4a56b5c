"""Alignment: rotate a face so its eyes are level, cut a square around it, resize to ``size``.

Pixels outside the photo repeat its edge (``BORDER_REPLICATE``) rather than turning black. A
face cut by the border then gets a smear of the nearby hair, skin or background, which is
close to what FER2013's tight web crops show; a black bar is a hard synthetic edge the network
never saw in training and would react to.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .types import Face


def eye_angle(face: Face) -> float:
    """Angle in degrees of the line from the left to the right eye (0 = level; + = clockwise on screen)."""
    if not face.landmarks:
        return 0.0
    (lx, ly), (rx, ry) = face.landmarks[0], face.landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def crop_square(face: Face, margin: float) -> tuple[float, float, float]:
    """Centre x, centre y and side (pixels) of the square a face is cropped to.

    The square is centred on the box and ``1 + 2 * margin`` times its larger side.
    """
    x, y, w, h = face.box
    return x + w / 2, y + h / 2, max(w, h) * (1 + 2 * margin)


def align_face(image: Image.Image | np.ndarray, face: Face, *, size: int, margin: float, align: bool = True
               ) -> Image.Image:
    """A ``size`` x ``size`` RGB crop of ``face``: eyes level, framed by ``margin`` (see ``crop_square``).

    Rotation is about the box centre. Without landmarks (or with ``align=False``) the crop is the
    plain square. A face larger than the crop is first shrunk with area averaging, so a 900 px face
    does not alias into a 48 px crop; the rotation is then a single bilinear resampling.

    Args:
        image: the upright photo the face was detected in (any mode), or its RGB array.
        face: a detection in that photo's pixels; its box may reach past the border.
        size: output side in pixels.
        margin: fraction of the box's larger side added on each side (negative crops inside it).
        align: level the eyes when the face has landmarks.
    """
    import cv2

    rgb = image if isinstance(image, np.ndarray) else np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    cx, cy, side = crop_square(face, margin)
    theta = math.radians(eye_angle(face)) if align else 0.0
    cos, sin = math.cos(theta), math.sin(theta)
    step = side / size  # source pixels per output pixel
    if step > 1:
        reach = side / 2 * (abs(cos) + abs(sin)) + 2 * step  # the rotated square plus interpolation room
        n_src = max(1, math.ceil(2 * reach))
        patch = cv2.getRectSubPix(rgb, (n_src, n_src), (cx - 0.5, cy - 0.5))  # replicates the border
        n_dst = max(size, round(n_src / step))
        rgb = cv2.resize(patch, (n_dst, n_dst), interpolation=cv2.INTER_AREA)
        cx = cy = n_dst / 2
        step *= n_dst / n_src
    # output pixel centre (u + .5, v + .5), offset d from the crop centre, samples source c + step * R(theta) d
    off = 0.5 - size / 2
    to_source = np.array([[step * cos, -step * sin, cx - 0.5 + step * (cos - sin) * off],
                          [step * sin, step * cos, cy - 0.5 + step * (sin + cos) * off]])
    out = cv2.warpAffine(rgb, to_source, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return Image.fromarray(out)
