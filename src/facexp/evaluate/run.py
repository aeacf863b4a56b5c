"""Run a model over a labelled set and build the EvalReport."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._progress import track
from ..bundle import ModelBundle
from ..data import Manifest, read_manifest
from ..errors import DataError
from ..imageio import open_image
from ..predict import Predictor
from .metrics import EvalReport
from .report import write_report


def predict_manifest(predictor: Predictor, manifest: Manifest, *, batch_size: int = 256) -> np.ndarray:
    """Probabilities for every manifest row; with detection on, the largest face (or the whole image)."""
    paths = list(manifest.items["path"])
    out = []
    batches = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    for batch in track(batches, "evaluating"):
        images = [open_image(p) for p in batch]
        if predictor.detect:
            images = [(predictor.preprocess(img)[1] or [img])[0] for img in images]
        out.append(predictor.classify(images))
    return np.concatenate(out)


def evaluate(model: str | os.PathLike | ModelBundle | None, data: str | os.PathLike | Manifest, *,
             out: str | os.PathLike | None = None, detect: bool = False, tta: bool = False,
             classes: list[str] | None = None) -> EvalReport:
    """Evaluate ``model`` on labelled ``data`` (class folders or manifest CSV); write a report to ``out``.

    Raises:
        DataError: the data holds labels the model does not know.
    """
    predictor = Predictor(model, detect=detect, tta=tta, classes=classes)
    manifest = data if isinstance(data, Manifest) else read_manifest(data, min_classes=1)
    if classes:
        manifest = manifest.subset([c for c in classes if c in manifest.classes])
    unknown = sorted(set(manifest.classes) - set(predictor.classes))
    if unknown:
        raise DataError(f"{manifest.root}: labels {unknown} are not classes of the model ({predictor.classes}); "
                        "use --classes or relabel the data")
    probs = predict_manifest(predictor, manifest)
    y_true = np.array([predictor.classes.index(c) for c in manifest.items["label"]])
    report = EvalReport(predictor.classes, y_true, probs, list(manifest.items["path"]))
    if out is not None:
        write_report(report, Path(out), title=f"facexp evaluation: {predictor.bundle.path.name} on {manifest.root.name}",
                     extra={"model": str(predictor.bundle.path), "data": str(manifest.root), "tta": tta,
                            "skipped_images": len(manifest.skipped)})
    return report
