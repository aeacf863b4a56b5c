"""Drawing boxes and labels on a photo, readable at any photo size."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"]


def draw_faces(image: Image.Image, boxes: list[tuple[float, float, float, float]],
               labels: list[str] | None = None) -> Image.Image:
    """A copy of ``image`` with each (x, y, w, h) box outlined and its label on a filled tag."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    line = max(2, round(max(out.size) / 300))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 40)))
    for i, (x, y, w, h) in enumerate(boxes):
        colour = PALETTE[i % len(PALETTE)]
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=line)
        if labels:
            text = labels[i]
            left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
            tag_h = bottom - top + 2 * line
            ty = y - tag_h if y - tag_h >= 0 else y + h
            draw.rectangle([x, ty, x + right - left + 2 * line, ty + tag_h], fill=colour)
            draw.text((x + line, ty + line - top), text, fill="white", font=font)
    return out
