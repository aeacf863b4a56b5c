"""How predictions are shown: annotated copies (boxes, numbers, labels), the terminal table, and the
notebook display of results (``_repr_html_``).

Faces are numbered #1, #2, ... (largest first) the same way on the picture, in the table and on
the web page, so a face can be matched to its row without relying on colour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from rich import box
from rich.table import Table

from .._plural import counted
from ..errors import ImageDecodeError
from ..faces.draw import draw_faces
from ..imageio import open_image
from ..results import FaceResult, ImageResult

NO_FACE = "no face"


def face_tag(i: int, face: FaceResult) -> str:
    """'#1 happy 93%': the face's number (1-based, largest first), label and confidence."""
    return f"#{i + 1} {face.label} {face.confidence:.0%}"


def annotate(image, result: ImageResult):
    """``image`` with every face's box and '#N label NN%' drawn, or a 'no face' mark."""
    return draw_faces(image, [f.box for f in result.faces], [face_tag(i, f) for i, f in enumerate(result.faces)],
                      note=None if result.faces else NO_FACE)


def save_annotated(path: str | os.PathLike, result: ImageResult, out_dir: str | os.PathLike, *,
                   name: str | None = None) -> Path:
    """Write the annotated copy of ``path`` as ``out_dir/name`` (default: the file's name; JPEG/PNG as the
    source, else PNG). ``name`` may hold sub-folders, so same-named photos of two folders both survive."""
    target = Path(out_dir) / (name or Path(path).name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        target = target.with_suffix(".png")
    annotate(open_image(path), result).save(target)
    return target


def results_table(results: Sequence[ImageResult], names: Sequence[str], *, width: int) -> Table:
    """One row per face (or per photo with none) that fits ``width`` terminal columns.

    Face cells read '#1 x,y,w,h' on one line. The runner-up column is left out when the longest
    name would not fit beside it, and names that still do not fit wrap rather than lose their end
    (the end of a file name is what tells photos apart).
    """
    rows = []
    for result, name in zip(results, names):
        if not result.faces:
            rows.append((name, "-", NO_FACE, "", ""))
        for i, f in enumerate(result.faces):
            ranked = sorted(f.probs.items(), key=lambda kv: -kv[1])
            second = f"{ranked[1][0]} {ranked[1][1]:.0%}" if len(ranked) > 1 else ""
            rows.append((name if i == 0 else "", f"#{i + 1} " + ",".join(map(str, f.box)), f.label,
                         f"{f.confidence:.0%}", second))
    headers = ("image", "face (x,y,w,h)", "expression", "conf.", "runner-up")

    def needed(cols: range) -> int:
        return sum(max(len(r[c]) for r in [headers, *rows]) + 2 for c in cols)

    keep = 5 if needed(range(5)) <= width else 4
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    table.add_column(headers[0], overflow="fold")
    for header in headers[1:keep]:
        table.add_column(header, no_wrap=True, justify="right" if header == "conf." else "left")
    for row in rows:
        table.add_row(*row[:keep])
    return table


# --- notebooks: ImageResult._repr_html_ and ImageResults._repr_html_ (PIL only, never torch) -----------
DISPLAY_SIDE = 560  # one result: the photo's longest side in the notebook
GRID_SIDE = 220  # a list of results: each photo's longest side


def result_picture(result: ImageResult, *, max_side: int | None = None) -> Image.Image | None:
    """The photo of ``result`` (upright RGB, at most ``max_side`` long): the in-memory image it was
    predicted from, else read again from its path (large JPEGs decoded at a reduced scale); None
    when neither is there."""
    from .._display import thumbnail

    source = getattr(result, "_source", None)
    source = result.path if source is None else source
    if source is None:
        return None
    if max_side is not None:
        return thumbnail(source, max_side)
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    try:
        return open_image(source)
    except (ImageDecodeError, OSError):
        return None


def annotated_picture(result: ImageResult, *, max_side: int | None = None) -> Image.Image | None:
    """``annotate`` on the photo shrunk to ``max_side``, boxes scaled with it; None without a photo."""
    image = result_picture(result, max_side=max_side)
    if image is None:
        return None
    sx, sy = image.width / max(1, result.width), image.height / max(1, result.height)
    boxes = [(x * sx, y * sy, w * sx, h * sy) for x, y, w, h in (f.box for f in result.faces)]
    return draw_faces(image, boxes, [face_tag(i, f) for i, f in enumerate(result.faces)],
                      note=None if result.faces else NO_FACE)


def _shown_name(path: str | None) -> str:
    """The last two parts of a path (class folder and file), enough to tell photos apart in a grid."""
    return "/".join(Path(path).parts[-2:]) if path else "image in memory"


def _picture_html(result: ImageResult, side: int) -> str:
    from .._display import esc, img_tag

    image = annotated_picture(result, max_side=side)
    if image is None:
        why = "file not found" if result.path else "given in memory to predict_batch; Predictor.predict keeps it"
        return f'<div style="color:#555;font-size:12px">(no picture: {esc(why)})</div>'
    return img_tag(image, _shown_name(result.path))


def result_html(result: ImageResult) -> str:
    """The annotated photo beside a table: one row per face with its colour, box, expression and the
    three most likely classes as bars."""
    from .._display import bar, esc, table, wrap
    from ..faces.draw import PALETTE

    rows = []
    for i, f in enumerate(result.faces):
        swatch = f'<span style="color:{PALETTE[i % len(PALETTE)]};font-weight:bold">&#9632; #{i + 1}</span>'
        ranked = sorted(f.probs.items(), key=lambda kv: -kv[1])[:3]
        probs = "<br>".join(bar(p, f"{c} {p:.0%}") for c, p in ranked)
        rows.append((swatch, esc(",".join(map(str, f.box))), f"<b>{esc(f.label)}</b>", probs))
    faces = (table(("face", "box x,y,w,h", "expression", "most likely"), rows, raw=True) if rows
             else "<p><b>no face found</b></p>")
    ms = sum(result.timings_ms.values())
    head = (f"<div><b>{esc(_shown_name(result.path))}</b> &middot; {result.width}x{result.height} &middot; "
            f"{counted(len(result.faces), 'face')}{f' &middot; {ms:.0f} ms' if ms else ''}</div>")
    body = (f'<div style="display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start">'
            f"<div>{_picture_html(result, DISPLAY_SIDE)}</div><div>{faces}</div></div>")
    return wrap(head + body)


def results_html(results: Sequence[ImageResult | Exception]) -> str:
    """A grid: each photo with its boxes, its name and its faces' answers; unreadable ones say why.
    At most ``MAX_CARDS`` are drawn (each read again from disk at a reduced scale)."""
    from collections import Counter

    from .._display import MAX_CARDS, card, esc, grid, wrap

    ok = [r for r in results if isinstance(r, ImageResult)]
    labels = Counter(f.label for r in ok for f in r.faces)
    n_bad = len(results) - len(ok)
    head = (f"<div><b>{counted(len(results), 'image')}</b>, {counted(sum(len(r.faces) for r in ok), 'face')}"
            f"{': ' + esc(', '.join(f'{c} {n}' for c, n in labels.most_common())) if labels else ''}"
            f"{f', {n_bad} unreadable' if n_bad else ''}</div>")
    cards = []
    for item in list(results)[:MAX_CARDS]:
        if not isinstance(item, ImageResult):
            cards.append(card("", f'<span style="color:#b00">{esc(str(item))}</span>', width=GRID_SIDE))
            continue
        answers = ", ".join(face_tag(i, f) for i, f in enumerate(item.faces)) or NO_FACE
        cards.append(card(_picture_html(item, GRID_SIDE), f"<b>{esc(_shown_name(item.path))}</b><br>{esc(answers)}",
                          width=GRID_SIDE))
    return wrap(head + grid(cards, n_total=len(results), shown=min(len(results), MAX_CARDS)))
