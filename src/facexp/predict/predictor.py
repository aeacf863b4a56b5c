"""The Predictor: photo → faces → expressions, with preprocessing read from the model bundle.

Face detection, alignment and crop framing come from the bundle's ``faces`` settings, the image
size, colour mode and normalisation from its ``image`` settings, so a photo is prepared exactly
as the training crops were. A bundle trained on whole images (no ``faces`` entry) classifies
the whole picture unless detection is asked for.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..bundle import ModelBundle, load_bundle
from ..errors import ConfigError
from ..imageio import open_image
from ..preprocess import to_tensor, tta_views
from ..probs import restrict
from ..results import FaceResult, ImageResult
from .default import default_model_dir


class Predictor:
    """Classify the expression of every face in images.

    Args:
        model: a bundle directory, a loaded ModelBundle, or None for the model shipped with facexp.
        detect: find faces first (default: when the model was trained on face crops).
        classes: answer only among these classes (probabilities renormalised).
        trust_pickle: allow a fastai ``.pkl`` (it can run code when loaded).
        tta: average over the face, mirrored and slightly zoomed (4x slower, usually a little more accurate).

    Example:
        >>> Predictor().predict("photo.jpg").label  # doctest: +SKIP
        'laughing'
    """

    def __init__(self, model: str | os.PathLike | ModelBundle | None = None, *, detect: bool | None = None,
                 classes: list[str] | None = None, trust_pickle: bool = False, tta: bool = False):
        self.bundle = model if isinstance(model, ModelBundle) else load_bundle(
            model if model is not None else default_model_dir(), trust_pickle=trust_pickle)
        self.detect = self.bundle.faces is not None if detect is None else detect
        if classes:
            unknown = [c for c in classes if c not in self.bundle.classes]
            if unknown:
                raise ConfigError(f"--classes {unknown} are not classes of this model; it knows {self.bundle.classes}")
        self.classes = list(classes) if classes else list(self.bundle.classes)
        self.tta = tta
        self._lock = threading.Lock()
        self._face_settings = None
        if self.detect:
            from ..faces import FaceSettings

            self._face_settings = FaceSettings.from_dict(self.bundle.faces or {})

    # --- the three steps -------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> tuple[list[tuple[tuple[int, int, int, int], float]], list[Image.Image]]:
        """Boxes with detector scores, and the crops to classify."""
        if not self.detect:
            return [((0, 0, image.width, image.height), 1.0)], [image]
        from ..faces import crop_faces

        pairs = crop_faces(image, settings=self._face_settings)
        boxes = [(tuple(int(round(v)) for v in face.box), float(face.score)) for face, _ in pairs]
        return boxes, [crop for _, crop in pairs]

    def classify(self, crops: list[Image.Image]) -> np.ndarray:
        """Class probabilities (n_crops, n_classes) over ``self.classes``."""
        if not crops:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        x = to_tensor(crops, self.bundle.image)
        with self._lock, torch.inference_mode():
            views = tta_views(x) if self.tta else [x]
            probs = torch.stack([self.bundle.model(v).softmax(dim=1) for v in views]).mean(dim=0)
        probs = probs.float().numpy()
        return restrict(probs, self.bundle.classes, self.classes) if self.classes != self.bundle.classes else probs

    def postprocess(self, boxes, probs: np.ndarray) -> list[FaceResult]:
        """FaceResults in the order of ``boxes`` (the detector's order: largest first)."""
        return [FaceResult(box=box, score=score, label=self.classes[int(p.argmax())],
                           probs={c: float(v) for c, v in zip(self.classes, p)})
                for (box, score), p in zip(boxes, probs)]

    # --- public calls ----------------------------------------------------------------------
    def predict(self, source: str | os.PathLike | bytes | Image.Image) -> ImageResult:
        """Predict one image given as a path, encoded bytes or a PIL image."""
        return self.predict_with_crops(source)[0]

    def predict_with_crops(self, source: str | os.PathLike | bytes | Image.Image, *,
                           max_pixels: int | None = None) -> tuple[ImageResult, list[Image.Image]]:
        """The result plus each face's crop as the network saw it (for Grad-CAM and review pages)."""
        t0 = time.perf_counter()
        path = str(source) if isinstance(source, (str, os.PathLike)) else None
        if isinstance(source, Image.Image):
            image = source.convert("RGB")
        else:
            image = open_image(source, **({"max_pixels": max_pixels} if max_pixels else {}))
        t1 = time.perf_counter()
        boxes, crops = self.preprocess(image)
        t2 = time.perf_counter()
        probs = self.classify(crops)
        t3 = time.perf_counter()
        timings = {"read": (t1 - t0) * 1e3, "faces": (t2 - t1) * 1e3, "classify": (t3 - t2) * 1e3}
        result = ImageResult(path, image.width, image.height, self.postprocess(boxes, probs),
                             {k: round(v, 2) for k, v in timings.items()})
        return result, crops

    def predict_iter(self, sources: Iterable[str | os.PathLike]) -> Iterator[ImageResult]:
        """Predict many images lazily; read errors propagate as ImageDecodeError naming the file."""
        for source in sources:
            yield self.predict(source)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders (recursively) and glob patterns → image paths, in a stable order."""
    import glob

    from ..errors import DataError
    from ..imageio import is_image_path, list_images

    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths.extend(list_images(p))
        elif p.exists():
            paths.append(p)
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            found = [m for m in matches if m.is_file() and is_image_path(m)]
            if not found:
                raise DataError(f"{item}: no such file, folder or matching images")
            paths.extend(found)
    return paths
