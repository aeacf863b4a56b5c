"""``facexp predict`` as one Python call: files, folders and globs in, an ``ImageResults`` list out."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..bundle import ModelBundle
from ..errors import ConfigError
from ..results import ImageResults
from .predictor import BATCH_IMAGES, Predictor, expand_inputs


def predict(inputs: str | os.PathLike | Iterable[str | os.PathLike], *,
            model: str | os.PathLike | ModelBundle | Predictor | None = None, detect: bool | None = None,
            classes: list[str] | None = None, tta: bool = False, engine: str | None = None,
            batch_size: int = BATCH_IMAGES) -> ImageResults:
    """Classify the expression of every face in images, as ``facexp predict`` does.

    Args:
        inputs: an image, a folder (searched recursively) or a glob, or a list of them.
        model: a model directory, a loaded bundle, a ``Predictor`` to reuse, or None for the
            shipped model.
        detect: find faces first (default: as the model was trained).
        classes: answer only among these classes.
        tta: average over 4 views (4x slower).
        engine: "onnx" or "torch" (default: ``$FACEXP_ENGINE``, else onnx).
        batch_size: images whose faces go through the network in one call.

    Returns:
        One ``ImageResult`` per image in a stable order, an unreadable image as its
        ``ImageDecodeError`` in its place; in a notebook the list shows as a grid of the photos
        with their numbered boxes. Results keep paths, not pixels, so a large folder costs little
        memory (photos are read again, shrunk, only when shown).

    Raises:
        DataError: an input is neither a file, a folder nor a glob matching images.
        ConfigError: a ``Predictor`` was given together with options it already fixes.
        ModelError: the model cannot be loaded.

    Example:
        >>> predict(["photo.jpg", "more/"], model="runs/mine/model")  # doctest: +SKIP
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(model, Predictor):
        if detect is not None or classes or tta or engine:
            raise ConfigError("predict got a Predictor and options (detect, classes, tta, engine) it already fixes; "
                              "pass them to Predictor(...) instead, or pass the model directory")
        predictor = model
    else:
        predictor = Predictor(model, detect=detect, classes=classes, tta=tta, engine=engine)
    paths = expand_inputs(inputs)
    out = ImageResults()
    for start in range(0, len(paths), max(1, batch_size)):
        out.extend(predictor.predict_batch(paths[start:start + max(1, batch_size)]))
    return out

