"""Annotated copies of predicted photos (boxes + expression labels)."""

from __future__ import annotations

import os
from pathlib import Path

from ..faces.draw import draw_faces
from ..imageio import open_image
from ..results import ImageResult


def annotate(image, result: ImageResult):
    """``image`` with every face's box and 'label NN%' drawn."""
    return draw_faces(image, [f.box for f in result.faces], [f"{f.label} {f.confidence:.0%}" for f in result.faces])


def save_annotated(path: str | os.PathLike, result: ImageResult, out_dir: str | os.PathLike) -> Path:
    """Write the annotated copy of ``path`` into ``out_dir`` (same name, JPEG/PNG as the source)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / Path(path).name
    if target.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        target = target.with_suffix(".png")
    annotate(open_image(path), result).save(target)
    return target
