"""Boxes and labels drawn on a photo, readable whatever the photo's size and colours."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from .types import Face, clip_box

# Saturated colours dark enough for white text on them; boxes get a black outline on top, so
# they stand out on light, dark and busy backgrounds alike.
PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#e6550d", "#17becf", "#e377c2", "#8c564b")

Box = tuple[float, float, float, float]


def draw_faces(image: Image.Image, faces: Sequence[Face | Box], labels: Sequence[str] | None = None, *,
               note: str | None = None, colours: Sequence[int] | None = None) -> Image.Image:
    """A copy of ``image`` with each face's box outlined and its label on a filled tag.

    Args:
        image: the photo the faces were found in (any mode; the copy is RGB).
        faces: ``Face`` objects or plain (x, y, w, h) boxes, e.g. ``FaceResult.box``.
        labels: one text per face (e.g. "#1 happy 93%"), or None for boxes only.
        note: text on a tag in the top-left corner, e.g. "no face", so a copy with nothing drawn
            is not mistaken for one that was never processed.
        colours: a palette index per face (e.g. a video's track ids, so a person keeps a colour);
            default: the face's position.

    Line width and font size follow the image size; boxes are cut to the image, so a face cut
    off by its border still shows its outline, and tags stay inside the image.
    """
    if labels is not None and len(labels) != len(faces):
        raise ValueError(f"draw_faces got {len(faces)} faces but {len(labels)} labels; pass one label per face")
    out = image.convert("RGB")  # always a new image: the caller's stays untouched
    draw = ImageDraw.Draw(out)
    longest = max(out.size)
    line = max(2, round(longest / 320))
    font_px = max(11, round(longest / 45))
    font = ImageFont.load_default(size=font_px)
    for i, face in enumerate(faces):
        x, y, w, h = clip_box(face.box if isinstance(face, Face) else face, *out.size)
        colour = PALETTE[(colours[i] if colours is not None else i) % len(PALETTE)]
        # the coloured band is drawn inward from the box; a dark line right outside it keeps it visible on pale photos
        draw.rectangle([x - 1, y - 1, x + w + 1, y + h + 1], outline="black", width=1)
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=line)
        if labels:
            _tag(draw, labels[i], x, y, h, colour, font, line, out.size)
    if note:
        _tag(draw, note, 0, 0, 0, "#444444", ImageFont.load_default(size=2 * font_px), 2 * line, out.size)
    return out


def _tag(draw: ImageDraw.ImageDraw, text: str, x: float, y: float, h: float, colour: str,
         font: ImageFont.ImageFont | ImageFont.FreeTypeFont, pad: int, size: tuple[int, int]) -> None:
    """``text`` on a ``colour`` tag above the box, or below it / inside the top when there is no room."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
    ty = y - tag_h if y - tag_h >= 0 else (y + h if y + h + tag_h <= size[1] else max(0.0, y))
    tx = min(max(0.0, x), max(0.0, size[0] - tag_w))
    draw.rectangle([tx, ty, tx + tag_w, ty + tag_h], fill=colour, outline="black")
    draw.text((tx + pad - left, ty + pad - top), text, fill="white", font=font, stroke_width=max(1, pad // 2),
              stroke_fill="black")
