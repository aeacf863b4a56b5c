"""Run a model over a labelled set and build the EvalReport.

With no data given, a run's own test split is used: ``facexp train`` writes it as
``RUN/test.csv`` (see ``facexp.train.handoff``), so ``facexp evaluate RUN`` needs nothing else.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
from PIL import Image

from .._progress import track
from ..bundle import ModelBundle
from ..data import Manifest, read_manifest
from ..errors import DataError, ModelError
from ..imageio import open_image
from ..predict import Predictor
from .metrics import EvalReport
from .report import write_report

GRADCAM_TOP = 8  # top losses the report explains with Grad-CAM (each costs a backward pass)


def predict_manifest(predictor: Predictor, manifest: Manifest, *, batch_size: int = 256) -> np.ndarray:
    """Probabilities for every manifest row; with detection on, the largest face (or the whole image)."""
    paths = list(manifest.items["path"])
    out = []
    batches = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    for batch in track(batches, "evaluating"):
        out.append(predictor.classify([_scored_crop(predictor, open_image(p)) for p in batch]))
    return np.concatenate(out)


def _scored_crop(predictor: Predictor, image: Image.Image) -> Image.Image:
    """What evaluation scores of an image: its largest face with detection on (none found: the whole image)."""
    return (predictor.preprocess(image)[1] or [image])[0] if predictor.detect else image


def top_loss_gradcams(predictor: Predictor, report: EvalReport, k: int = GRADCAM_TOP) -> dict[int, Image.Image]:
    """Grad-CAM overlays of the ``k`` worst-loss images (row index → overlay), for the class the model chose.

    The explanation a wrong answer needs: whether the network looked at the face (a hard or
    mislabelled image) or at something else (a background or framing the data taught it).
    """
    from .gradcam import gradcam, overlay

    bundle = predictor.bundle
    shown = {}
    for i in report.top_losses(k) if report.paths else []:
        crop = _scored_crop(predictor, open_image(report.paths[i]))
        heat = gradcam(bundle, crop, bundle.classes.index(report.classes[report.y_pred[i]]))
        shown[i] = overlay(bundle, crop, heat)
    return shown


def gradcam_captions(report: EvalReport) -> list[tuple[str, Image.Image]]:
    """(caption, overlay) of the report's Grad-CAMs, worst loss first, for the HTML report."""
    return [(f"{Path(report.paths[i]).name}: answered {report.classes[report.y_pred[i]]}, labelled "
             f"{report.classes[report.y_true[i]]}", image) for i, image in report.gradcams.items()]


def model_dir(model: str | os.PathLike) -> Path:
    """A model directory given itself or the run directory holding it (``RUN/model``)."""
    path = Path(model)
    if not (path / "model.json").exists() and (path / "model" / "model.json").exists():
        return path / "model"
    return path


def run_test_split(model: str | os.PathLike | ModelBundle) -> Path:
    """The test split ``facexp train`` wrote for ``model`` (a run or model directory).

    Raises:
        DataError: there is none; the message says to pass test data.
    """
    path = model.path if isinstance(model, ModelBundle) else model_dir(model)
    tried = [path / "test.csv", path.parent / "test.csv"]
    from ..bundle import read_card

    try:
        recorded = read_card(path).get("training", {}).get("test", {}).get("path")
    except ModelError:
        recorded = None
    if recorded:
        tried.insert(0, Path(recorded))
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise DataError(f"{path}: no test data given and no test split from training (looked for "
                    f"{', '.join(str(t) for t in dict.fromkeys(tried))}); pass DATA, class sub-folders or a "
                    "manifest CSV, or train with --test-pct/--test")


def evaluate(model: str | os.PathLike | ModelBundle | None, data: str | os.PathLike | Manifest | None = None, *,
             out: str | os.PathLike | None = None, detect: bool = False, tta: bool = False,
             classes: list[str] | None = None, engine: str | None = None,
             trust_pickle: bool = False, explain: int = GRADCAM_TOP) -> EvalReport:
    """Evaluate ``model`` on labelled ``data`` (class folders or manifest CSV); write a report to ``out``.

    ``model`` may be a run directory (its ``model/`` is used). Without ``data``, the run's test
    split (``RUN/test.csv``, written by ``facexp train``) is used.

    A soft-label manifest (one probability column per class) is scored against each row's
    majority class; rows whose top classes tie are left out (counted in the report).

    ``trust_pickle`` allows ``model`` to be a fastai ``.pkl`` (unpickling can run code).

    The ``explain`` worst-loss images get a Grad-CAM (``report.gradcams``; one backward pass
    each, 0: none): the HTML report and the notebook display show where the network looked.

    Raises:
        DataError: the data holds labels the model does not know, or there is no data to use.
        ModelError: the model cannot be loaded (or is a .pkl without ``trust_pickle``).
    """
    if isinstance(model, (str, os.PathLike)):
        model = model_dir(model)
    if data is None:
        if model is None:
            raise DataError("the shipped model has no test split of its own; pass DATA (class sub-folders or a "
                            "manifest CSV)")
        data = run_test_split(model)
    predictor = Predictor(model, detect=detect, tta=tta, classes=classes, engine=engine,  # engine: see Predictor
                          trust_pickle=trust_pickle)
    manifest = data if isinstance(data, Manifest) else read_manifest(data, min_classes=1)
    if classes:
        manifest = manifest.subset([c for c in classes if c in manifest.classes])
    unknown = sorted(set(manifest.classes) - set(predictor.classes))
    if unknown:
        raise DataError(f"{manifest.root}: labels {unknown} are not classes of the model ({predictor.classes}); "
                        "use --classes or relabel the data")
    tied = manifest.tied()  # soft labels: a row whose top classes tie has no majority to score against
    if len(tied) and tied.all():
        raise DataError(f"{manifest.root}: every row's top classes tie, so no row has a majority class to score")
    manifest = dataclasses.replace(manifest, items=manifest.items[~tied].reset_index(drop=True))
    probs = predict_manifest(predictor, manifest)
    y_true = np.array([predictor.classes.index(c) for c in manifest.items["label"]])
    report = EvalReport(predictor.classes, y_true, probs, list(manifest.items["path"]))
    if explain > 0:
        report.gradcams.update(top_loss_gradcams(predictor, report, explain))
    if out is not None:
        source = Path(data) if isinstance(data, (str, os.PathLike)) else manifest.root
        write_report(report, Path(out), title=f"facexp evaluation: {predictor.bundle.name} on {source.name}",
                     explained=gradcam_captions(report),
                     extra={"model": str(predictor.bundle.path), "data": str(source), "tta": tta,
                            "skipped_images": len(manifest.skipped),
                            **({"soft_labels_tied_rows_left_out": int(tied.sum())} if manifest.soft else {})})
    return report
