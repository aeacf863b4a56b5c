"""How predictions are shown: annotated copies (boxes, numbers, labels) and the terminal table.

Faces are numbered #1, #2, ... (largest first) the same way on the picture, in the table and on
the web page, so a face can be matched to its row without relying on colour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table

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
