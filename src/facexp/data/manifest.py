"""Manifests: the table of (image path, label[, split]) every later stage reads.

A dataset arrives as a folder of class sub-folders, or as a CSV (``path,label[,split]``, paths
relative to the CSV's folder) such as the one ``facexp collect`` writes. Either way it becomes a
``Manifest``; images that cannot be decoded are set aside and listed, never silently dropped,
and nothing on disk is modified.

A CSV without a ``label`` column is a **soft-label** manifest: ``path``, an optional ``split``,
and one numeric column per class (probabilities or vote counts, e.g. FER+ crowd votes). Each
row is normalised to sum 1. Reserved names: ``path``, ``split``, ``label``; columns whose name
starts with ``_`` are notes and ignored, as are columns with no name (pandas reads them as
``Unnamed: N``: a DataFrame index saved with ``to_csv``); every other column is a class, in the
file's order.
The ``label`` column of such a Manifest holds each row's majority class (the argmax; on a tie,
the first tied class in column order), for counts, the balancing sampler and evaluation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._plural import counted
from .._progress import track
from ..errors import DataError, ImageDecodeError
from ..imageio import is_image_path, list_images, open_image

SPLITS = ("train", "valid", "test")
RESERVED_COLUMNS = ("path", "split", "label")


@dataclass
class Manifest:
    """Rows of ``path`` (absolute), ``label`` and optional ``split``; ``skipped`` lists bad files.

    A soft-label manifest also has one probability column per class (``class_columns``, rows
    summing to 1) and its ``label`` is the row's majority class.
    """

    items: pd.DataFrame
    root: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    class_columns: list[str] | None = None  # soft labels: the class columns, in the file's order

    @property
    def soft(self) -> bool:
        return self.class_columns is not None

    @property
    def classes(self) -> list[str]:
        return list(self.class_columns) if self.soft else sorted(self.items["label"].unique())

    def counts(self) -> dict[str, int]:
        """Images per class (soft labels: per majority class), for the model card and imbalance handling."""
        counts = self.items["label"].value_counts()
        if self.soft:
            return {c: int(counts.get(c, 0)) for c in self.class_columns}
        return {k: int(v) for k, v in counts.sort_index().items()}

    def tied(self) -> np.ndarray:
        """Soft labels: True for rows whose top classes tie (no majority); all False otherwise."""
        if not self.soft:
            return np.zeros(len(self.items), dtype=bool)
        probs = self.items[self.class_columns].to_numpy(np.float64)
        return (probs == probs.max(axis=1, keepdims=True)).sum(axis=1) > 1

    def subset(self, classes: list[str]) -> Manifest:
        """Keep only ``classes``; a name that is not in the data is an error listing the real ones.

        Soft labels keep those class columns, drop rows with no mass on them and renormalise.
        """
        unknown = sorted(set(classes) - set(self.classes))
        if unknown:
            raise DataError(f"--classes names {unknown} which are not in the data; classes found: {self.classes}")
        if not self.soft:
            kept = self.items[self.items["label"].isin(classes)].reset_index(drop=True)
            return Manifest(kept, self.root, list(self.skipped))
        columns = [c for c in self.class_columns if c in classes]
        probs = self.items[columns].to_numpy(np.float64)
        keep = probs.sum(axis=1) > 0
        kept = self.items[keep].drop(columns=[c for c in self.class_columns if c not in classes]).copy()
        kept[columns] = probs[keep] / probs[keep].sum(axis=1, keepdims=True)
        kept["label"] = _majority(kept[columns].to_numpy(), columns)
        return Manifest(kept.reset_index(drop=True), self.root, list(self.skipped), columns)

    def summary(self) -> dict:
        return {"root": str(self.root), "n_images": len(self.items), "counts": self.counts(),
                **({"soft_labels": True, "n_tied": int(self.tied().sum())} if self.soft else {}),
                "n_skipped": len(self.skipped), "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def read_manifest(source: str | os.PathLike, *, verify: bool = True, min_classes: int = 2) -> Manifest:
    """Read a folder of class sub-folders or a manifest CSV.

    Args:
        source: a folder (``source/<label>/*.jpg``) or a ``.csv``/``.tsv`` with ``path`` and
            ``label`` columns (and an optional ``split`` column: train/valid/test), or with
            ``path`` and one numeric column per class instead of ``label`` (soft labels; see the
            module docstring).
        verify: decode every image once and set aside the ones that fail.
        min_classes: fewer classes than this is an error (a classifier needs two).

    Raises:
        DataError: missing or empty data, a class with no usable image, a bad CSV.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder; pass a folder of class sub-folders or a manifest CSV")
    items, class_columns = _read_csv(source) if source.is_file() else (_read_folder(source), None)
    root = source.parent if source.is_file() else source
    manifest = Manifest(items, root.resolve(), class_columns=class_columns)
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


def _read_csv(csv_path: Path) -> tuple[pd.DataFrame, list[str] | None]:
    """The rows, and the class columns when the CSV holds soft labels (no ``label`` column)."""
    sep = "\t" if csv_path.suffix.lower() == ".tsv" else ","
    try:
        df = pd.read_csv(csv_path, sep=sep, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise DataError(f"{csv_path}: cannot read as a CSV ({exc})") from None
    if "path" not in df.columns:
        raise DataError(f"{csv_path}: needs columns path and label (or path and one numeric column per class); "
                        f"missing 'path' (found {list(df.columns)})")
    class_columns = None
    if "label" in df.columns:
        df = df[df["label"].str.strip() != ""].copy()
    else:
        class_columns = [c for c in df.columns if c not in RESERVED_COLUMNS and not _is_note(c)]
        df = _soft_labels(df, class_columns, csv_path)
    df["path"] = [str((csv_path.parent / p).resolve()) for p in df["path"]]
    if "split" in df.columns:
        bad = sorted(set(df["split"]) - set(SPLITS) - {""})
        if bad:
            raise DataError(f"{csv_path}: split column has {bad}; allowed values are {list(SPLITS)}")
    columns = ["path", "label"] + (["split"] if "split" in df.columns else []) + (class_columns or [])
    return df[columns].reset_index(drop=True), class_columns


def _is_note(column: str) -> bool:
    """A column a soft-label manifest ignores: a ``_`` name, or none (pandas' ``Unnamed: 0``, e.g. a saved index)."""
    return str(column).startswith("_") or str(column).startswith("Unnamed: ")


def _soft_labels(df: pd.DataFrame, class_columns: list[str], csv_path: Path) -> pd.DataFrame:
    """Class columns as floats normalised per row, plus the majority ``label``; bad values name their line."""
    soft = "(no label column, so read as soft labels: path, optional split, one numeric column per class)"
    if len(class_columns) < 2:
        raise DataError(f"{csv_path}: needs at least 2 class columns {soft}; found {class_columns or 'none'}")
    values = np.empty((len(df), len(class_columns)))
    for j, column in enumerate(class_columns):
        numbers = pd.to_numeric(df[column].str.strip(), errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if len(bad):
            raise DataError(f"{csv_path}: class column {column!r} is not numeric: line {bad[0] + 2} holds "
                            f"{df[column].iloc[bad[0]]!r} {soft}; prefix a note column's name with '_' to ignore it")
        negative = np.flatnonzero(numbers < 0)
        if len(negative):
            raise DataError(f"{csv_path}: class column {column!r} line {negative[0] + 2} is negative "
                            f"({numbers[negative[0]]:g}); use probabilities or vote counts (>= 0)")
        values[:, j] = numbers
    totals = values.sum(axis=1)
    zero = np.flatnonzero(totals <= 0)
    if len(zero):
        raise DataError(f"{csv_path}: line {zero[0] + 2} ({df['path'].iloc[zero[0]]}) has class values summing to 0; "
                        "every row needs a positive value for at least one class")
    out = df.copy()
    out[class_columns] = values / totals[:, None]
    out["label"] = _majority(values, class_columns)
    return out


def _majority(values: np.ndarray, class_columns: list[str]) -> np.ndarray:
    """Each row's argmax class name; a tie goes to the first tied class in column order."""
    return np.array(class_columns, dtype=object)[values.argmax(axis=1)]


def verify_images(manifest: Manifest) -> Manifest:
    """Decode every image once; unreadable or missing files move to ``skipped`` with the reason."""
    ok, skipped = [], list(manifest.skipped)
    for row in track(list(manifest.items.itertuples(index=False)), "checking images"):
        try:
            open_image(row.path)
            ok.append(row)
        except ImageDecodeError as exc:
            skipped.append((row.path, str(exc)))
    return Manifest(pd.DataFrame(ok, columns=manifest.items.columns), manifest.root, skipped, manifest.class_columns)


def _check_classes(manifest: Manifest, source: Path, min_classes: int) -> None:
    if manifest.items.empty:
        raise DataError(f"{source}: none of the {len(manifest.skipped)} images could be read")
    if len(manifest.classes) < min_classes:
        raise DataError(f"{source}: found only {counted(len(manifest.classes), 'class')} {manifest.classes}; "
                        f"a classifier needs at least {min_classes} classes (one sub-folder or label per class)")
    if source.is_dir():
        empty = sorted(d.name for d in source.iterdir()
                       if d.is_dir() and not d.name.startswith(".") and d.name not in manifest.classes)
        if empty:
            raise DataError(f"{source}: no readable image in {'class folder' if len(empty) == 1 else 'class folders'} "
                            f"{empty}; add images or remove {'it' if len(empty) == 1 else 'them'}")


def looks_grayscale(manifest: Manifest, *, n: int = 200, seed: int = 0) -> bool:
    """True when a sample of the images has no colour (FER2013-like data), judged on decoded pixels."""
    import numpy as np

    sample = manifest.items.sample(min(n, len(manifest.items)), random_state=seed)
    for path in sample["path"]:
        arr = np.asarray(open_image(path), dtype=np.int16)
        if np.abs(arr[..., 0] - arr[..., 1]).max() > 8 or np.abs(arr[..., 1] - arr[..., 2]).max() > 8:
            return False
    return True
