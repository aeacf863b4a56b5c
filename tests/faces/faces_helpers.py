"""Images for the faces tests, built from scikit-image's astronaut (a real public-domain photo)."""

from __future__ import annotations

from PIL import Image

BACKGROUND = (200, 205, 210)
# (top-left corner, scale, rotation in degrees counter-clockwise) of each pasted head
COLLAGE = (((30, 40), 1.0, 0), ((330, 50), 0.7, 20), ((560, 260), 1.3, -15), ((110, 360), 0.8, 0))


def head(astro: Image.Image) -> Image.Image:
    """The astronaut's head with some hair and neck around it."""
    return astro.crop((140, 20, 310, 220))


def make_collage(astro: Image.Image, specs=COLLAGE, size=(900, 620)) -> Image.Image:
    """Heads pasted at known scales and rotations on a plain background: len(specs) faces."""
    canvas = Image.new("RGB", size, BACKGROUND)
    for (x, y), scale, angle in specs:
        piece = head(astro)
        piece = piece.resize((round(piece.width * scale), round(piece.height * scale)), Image.BICUBIC)
        if angle:
            piece = piece.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=BACKGROUND)
        canvas.paste(piece, (x, y))
    return canvas
