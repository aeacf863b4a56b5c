"""Local images (class sub-folders, or a zip of them) into a dataset with a manifest.

The class of an image is its first folder below the source (``faces/happy/2020/a.jpg`` → happy);
a zip whose class folders all sit in one top folder (``faces.zip: faces/happy/a.jpg``,
``faces/sad/b.jpg``) has that folder skipped. Images with no class folder are reported, not
guessed. With ``out`` equal to the source the images are indexed where they are (nothing copied
or renamed): that is how ``facexp dedup`` works on a folder that was never collected.
"""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from .._plural import counted
from .._progress import track
from ..errors import CollectError, DataError
from ..imageio import is_image_path
from ._lock import dataset_lock
from .config import CollectConfig
from .dedup import check_files, settle
from .manifest import ManifestDB
from .report import CollectReport, build_report
from .sources import check_label
from .verify import Rejected, inspect_image, remove_partials, store_image

log = logging.getLogger(__name__)
_CHUNK = 256  # images verified between two manifest commits


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _entries(src: Path, out: Path) -> tuple[list[tuple[tuple[str, ...], str, Callable[[], bytes], int]],
                                            zipfile.ZipFile | None]:
    """(relative parts, source key, reader, size) of every image file, and the zip to close."""
    found = []
    if src.is_file():
        if not zipfile.is_zipfile(src):
            raise DataError(f"{src}: not a folder or a zip archive; pass a folder of class sub-folders or a .zip")
        archive = zipfile.ZipFile(src)
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if not info.is_dir() and is_image_path(info.filename) and not _hidden(parts):
                found.append((parts, f"{src.resolve()}!/{info.filename}",
                              lambda i=info: archive.read(i), info.file_size))
        return found, archive
    root, out_resolved = src.resolve(), out.resolve()
    inside = out_resolved.is_relative_to(root) and out_resolved != root
    skip = out_resolved.relative_to(root).parts if inside else None  # the output folder is not an input
    for path in sorted(src.rglob("*")):
        parts = path.relative_to(src).parts
        if _hidden(parts) or not is_image_path(path) or (skip and parts[:len(skip)] == skip):
            continue
        try:
            info = path.stat()
        except OSError:  # a link to nothing: recorded as unreadable when it is read, like any bad file
            found.append((parts, str(root.joinpath(*parts)), path.read_bytes, 0))
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((parts, str(root.joinpath(*parts)), path.read_bytes, info.st_size))
    return found, None


def _labelled(entries, src: Path, *, unwrap: bool):
    """The first folder is the label; with ``unwrap``, first drop a folder that wraps all class folders."""
    if (unwrap and entries and all(len(e[0]) >= 3 for e in entries) and len({e[0][0] for e in entries}) == 1
            and len({e[0][1] for e in entries}) > 1):
        entries = [(parts[1:], *rest) for parts, *rest in entries]
    labelled, loose = [], []
    for parts, key, read, size in entries:
        if len(parts) < 2:
            loose.append("/".join(parts))
        else:
            labelled.append((check_label(parts[0], f"{src}/{parts[0]}"), "/".join(parts), key, read, size))
    return labelled, loose


def collect_folder(src: str | os.PathLike, dataset_dir: str | os.PathLike, *,
                   config: CollectConfig | None = None) -> CollectReport:
    """Verify, hash and register every image of ``src`` (label = its class folder) in ``dataset_dir``.

    Copies are stored as ``<label>/<sha256[:16]><suffix>`` like downloads; with ``dataset_dir``
    equal to ``src`` the files are indexed in place. Safe to rerun: done files are skipped.

    Args:
        src: a folder of class sub-folders, or a zip of one.
        dataset_dir: the dataset folder.
        config: ``workers`` (verification threads), ``max_bytes`` and ``max_pixels`` are used.

    Raises:
        DataError: ``src`` is missing, not a folder or zip, or holds no image in a class folder.
        CollectError: another run is writing the dataset, or it cannot be written.
    """
    config = config or CollectConfig()
    src, out = Path(src), Path(dataset_dir)
    if not src.exists():
        raise DataError(f"{src}: no such folder or zip; pass a folder of class sub-folders (or a zip of one)")
    in_place = src.is_dir() and src.resolve() == out.resolve()
    entries, archive = _entries(src, out)
    labelled, loose = _labelled(entries, src, unwrap=archive is not None)
    if loose:
        log.warning("%s: skipped %s not in a class folder (e.g. %s); move them into <label>/",
                    src, counted(len(loose), "image"), loose[0])
    if not labelled:
        raise DataError(f"{src}: no images in class sub-folders (expected {src}/<label>/*.jpg)"
                        + (f"; found {counted(len(loose), 'image')} directly in it" if loose else ""))
    origin = f"folder:{src.resolve()}"
    keys = [(rel if in_place else key, label) for label, rel, key, _, _ in labelled]
    with dataset_lock(out), ManifestDB(out) as db:
        remove_partials(out)
        db.add_items((key, label, origin) for key, label in keys)
        check_files(db)
        todo_ids = {(r.source, r.label): r.id for r in db.records(statuses=("pending", "failed"))}
        todo = [(todo_ids[k], entry) for k, entry in zip(keys, labelled) if k in todo_ids]
        try:
            _verify_all(todo, db, out, in_place, config)
        finally:
            settle(db)
            if archive is not None:
                archive.close()
        wanted = set(keys)
        return build_report(db, [r for r in db.records() if (r.source, r.label) in wanted])


def _verify_all(todo, db: ManifestDB, out: Path, in_place: bool, config: CollectConfig) -> None:
    def one(entry):
        label, rel, key, read, size = entry
        if size > config.max_bytes:
            return Rejected("too_large", f"{key}: {size:,} bytes, the limit is {config.max_bytes:,}")
        try:
            data = read()
        except (OSError, zipfile.BadZipFile) as exc:
            return Rejected("unreadable", f"{key}: {exc}")
        try:
            info = inspect_image(data, name=key, max_pixels=config.max_pixels)
        except Rejected as exc:
            return exc
        try:
            path = rel if in_place else store_image(data, out, label, info)
        except OSError as exc:
            raise CollectError(f"{out}: cannot write images ({exc.strerror or exc}); free some space or "
                               "choose another --out, then rerun") from None
        return info, path

    ticks = iter(track(range(len(todo)), "indexing" if in_place else "copying"))
    try:
        with ThreadPoolExecutor(min(config.workers, os.cpu_count() or 1)) as pool:
            for start in range(0, len(todo), _CHUNK):
                chunk = todo[start:start + _CHUNK]
                results = list(pool.map(one, [entry for _, entry in chunk]))
                with db.batch():
                    for (item_id, _), result in zip(chunk, results):
                        if isinstance(result, Rejected):
                            db.record_failure(item_id, result.reason, str(result))
                        else:
                            info, path = result
                            db.record_ok(item_id, path=path, sha256=info.sha256, phash=info.phash,
                                         width=info.width, height=info.height, format=info.format,
                                         n_bytes=info.n_bytes)
                        next(ticks, None)
    finally:
        ticks.close()  # type: ignore[attr-defined]
