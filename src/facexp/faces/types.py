"""The one value every detector returns: a face's box, score and five landmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the upright image it was found in.

    Attributes:
        box: x, y, w, h. May reach past the image border when the face is cut off by it.
        score: the detector's confidence in [0, 1].
        landmarks: left eye, right eye, nose, left and right mouth corner (left/right as seen in
            the image), or None for detectors that do not find them.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[Point, ...] | None = None

    @property
    def area(self) -> float:
        """Box area in square pixels (faces are sorted by it, largest first)."""
        return self.box[2] * self.box[3]

    def scaled(self, sx: float, sy: float) -> Face:
        """The same face in an image resized by ``sx`` horizontally and ``sy`` vertically."""
        x, y, w, h = self.box
        marks = tuple((px * sx, py * sy) for px, py in self.landmarks) if self.landmarks else None
        return Face((x * sx, y * sy, w * sx, h * sy), self.score, marks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rounded to 0.01 px), the inverse of ``from_dict``."""
        return {"box": [round(v, 2) for v in self.box], "score": round(self.score, 5),
                "landmarks": [[round(x, 2), round(y, 2)] for x, y in self.landmarks] if self.landmarks else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Face:
        """Rebuild a face from ``to_dict`` output (the detection cache stores faces this way)."""
        marks = data.get("landmarks")
        return cls(tuple(float(v) for v in data["box"]), float(data["score"]),  # type: ignore[arg-type]
                   tuple((float(x), float(y)) for x, y in marks) if marks else None)


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    """The part of an x, y, w, h ``box`` inside a ``width`` x ``height`` image.

    A face cut off by the photo's border is detected with a box reaching past it (y = -66); shown
    or returned as such, its outline is invisible and its numbers look like a bug.
    """
    x, y, w, h = box
    x0, y0 = min(max(0, x), width), min(max(0, y), height)
    x1, y1 = min(max(x0, x + w), width), min(max(y0, y + h), height)
    return x0, y0, x1 - x0, y1 - y0
