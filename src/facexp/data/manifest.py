"""Manifests: the table of (image path, label[, split]) every later stage reads.

A dataset arrives as a folder of class sub-folders, or as a CSV (``path,label[,split]``, paths
relative to the CSV's folder) such as the one ``facexp collect`` writes. Either way it becomes a
``Manifest``; images that cannot be decoded are set aside and listed, never silently dropped,
and nothing on disk is modified.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .._progress import track
from ..errors import DataError, ImageDecodeError
from ..imageio import is_image_path, list_images, open_image

SPLITS = ("train", "valid", "test")


@dataclass
class Manifest:
    """Rows of ``path`` (absolute), ``label`` and optional ``split``; ``skipped`` lists bad files."""

    items: pd.DataFrame
    root: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def classes(self) -> list[str]:
        return sorted(self.items["label"].unique())

    def counts(self) -> dict[str, int]:
        """Images per class, for the model card and imbalance handling."""
        return {k: int(v) for k, v in self.items["label"].value_counts().sort_index().items()}

    def subset(self, classes: list[str]) -> Manifest:
        """Keep only ``classes``; a name that is not in the data is an error listing the real ones."""
        unknown = sorted(set(classes) - set(self.classes))
        if unknown:
            raise DataError(f"--classes names {unknown} which are not in the data; classes found: {self.classes}")
        kept = self.items[self.items["label"].isin(classes)].reset_index(drop=True)
        return Manifest(kept, self.root, list(self.skipped))

    def summary(self) -> dict:
        return {"root": str(self.root), "n_images": len(self.items), "counts": self.counts(),
                "n_skipped": len(self.skipped), "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def read_manifest(source: str | os.PathLike, *, verify: bool = True, min_classes: int = 2) -> Manifest:
    """Read a folder of class sub-folders or a manifest CSV.

    Args:
        source: a folder (``source/<label>/*.jpg``) or a ``.csv``/``.tsv`` with ``path`` and
            ``label`` columns (and an optional ``split`` column: train/valid/test).
        verify: decode every image once and set aside the ones that fail.
        min_classes: fewer classes than this is an error (a classifier needs two).

    Raises:
        DataError: missing or empty data, a class with no usable image, a bad CSV.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder; pass a folder of class sub-folders or a manifest CSV")
    items = _read_csv(source) if source.is_file() else _read_folder(source)
    root = source.parent if source.is_file() else source
    manifest = Manifest(items, root.resolve())
    if verify:
        manifest = verify_images(manifest)
    _check_classes(manifest, source, min_classes)
    return manifest


def _read_folder(folder: Path) -> pd.DataFrame:
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    rows = [(str(p.resolve()), d.name) for d in class_dirs for p in list_images(d)]
    if not rows:
        loose = [p for p in folder.iterdir() if p.is_file() and is_image_path(p)]
        hint = (f" It holds {len(loose)} images directly: move them into one sub-folder per class."
                if loose else "")
        raise DataError(f"{folder}: no images in class sub-folders (expected {folder}/<label>/*.jpg).{hint}")
    return pd.DataFrame(rows, columns=["path", "label"])


def _read_csv(csv_path: Path) -> pd.DataFrame:
    sep = "\t" if csv_path.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(csv_path, sep=sep, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{csv_path}: cannot read as a CSV ({exc})") from None
    missing = {"path", "label"} - set(df.columns)
    if missing:
        raise DataError(f"{csv_path}: needs columns path and label; missing {sorted(missing)} (found {list(df.columns)})")
    df = df[df["label"].str.strip() != ""].copy()
    df["path"] = [str((csv_path.parent / p).resolve()) for p in df["path"]]
    if "split" in df.columns:
        bad = sorted(set(df["split"]) - set(SPLITS) - {""})
        if bad:
            raise DataError(f"{csv_path}: split column has {bad}; allowed values are {list(SPLITS)}")
    columns = ["path", "label"] + (["split"] if "split" in df.columns else [])
    return df[columns].reset_index(drop=True)


def verify_images(manifest: Manifest) -> Manifest:
    """Decode every image once; unreadable or missing files move to ``skipped`` with the reason."""
    ok, skipped = [], list(manifest.skipped)
    for row in track(list(manifest.items.itertuples(index=False)), "checking images"):
        try:
            open_image(row.path)
            ok.append(row)
        except ImageDecodeError as exc:
            skipped.append((row.path, str(exc)))
    return Manifest(pd.DataFrame(ok, columns=manifest.items.columns), manifest.root, skipped)


def _check_classes(manifest: Manifest, source: Path, min_classes: int) -> None:
    if manifest.items.empty:
        raise DataError(f"{source}: none of the {len(manifest.skipped)} images could be read")
    if len(manifest.classes) < min_classes:
        raise DataError(f"{source}: found only class(es) {manifest.classes}; a classifier needs at least "
                        f"{min_classes} classes (one sub-folder or label per class)")
    if source.is_dir():
        empty = sorted(d.name for d in source.iterdir()
                       if d.is_dir() and not d.name.startswith(".") and d.name not in manifest.classes)
        if empty:
            raise DataError(f"{source}: class folder(s) {empty} hold no readable image; add images or remove the folder")


def looks_grayscale(manifest: Manifest, *, n: int = 200, seed: int = 0) -> bool:
    """True when a sample of the images has no colour (FER2013-like data), judged on decoded pixels."""
    import numpy as np

    sample = manifest.items.sample(min(n, len(manifest.items)), random_state=seed)
    for path in sample["path"]:
        arr = np.asarray(open_image(path), dtype=np.int16)
        if np.abs(arr[..., 0] - arr[..., 1]).max() > 8 or np.abs(arr[..., 1] - arr[..., 2]).max() > 8:
            return False
    return True
