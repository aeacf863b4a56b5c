"""HTML pieces for notebook display (``_repr_html_``): inline images, cards, grids and tables.

Results show themselves in Jupyter through these: an ``ImageResult`` as its photo with numbered
boxes, a list of them as a grid, an evaluation as its numbers, confusion matrix and top losses.
Everything is one self-contained HTML string (images as ``data:`` URIs, inline styles only, so a
notebook's own CSS neither leaks in nor out), built with PIL alone: no torch, no matplotlib, so
showing a prediction never loads the training stack.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence

from PIL import Image

from .errors import ImageDecodeError

THUMB_SIDE = 160  # grid cells
MIN_SIDE = 96  # FER-sized 48 px crops are enlarged to this, so an expression can be seen
MAX_CARDS = 48  # a grid shows at most this many; the rest are counted, not drawn

esc = html.escape


def image_uri(image: Image.Image, *, fmt: str | None = None) -> str:
    """``image`` as a ``data:`` URI: JPEG for photos, PNG when asked (plots, heat maps with sharp edges)."""
    fmt = fmt or "JPEG"
    buf = io.BytesIO()
    image.convert("RGB").save(buf, fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode()}"


def bytes_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def fit(image: Image.Image, side: int, *, min_side: int = MIN_SIDE) -> Image.Image:
    """A copy no longer than ``side`` and, for tiny crops, no shorter than ``min_side`` (nearest-neighbour
    enlargement would hide nothing, bicubic keeps a face readable)."""
    out = image.copy()
    out.thumbnail((side, side))
    min_side = min(min_side, side)
    if max(out.size) < min_side:
        k = min_side / max(out.size)
        out = out.resize((max(1, round(out.width * k)), max(1, round(out.height * k))), Image.BICUBIC)
    return out


def thumbnail(source: str | os.PathLike | bytes | Image.Image, side: int = THUMB_SIDE) -> Image.Image | None:
    """``source`` read at a reduced scale (large JPEGs are decoded at 1/2 to 1/8) and fitted to ``side``;
    None when it cannot be read (a moved or broken file is shown as such, never raised from a repr)."""
    from .imageio import open_image_reduced

    if isinstance(source, Image.Image):
        return fit(source.convert("RGB"), side)
    try:
        return fit(open_image_reduced(source, max_side=side)[0], side)
    except (ImageDecodeError, OSError):
        return None


def img_tag(image: Image.Image | None, alt: str, *, fmt: str | None = None, width: int | None = None) -> str:
    """An ``<img>`` of ``image``, or a grey 'not readable' box of the same footprint."""
    if image is None:
        side = width or THUMB_SIDE
        return (f'<div style="width:{side}px;height:{side * 3 // 4}px;background:#ddd;color:#555;display:flex;'
                f'align-items:center;justify-content:center;font-size:12px">{esc(alt)}: not readable</div>')
    size = f' width="{width}"' if width else ""
    return f'<img alt="{esc(alt)}" src="{image_uri(image, fmt=fmt)}"{size} style="max-width:100%">'


def card(image_html: str, caption_html: str, *, width: int = THUMB_SIDE) -> str:
    """One grid cell: a picture over a short caption (caption already escaped)."""
    return (f'<figure style="display:inline-block;vertical-align:top;width:{width}px;margin:4px;font-size:12px;'
            f'line-height:1.3;overflow-wrap:anywhere">{image_html}<figcaption>{caption_html}</figcaption></figure>')


def grid(cards: Iterable[str], *, n_total: int, shown: int, more: str = "") -> str:
    """Cards side by side, wrapping; says how many were left out (and where to find them)."""
    tail = f"<p>… and {n_total - shown} more{esc(more)}</p>" if n_total > shown else ""
    return f'<div style="display:flex;flex-wrap:wrap;align-items:flex-start">{"".join(cards)}</div>{tail}'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """A compact table; cells are escaped unless ``raw`` (then they are HTML already)."""
    cell = (lambda v: str(v)) if raw else (lambda v: esc(str(v)))
    style = 'style="border:1px solid #ccc;padding:2px 8px;text-align:left"'
    head = "".join(f"<th {style}>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td {style}>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table style="border-collapse:collapse;margin:6px 0;font-size:13px"><tr>{head}</tr>{body}</table>'


def bar(fraction: float, text: str, *, colour: str = "#1f77b4", width: int = 90) -> str:
    """A small horizontal bar (probability, share) with its number beside it."""
    filled = max(0, min(width, round(fraction * width)))
    return (f'<span style="display:inline-block;width:{width}px;height:9px;background:#eee;margin-right:4px">'
            f'<span style="display:block;width:{filled}px;height:9px;background:{colour}"></span></span>{esc(text)}')


def section(title: str, body: str, *, note: str = "") -> str:
    """A titled block; ``note`` is a one-line explanation under the title."""
    note_html = f'<div style="color:#555;font-size:12px">{esc(note)}</div>' if note else ""
    return f'<div style="margin:8px 0"><b>{esc(title)}</b>{note_html}{body}</div>'


def warnings_html(lines: Iterable[str]) -> str:
    """Warnings first, in a box a reader cannot miss."""
    return "".join(f'<div style="background:#fff3cd;border:1px solid #e0a800;padding:4px 8px;margin:4px 0">'
                   f"&#9888; {esc(w)}</div>" for w in lines)


def wrap(body: str) -> str:
    """The outer element every repr returns (one root, sans-serif, no page-wide styles)."""
    return f'<div class="facexp" style="font-family:sans-serif">{body}</div>'
