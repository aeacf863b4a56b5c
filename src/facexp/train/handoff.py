"""What a training run takes from the stage before it and leaves for the stages after it.

* From ``facexp faces RAW OUT``: the face settings the crops were made with (``OUT/faces.json``)
  go into model.json, so prediction finds and crops faces as the training crops were made, and
  the photos that gave no crop are listed in the card (``training.data.skipped``).
* For ``facexp evaluate RUN``: a held-out test split, written as ``RUN/test.csv`` (absolute
  paths, labels, split=test), never seen in training or validation.
* For ``facexp predict``: the size of the training images, so a model trained on whole images
  can warn when a photo is much larger than anything it saw (it probably needs ``--detect``).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .._plural import counted
from ..data import Manifest, read_manifest
from ..errors import ConfigError, DataError

TEST_FILE = "test.csv"
MIN_PER_CLASS = 5  # classes with fewer images keep them all for training and validation


def from_face_crops(manifest: Manifest) -> tuple[Manifest, dict | None, dict | None]:
    """The manifest with photos `facexp faces` could not crop added to ``skipped``, plus its face settings.

    Returns:
        (manifest, face settings or None, crops summary for the card or None) — None when the
        data is not a folder written by ``facexp faces``.
    """
    from ..faces import read_crops_info
    from ..faces.extract import dropped_line

    info = read_crops_info(manifest.root)
    if info is None:
        return manifest, None, None
    if info.dropped:
        warnings.warn(dropped_line(info.dropped, info.report_path), stacklevel=3)
    manifest = dataclasses.replace(manifest, skipped=[*manifest.skipped, *info.dropped])
    return manifest, info.settings, info.summary()


def split_test(manifest: Manifest, *, test_pct: float = 0.0, test: str | os.PathLike | None = None,
               seed: int = 42) -> tuple[Manifest, Manifest | None]:
    """Set a test split apart: the rows marked ``test``, else ``test`` (a folder or CSV), else ``test_pct``.

    The held-out rows stay in the manifest marked ``split=test`` (``make_dataloaders`` leaves
    them out); ``test_pct`` takes that fraction of each class with at least 5 images (rows
    marked ``valid`` are never taken), with ``seed``.

    Returns:
        (manifest for training, test manifest or None when there is no test split).

    Raises:
        ConfigError: ``test`` given for data that already marks test rows.
        DataError: ``test`` is unreadable, holds unknown labels, or shares images with the training data.
    """
    items = manifest.items
    marked = items["split"] == "test" if "split" in items.columns else pd.Series(False, index=items.index)
    if marked.any():
        if test is not None:
            raise ConfigError(f"{manifest.root}: the data already marks {int(marked.sum())} rows split=test; "
                              "drop --test, or the test rows from the data")
        return manifest, dataclasses.replace(manifest, items=items[marked].reset_index(drop=True), skipped=[])
    if test is not None:
        held = read_manifest(test, min_classes=1)
        unknown = sorted(set(held.classes) - set(manifest.classes))
        if unknown:
            raise DataError(f"{test}: test labels {unknown} are not in the training data ({manifest.classes})")
        shared = sorted(set(held.items["path"]) & set(items["path"]))
        if shared:
            raise DataError(f"{test}: {counted(len(shared), 'test image')} also in the training data "
                            f"(e.g. {shared[0]}); a test set must be held out")
        return manifest, held
    if test_pct <= 0:
        return manifest, None
    if not 0 < test_pct < 1:
        raise ConfigError(f"--test-pct must be in [0, 1); got {test_pct}")
    rng = np.random.default_rng(seed)
    candidates = items[items["split"] != "valid"] if "split" in items.columns else items
    chosen: list[int] = []
    for _, group in candidates.groupby("label", sort=True):
        if len(group) >= MIN_PER_CLASS:
            n = max(1, int(round(len(group) * test_pct)))
            chosen.extend(rng.choice(group.index.to_numpy(), size=n, replace=False).tolist())
    if not chosen:
        return manifest, None
    items = items.copy()
    if "split" not in items.columns:
        items["split"] = ""
    items.loc[chosen, "split"] = "test"
    is_test = items["split"] == "test"
    return (dataclasses.replace(manifest, items=items),
            dataclasses.replace(manifest, items=items[is_test].reset_index(drop=True), skipped=[]))


def write_test_csv(test: Manifest, path: str | os.PathLike) -> Path:
    """``path,label,split`` with absolute paths, readable by ``facexp evaluate`` from anywhere.

    Soft labels keep their class columns instead of ``label`` (evaluate then leaves ties out).
    """
    path = Path(path)
    frame = pd.DataFrame({"path": [str(Path(p).resolve()) for p in test.items["path"]],
                          "label": list(test.items["label"]), "split": "test"})
    if test.soft:
        frame = frame.drop(columns="label").join(test.items[test.class_columns].reset_index(drop=True))
    frame.to_csv(path, index=False)
    return path


def image_sides(manifest: Manifest, *, n: int = 200, seed: int = 0) -> dict | None:
    """Median and largest longer side (pixels) of a sample of the training images (headers only)."""
    from PIL import Image

    sample = manifest.items.sample(min(n, len(manifest.items)), random_state=seed)["path"]
    sides = []
    for p in sample:
        try:
            with Image.open(p) as img:
                sides.append(max(img.size))
        except (OSError, ValueError):
            continue
    if not sides:
        return None
    return {"median_side": int(np.median(sides)), "max_side": int(max(sides)), "n_sampled": len(sides)}


def run_record(out: Path, manifest: Manifest, test: Manifest | None, crops: dict | None) -> dict:
    """Write ``out/test.csv`` (when there is a test split); the card's record of what the run hands on."""
    record: dict = {"source_images": image_sides(_training_part(manifest))}
    if test is not None and len(test.items):
        path = write_test_csv(test, out / TEST_FILE)
        record["test"] = {"path": str(path.resolve()), "n": len(test.items), "counts": test.counts()}
    if crops is not None:
        record["crops"] = crops
    return record


def _training_part(manifest: Manifest) -> Manifest:
    items = manifest.items
    if "split" in items.columns:
        items = items[items["split"] != "test"]
    return dataclasses.replace(manifest, items=items)


def valid_warnings(learn) -> tuple[dict[str, int], list[str]]:
    """Predicted-class counts on the validation split (best weights) and ``prediction_warnings`` for it."""
    from ..checks import prediction_warnings

    with learn.no_bar():
        probs, targets = learn.get_preds(dl=learn.dls.valid)
    y_pred = probs.argmax(dim=1).tolist()
    y_true = (targets.argmax(dim=1) if targets.dim() > 1 else targets).tolist()  # soft labels: majority class
    classes = [str(c) for c in learn.dls.vocab]
    counts = {c: int(sum(p == i for p in y_pred)) for i, c in enumerate(classes)}
    return counts, prediction_warnings(classes, y_true, y_pred, where="on the validation split")
