"""Test clips made on the spot from scikit-image's photos (the astronaut is a real face; coffee has none)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage.data import astronaut, coffee

SIZE = (640, 480)
FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}


def astronaut_head(height: int = 200) -> Image.Image:
    """The astronaut's head and shoulders, ``height`` px tall."""
    head = Image.fromarray(astronaut()).crop((110, 0, 350, 300))
    return head.resize((round(head.width * height / head.height), height), Image.BICUBIC)


def background(seed: int = 0) -> Image.Image:
    """A plain grey-blue canvas with soft noise (no face)."""
    rng = np.random.default_rng(seed)
    base = np.full((SIZE[1], SIZE[0], 3), (96, 104, 116), np.float32) + rng.normal(0, 6, (SIZE[1], SIZE[0], 3))
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def moving_face(n: int, *, head: Image.Image | None = None, x0: int = 20, x1: int = 400, y: int = 140
                ) -> list[np.ndarray]:
    """``n`` frames of the astronaut's head sliding from x0 to x1 across the canvas."""
    head = head or astronaut_head()
    frames = []
    for i in range(n):
        canvas = background(i)
        canvas.paste(head, (round(x0 + (x1 - x0) * i / max(1, n - 1)), y))
        frames.append(np.asarray(canvas))
    return frames


def side_by_side(n: int, left: Image.Image, right: Image.Image, *, jitter: int = 6) -> list[np.ndarray]:
    """``n`` frames with ``left`` and ``right`` side by side, each bobbing a few pixels (they never cross)."""
    frames = []
    for i in range(n):
        canvas = background(i)
        dy = round(jitter * np.sin(i / 2))
        canvas.paste(left, (30 + dy, 120 + dy))
        canvas.paste(right, (SIZE[0] - right.width - 30 - dy, 120 - dy))
        frames.append(np.asarray(canvas))
    return frames


def no_face(n: int) -> list[np.ndarray]:
    """``n`` frames of scikit-image's coffee cup (no face)."""
    cup = np.asarray(Image.fromarray(coffee()).resize(SIZE))
    return [cup] * n


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: float = 10.0) -> Path:
    """RGB frames → a video file (mp4v in .mp4, MJPG in .avi, FFV1 in .mkv)."""
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix]), fps, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {path.suffix}"
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_y4m(path: Path, frames: Sequence[np.ndarray], fps: int = 10) -> Path:
    """RGB frames → a YUV4MPEG2 file (what Chromium's fake camera plays, in a loop)."""
    h, w = frames[0].shape[:2] if frames else SIZE[::-1]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
