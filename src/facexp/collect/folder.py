"""Local images (class sub-folders, or a zip of them) into a dataset with a manifest.

With ``out`` equal to the source folder the images are indexed where they are (nothing copied),
which is how `facexp dedup` works on a folder that was never collected.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from .._progress import track
from ..errors import CollectError, ImageDecodeError
from ..imageio import is_image_path
from .dedup import mark_exact_duplicates
from .manifest import ManifestDB
from .store import describe_in_place, remove_partials, store_image


def _entries(src: Path):
    """(label, name, read-bytes) for each image, from a folder tree or a zip archive."""
    if src.is_file() and zipfile.is_zipfile(src):
        archive = zipfile.ZipFile(src)
        for info in archive.infolist():
            parts = Path(info.filename).parts
            if info.is_dir() or len(parts) < 2 or not is_image_path(info.filename) or parts[-1].startswith("."):
                continue
            yield parts[-2], f"{src.name}:{info.filename}", lambda i=info: archive.read(i)
        return
    for path in sorted(src.rglob("*")):
        if path.is_file() and is_image_path(path) and path.parent != src and not path.name.startswith("."):
            yield path.parent.name, str(path), path.read_bytes


def collect_folder(src: str | os.PathLike, out: str | os.PathLike) -> ManifestDB:
    """Verify, hash and register every image of ``src`` (label = its folder's name) in ``out``."""
    src, out = Path(src), Path(out)
    if not src.exists():
        raise CollectError(f"{src}: no such folder or zip")
    in_place = src.resolve() == out.resolve()
    db = ManifestDB(out)
    remove_partials(out)
    entries = [e for e in _entries(src) if not in_place or not Path(e[1]).relative_to(src).parts[0].startswith("_")]
    if not entries:
        raise CollectError(f"{src}: no images in class sub-folders (expected {src}/<label>/*.jpg)")
    done = {(it.source, it.label) for it in db.items(statuses=("ok", "duplicate", "conflict"))}
    for label, name, read in track(entries, "indexing" if in_place else "copying"):
        source = str(Path(name).relative_to(src)) if in_place else name
        if (source, label) in done:
            continue
        item_id = db.add(source, label)
        try:
            stored = describe_in_place(out, Path(name)) if in_place else store_image(read(), out, label, name=name)
        except ImageDecodeError as exc:
            db.update(item_id, count_attempt=True, status="failed", reason=f"not_image: {exc}"[:300])
            continue
        db.update(item_id, count_attempt=True, status="ok", sha256=stored.sha256, phash=stored.phash,
                  width=stored.width, height=stored.height, format=stored.format, path=stored.path)
    mark_exact_duplicates(db)
    db.export_csv()
    return db
