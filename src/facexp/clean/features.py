"""What a model sees of every image: its face crop, pooled features, own probabilities, and outlier checks.

Each image is read once. A small, square image is taken as a face crop already (FER2013-like; see
``faces.looks_like_face_crop``); any other image goes through the model card's face settings as
``facexp predict`` does, and the largest face is kept. An image with no face found is an outlier
("no face found") and gets no features. The network runs on ONNX Runtime from a graph with two
outputs, the head's input (concat-pooled body features) and the logits, exported once per model
and cached beside the predict graph (``engines.cache_dir()``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .._progress import track
from ..bundle import ModelBundle
from ..engines import OPSET, cache_dir, graph_key
from ..errors import ImageDecodeError
from ..imageio import open_image
from ..preprocess import to_tensor
from ..probs import softmax

log = logging.getLogger(__name__)

BATCH = 64  # images per network call
TINY_SIDE = 32  # a face (or image) whose shorter side is below this is too small to read an expression from
UNIFORM_STD = 6.0  # gray-level standard deviation below which an image is near-uniform (blank, a flat fill)
FLAT_COLOURS = 12  # fewer distinct colours than this in a 64 px thumbnail: a drawing, logo or text, not a photo


@dataclass
class ImageView:
    """What clean knows of one image: its outlier reasons, and (when a face was read) features and probabilities."""

    reasons: list[str] = field(default_factory=list)  # "no face found", "tiny", "not a photo", "near-uniform"
    detail: str = ""
    features: np.ndarray | None = None
    probs: np.ndarray | None = None  # the model's own probabilities over its classes


def outlier_reasons(image: Image.Image) -> list[str]:
    """Reasons an image is not a usable photo of a face, judged on pixels alone (face detection apart).

    Example:
        >>> outlier_reasons(Image.new("RGB", (200, 200), (90, 90, 90)))
        ['near-uniform']
    """
    reasons = []
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    if gray.std() < UNIFORM_STD:
        return ["near-uniform"]
    if min(image.size) < TINY_SIDE:
        reasons.append("tiny")
    thumb = np.asarray(image.convert("RGB").resize((64, 64), Image.NEAREST)).reshape(-1, 3)
    if len(np.unique(thumb, axis=0)) < FLAT_COLOURS:
        reasons.append("not a photo")
    return reasons


class FeatureNet:
    """ONNX Runtime on ``bundle``'s network with two outputs: pooled features and logits.

    The features are the head's input (``AdaptiveConcatPool2d`` + ``Flatten`` of the body), as in
    ``recipes/ferplus_features.py``; for an ensemble they are its first member's.
    """

    def __init__(self, bundle: ModelBundle, *, threads: int | None = None):
        import onnxruntime as ort

        self.bundle = bundle
        path = _features_graph(bundle)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, crops: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """(features, probabilities) of ``crops`` (float32; probabilities over the model's classes)."""
        x = to_tensor(list(crops), self.bundle.image).numpy()
        features, logits = self.session.run(["features", "logits"], {"image": x})
        return features.astype(np.float32), softmax(logits).astype(np.float32)


def _two_outputs(model):
    import torch

    from ..ensemble import networks

    first = networks(model)[0]

    class Both(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = torch.nn.Sequential(first[0], first[1][:2])
            self.model = model

        def forward(self, x):
            return self.pool(x), self.model(x)

    return Both().eval()


def _features_graph(bundle: ModelBundle) -> Path:
    """The cached two-output graph of ``bundle`` (exported on first use, written atomically)."""
    import torch

    folder = cache_dir() / "onnx"
    target = folder / f"{graph_key(bundle)[:32]}-features.onnx"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    log.info("exporting %s's features to ONNX (once; cached in %s)", bundle.path, folder)
    net = _two_outputs(bundle.model)
    size = bundle.image.size
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".features-", suffix=".onnx.tmp")
    os.close(fd)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(2, 3, size, size),), tmp, input_names=["image"],
                              output_names=["features", "logits"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}})
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def read_views(paths: Sequence[str | os.PathLike], bundle: ModelBundle, *, detect: bool | None = None,
               threads: int | None = None) -> list[ImageView]:
    """One ``ImageView`` per path, in order: outlier reasons, then features and probabilities of its face.

    Args:
        paths: image files.
        bundle: the model whose features and probabilities are taken.
        detect: find faces first; None: only in images that are not face crops already (small and
            square), with the card's face settings (or the defaults for a whole-image model).
        threads: ONNX Runtime threads (None: its default).
    """
    from ..faces import FaceSettings, crop_faces, looks_like_face_crop

    net = FeatureNet(bundle, threads=threads)
    settings = FaceSettings.from_dict(bundle.faces or {})
    views = [ImageView() for _ in paths]
    pending: list[tuple[int, Image.Image]] = []

    def flush() -> None:
        if pending:
            features, probs = net([crop for _, crop in pending])
            for (k, _), f, p in zip(pending, features, probs):
                views[k].features, views[k].probs = f, p
            pending.clear()

    for k, path in enumerate(track(list(paths), "reading faces")):
        view = views[k]
        try:
            image = open_image(path)
        except ImageDecodeError as exc:
            view.reasons, view.detail = ["unreadable"], str(exc)
            continue
        view.reasons = outlier_reasons(image)
        crop_only = detect is False or (detect is None and looks_like_face_crop(*image.size))
        if crop_only:
            crop = image
        else:
            found = crop_faces(image, settings=settings)
            if not found:
                view.reasons.insert(0, "no face found")
                continue
            face, crop = found[0]
            if len(found) > 1:
                view.detail = f"{len(found)} faces; the largest was read"
            if min(face.box[2:]) < TINY_SIDE and "tiny" not in view.reasons:
                view.reasons.append("tiny")
        pending.append((k, crop))
        if len(pending) >= BATCH:
            flush()
    flush()
    return views
