"""Result objects every stage hands on: one per image, one per face, with a stable JSON shape."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._plural import counted

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class FaceResult:
    """One face: where it is, how sure the detector was, and the expression probabilities."""

    box: tuple[int, int, int, int]  # x, y, w, h in pixels of the upright image
    score: float
    label: str
    probs: dict[str, float]
    track: int | None = None  # in a video: the person's id, the same in every frame they are followed through

    @property
    def confidence(self) -> float:
        return self.probs[self.label]

    def to_dict(self) -> dict:
        out = {"box": list(self.box), "score": round(self.score, 4), "label": self.label,
               "probs": {k: round(v, 4) for k, v in self.probs.items()}}
        return out if self.track is None else {"track": self.track, **out}


@dataclass(frozen=True)
class ImageResult:
    """One image: its faces (largest first) and an image-level answer (the largest face's)."""

    path: str | None
    width: int
    height: int
    faces: list[FaceResult] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str | None:
        return self.faces[0].label if self.faces else None

    @property
    def probs(self) -> dict[str, float]:
        return self.faces[0].probs if self.faces else {}

    def at_size(self, full: tuple[int, int]) -> ImageResult:
        """This result of an image decoded smaller (see ``open_image_reduced``), with its size and
        boxes in the pixels of the ``full``-size image."""
        if (self.width, self.height) == tuple(full):
            return self
        sx, sy = full[0] / self.width, full[1] / self.height
        faces = [dataclasses.replace(f, box=(round(f.box[0] * sx), round(f.box[1] * sy), round(f.box[2] * sx),
                                             round(f.box[3] * sy))) for f in self.faces]
        return dataclasses.replace(self, width=full[0], height=full[1], faces=faces)

    def to_dict(self) -> dict:
        return {"path": self.path, "label": self.label, "probs": {k: round(v, 4) for k, v in self.probs.items()},
                "width": self.width, "height": self.height, "faces": [f.to_dict() for f in self.faces]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def summary_line(self) -> str:
        if not self.faces:
            return f"{self.path or 'image'}: no face"
        parts = [f"{f.label} {f.confidence:.0%}" for f in self.faces]
        return f"{self.path or 'image'}: {counted(len(self.faces), 'face')}: {', '.join(parts)}"

    # --- showing it (drawing lives in facexp.predict.render; PIL only, never torch) ------------
    def with_source(self, source: Any) -> ImageResult:
        """This result, holding a reference to the in-memory image (PIL image or bytes) it was
        predicted from, so it can draw itself; no copy is made (``Predictor.predict`` does this;
        results from paths read the file again when shown, so folder runs hold no pixels)."""
        object.__setattr__(self, "_source", source)
        return self

    def picture(self) -> Image.Image | None:
        """The photo, upright RGB: the image given to ``Predictor.predict``, else read again from
        ``path``; None when there is neither (or the file is gone)."""
        from .predict.render import result_picture

        return result_picture(self)

    def plot(self, *, max_side: int | None = None) -> Image.Image | None:
        """The photo with each face's numbered box and '#N label NN%' (or a 'no face' mark), at most
        ``max_side`` pixels long; None when the photo cannot be had (see ``picture``)."""
        from .predict.render import annotated_picture

        return annotated_picture(self, max_side=max_side)

    def _repr_html_(self) -> str:
        """Jupyter: the annotated photo beside a table of faces and probabilities."""
        from .predict.render import result_html

        return result_html(self)


class ImageResults(list):
    """Results of several images in input order (an unreadable one as its ``ImageDecodeError``, in
    its place); shows as a grid of annotated thumbnails in a notebook (``predict_batch`` and
    ``facexp.predict.predict`` return one; ``ImageResults(my_list)`` wraps any list)."""

    def summary_lines(self) -> list[str]:
        return [r.summary_line() if isinstance(r, ImageResult) else f"unreadable: {r}" for r in self]

    def _repr_html_(self) -> str:
        from .predict.render import results_html

        return results_html(self)


@dataclass(frozen=True)
class FrameResult(ImageResult):
    """One sampled frame of a video: an ImageResult plus where it is in the clip.

    Its faces carry ``track`` ids, and their probabilities are smoothed over each track's recent
    frames (see ``facexp.predict.video``).
    """

    frame: int = 0  # index of the frame in the clip (0-based)
    time_s: float = 0.0  # its time from the start of the clip

    def to_dict(self) -> dict:
        return {"frame": self.frame, "time_s": round(self.time_s, 3), **super().to_dict()}

    def summary_line(self) -> str:
        return f"{self.time_s:8.2f}s " + super().summary_line()
