"""The Predictor: photo → faces → expressions, with preprocessing read from the model bundle.

Face detection, alignment and crop framing come from the bundle's ``faces`` settings, the image
size, colour mode and normalisation from its ``image`` settings, so a photo is prepared exactly
as the training crops were. A bundle trained on whole images (no ``faces`` entry) classifies
the whole picture unless detection is asked for, and warns (once) when a photo is more than
``SIZE_WARN_FACTOR`` times larger than its training images: a logo then gets an expression and a
group photo counts as one face.

The network runs on an engine (``facexp.engines``): ONNX Runtime on a graph exported once per
model and cached, or PyTorch (``engine="torch"``). All crops of a photo go through the network in
one call, and ``predict_batch`` classifies the crops of several photos in one call.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..bundle import ModelBundle, load_bundle
from ..card import finite_or_raise
from ..engines import make_engine
from ..errors import ConfigError, ImageDecodeError
from ..imageio import open_image_reduced
from ..preprocess import to_array, tta_views
from ..probs import restrict, softmax
from ..results import FaceResult, FrameResult, ImageResult, ImageResults
from .default import default_model_dir
from .video import DEFAULT_FPS, DEFAULT_SMOOTH_S, MAX_FRAMES, predict_video

SIZE_WARN_FACTOR = 4  # whole-image models: warn for photos this many times larger than the training images
BATCH_IMAGES = 16  # images whose crops predict_iter classifies in one network call
# When faces are to be found, a JPEG longer than this is decoded at 1/2, 1/4 or 1/8 scale (never
# shorter than this): a face the detector can find (20 px at its 640 px working size) is still
# 48 px or more, the crops' size. A 12-megapixel phone photo (4032 px) is then decoded at 2016 px:
# half the time to an answer and a quarter of the memory (benchmarks/bench_engines.py). Results
# give sizes and boxes in the full photo's pixels.
DECODE_MAX_SIDE = 1536


class Predictor:
    """Classify the expression of every face in images.

    Args:
        model: a bundle directory, a loaded ModelBundle, or None for the model shipped with facexp.
        detect: find faces first (default: when the model was trained on face crops).
        classes: answer only among these classes (probabilities renormalised).
        trust_pickle: allow a fastai ``.pkl`` (it can run code when loaded).
        tta: average over the face, mirrored and slightly zoomed (4x slower, usually a little more accurate).
        engine: "onnx" (ONNX Runtime, the default; the graph is exported once and cached) or "torch";
            None reads ``$FACEXP_ENGINE``.

    Example:
        >>> Predictor().predict("photo.jpg").label  # doctest: +SKIP
        'laughing'
    """

    def __init__(self, model: str | os.PathLike | ModelBundle | None = None, *, detect: bool | None = None,
                 classes: list[str] | None = None, trust_pickle: bool = False, tta: bool = False,
                 engine: str | None = None):
        self.bundle = model if isinstance(model, ModelBundle) else load_bundle(
            model if model is not None else default_model_dir(), trust_pickle=trust_pickle, lazy=True)
        self.detect = self.bundle.faces is not None if detect is None else detect
        if classes:
            unknown = [c for c in classes if c not in self.bundle.classes]
            if unknown:
                raise ConfigError(f"--classes {unknown} are not classes of this model; it knows {self.bundle.classes}")
        self.classes = list(classes) if classes else list(self.bundle.classes)
        self.tta = tta
        self.engine = make_engine(self.bundle, engine)  # the PyTorch network is built only if needed
        self._lock = threading.Lock()
        self._face_settings = None
        trained_on = (self.bundle.card.get("training") or {}).get("source_images") or {}
        self._size_hint = trained_on.get("max_side") if detect is None and not self.detect else None
        if self.detect:
            from ..faces import FaceSettings

            self._face_settings = FaceSettings.from_dict(self.bundle.faces or {})

    # --- the three steps -------------------------------------------------------------------
    def preprocess(self, image: Image.Image) -> tuple[list[tuple[tuple[int, int, int, int], float]], list[Image.Image]]:
        """Boxes (cut to the image) with detector scores, and the crops to classify (framed from the
        whole detected face, border or not)."""
        if not self.detect:
            return [((0, 0, image.width, image.height), 1.0)], [image]
        from ..faces import clip_box, crop_faces

        pairs = crop_faces(image, settings=self._face_settings)
        boxes = [(tuple(int(round(v)) for v in clip_box(face.box, *image.size)), float(face.score))
                 for face, _ in pairs]
        return boxes, [crop for _, crop in pairs]

    def classify(self, crops: list[Image.Image]) -> np.ndarray:
        """Class probabilities (n_crops, n_classes) over ``self.classes``."""
        if not crops:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        x = to_array(crops, self.bundle.image)
        if self.tta:
            import torch

            with torch.inference_mode():
                x = torch.cat(tta_views(torch.from_numpy(x))).numpy()  # all views in one network call
        logits = self.engine(x)
        probs = softmax(logits).reshape(-1, len(crops), logits.shape[1]).mean(axis=0)
        probs = probs.astype(np.float32)
        finite_or_raise(probs, str(self.bundle.path))  # NaN is an error, never an answer
        return restrict(probs, self.bundle.classes, self.classes) if self.classes != self.bundle.classes else probs

    def postprocess(self, boxes, probs: np.ndarray) -> list[FaceResult]:
        """FaceResults in the order of ``boxes`` (the detector's order: largest first)."""
        return [FaceResult(box=box, score=score, label=self.classes[int(p.argmax())],
                           probs={c: float(v) for c, v in zip(self.classes, p)})
                for (box, score), p in zip(boxes, probs)]

    # --- public calls ----------------------------------------------------------------------
    def predict(self, source: str | os.PathLike | bytes | Image.Image) -> ImageResult:
        """Predict one image given as a path, encoded bytes or a PIL image.

        The result shows itself in a notebook (the photo with numbered boxes and a table); given
        bytes or a PIL image, it keeps a reference to them (no copy) to draw from, and given a
        path, it reads the file again when shown.
        """
        result = self.predict_with_crops(source)[0]
        return result if isinstance(source, (str, os.PathLike)) else result.with_source(source)

    def predict_with_crops(self, source: str | os.PathLike | bytes | Image.Image, *,
                           max_pixels: int | None = None) -> tuple[ImageResult, list[Image.Image]]:
        """The result plus each face's crop as the network saw it (for Grad-CAM and review pages)."""
        found = self._find_faces(source, max_pixels)
        return self._finish([found])[0]

    def predict_batch(self, sources: Sequence[str | os.PathLike | bytes | Image.Image], *,
                      max_pixels: int | None = None, workers: int = 1) -> ImageResults:
        """Several images: faces found image by image, then every crop classified in one network call.

        An image that cannot be read (ImageDecodeError, ImageTooLarge) is returned as its error, in
        its place, so one bad file does not lose the others (an ``ImageResults`` list: a grid in a
        notebook; results hold no pixels, only their paths). Each result's ``classify`` timing is
        its share (by number of faces) of the batch's network call. With ``workers`` > 1, faces are
        found in that many threads at once, with that many images in memory. Each image's detection
        then runs on one thread (MTCNN's ``Cascade.busy``) instead of splitting its own stages over
        two: on 2 cores, 640x480 video frames came out as fast as one at a time (41 vs 42 frames/s with
        one face, 25 vs 24 with five; 1.3-1.7x before the detector split its stages), and a folder of
        1280 px photos faster (40-42 vs 45-49 ms per photo).
        """

        find = functools.partial(self._find_or_error, max_pixels=max_pixels)
        if workers > 1 and len(sources) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                found = list(pool.map(find, sources))
        else:
            found = [find(source) for source in sources]
        return ImageResults(self._answers(found))

    def _find_or_error(self, source, max_pixels: int | None) -> dict | ImageDecodeError:
        """``_find_faces``, or the ImageDecodeError of a file that cannot be read (kept in its place)."""
        try:
            return self._find_faces(source, max_pixels)
        except ImageDecodeError as exc:
            return exc

    def _answers(self, found: list[dict | ImageDecodeError]) -> list[ImageResult | ImageDecodeError]:
        """Classify the crops of every found image in one network call; read errors stay in their place."""
        done = iter(self._finish([f for f in found if not isinstance(f, ImageDecodeError)]))
        return [f if isinstance(f, ImageDecodeError) else next(done)[0] for f in found]

    def read(self, source: str | os.PathLike | bytes, *, max_pixels: int | None = None, name: str | None = None
             ) -> tuple[Image.Image, tuple[int, int]]:
        """The image as this predictor reads it, and the full photo's size: when faces are to be found, a
        large JPEG is decoded at a DCT scale (``DECODE_MAX_SIDE``). Predicting on the image gives boxes
        in its pixels; ``ImageResult.at_size(full)`` maps them onto the full photo, as ``predict`` does.

        Raises:
            ImageDecodeError: not an image, or truncated; ImageTooLarge: over ``max_pixels``.
        """
        return open_image_reduced(source, **({"max_pixels": max_pixels} if max_pixels else {}), name=name,
                                  max_side=DECODE_MAX_SIDE if self.detect else None)

    def _find_faces(self, source, max_pixels: int | None) -> dict:
        t0 = time.perf_counter()
        path = str(source) if isinstance(source, (str, os.PathLike)) else None
        if isinstance(source, Image.Image):
            image = source if source.mode == "RGB" else source.convert("RGB")  # read only: no copy needed
            full = image.size
        else:
            image, full = self.read(source, max_pixels=max_pixels)
        t1 = time.perf_counter()
        if self._size_hint and max(image.size) > SIZE_WARN_FACTOR * self._size_hint:
            self._warn_size(path, image)
        boxes, crops = self.preprocess(image)
        t2 = time.perf_counter()
        return {"path": path, "size": image.size, "full": full, "boxes": boxes, "crops": crops,
                "timings": {"read": (t1 - t0) * 1e3, "faces": (t2 - t1) * 1e3}}

    def _finish(self, found: list[dict]) -> list[tuple[ImageResult, list[Image.Image]]]:
        """Classify the crops of all ``found`` images in one call; results in the same order."""
        t0 = time.perf_counter()
        probs = self.classify([c for f in found for c in f["crops"]])
        classify_ms = (time.perf_counter() - t0) * 1e3
        n_crops = max(1, len(probs))
        out, start = [], 0
        for f in found:
            n = len(f["crops"])
            share = classify_ms if len(found) == 1 else classify_ms * n / n_crops
            timings = {**f["timings"], "classify": share}
            result = ImageResult(f["path"], f["size"][0], f["size"][1],
                                 self.postprocess(f["boxes"], probs[start:start + n]),
                                 {k: round(v, 2) for k, v in timings.items()}).at_size(f["full"])
            out.append((result, f["crops"]))
            start += n
        return out

    def _warn_size(self, path: str | None, image: Image.Image) -> None:
        side, self._size_hint = self._size_hint, None  # once per Predictor
        warnings.warn(f"{path or 'the image'} is {image.width}x{image.height} px, much larger than the images "
                      f"{self.bundle.path} was trained on (whole images, up to {side} px, no face "
                      "detection): it is classified as one face. To find each face in a photo, pass --detect "
                      "(Predictor(detect=True)), or train on `facexp faces` crops.", stacklevel=4)

    def predict_iter(self, sources: Iterable[str | os.PathLike], *, batch_size: int = BATCH_IMAGES
                     ) -> Iterator[ImageResult]:
        """Predict many images lazily, ``batch_size`` at a time through the network; read errors
        propagate as ImageDecodeError naming the file."""
        for batch in self.predict_batches(sources, batch_size=batch_size):
            for item in batch:
                if isinstance(item, ImageDecodeError):
                    raise item
                yield item

    def predict_batches(self, sources: Iterable[str | os.PathLike], *, batch_size: int = BATCH_IMAGES,
                        workers: int = 1, max_pixels: int | None = None
                        ) -> Iterator[list[ImageResult | ImageDecodeError]]:
        """``predict_batch`` over a long stream of images, ``batch_size`` at a time, read ahead.

        With ``workers`` > 1, a pool of that many threads decodes images and finds their faces up to
        two batches ahead while the network classifies the current batch (PIL, OpenCV and ONNX
        Runtime release the GIL), so decoding keeps the network busy; about ``2 * batch_size``
        decoded images are held. An unreadable image comes back as its ImageDecodeError, in place.

        Example:
            >>> for batch in Predictor().predict_batches(paths, batch_size=64, workers=4):  # doctest: +SKIP
            ...     save(batch)
        """
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        find, answers = functools.partial(self._find_or_error, max_pixels=max_pixels), self._answers
        it, batch_size = iter(sources), max(1, batch_size)
        if workers <= 1:
            while chunk := list(itertools.islice(it, batch_size)):
                yield self.predict_batch(chunk, max_pixels=max_pixels)
            return
        with ThreadPoolExecutor(workers) as pool:
            pending: deque[Future] = deque()

            def read_ahead() -> None:
                for source in itertools.islice(it, 2 * batch_size - len(pending)):
                    pending.append(pool.submit(find, source))

            read_ahead()
            while pending:
                found = [pending.popleft().result() for _ in range(min(batch_size, len(pending)))]
                read_ahead()  # the pool reads the next batch while the network classifies this one
                yield answers(found)

    def predict_video(self, path: str | os.PathLike, *, fps: float | None = DEFAULT_FPS, every_frame: bool = False,
                      smooth_s: float = DEFAULT_SMOOTH_S, max_frames: int = MAX_FRAMES) -> Iterator[FrameResult]:
        """Predict the sampled frames of a video lazily, following each person across frames.

        Args:
            fps: frames sampled per second of clip (at most the clip's own rate).
            every_frame: process every frame instead.
            smooth_s: time constant (seconds) over which each track's probabilities are averaged; 0: none.
            max_frames: refuse a clip that would need more sampled frames (checked before any work).

        Yields:
            One FrameResult per sampled frame (``frame``, ``time_s``); each face has a ``track`` id.

        Raises:
            VideoDecodeError: not a readable video (or truncated before its first frame).
            VideoTooLong: more than ``max_frames`` frames at this ``fps``.

        Example:
            >>> for frame in Predictor().predict_video("clip.mp4", fps=2):  # doctest: +SKIP
            ...     print(frame.time_s, [(f.track, f.label) for f in frame.faces])
        """
        return predict_video(self, path, fps=fps, every_frame=every_frame, smooth_s=smooth_s, max_frames=max_frames)


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files, folders (recursively) and glob patterns → image paths, in a stable order."""
    return [path for path, _ in named_inputs(inputs)]


def named_inputs(inputs: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """``expand_inputs`` with the name to show for each image: its path relative to the folder (or
    the fixed part of the glob) the user typed, or its file name when typed as a file.

    Full paths under /tmp/... all look alike once a terminal shortens them; names tell photos
    apart. Where two inputs would show the same name, both show their full path.
    """
    import glob

    from ..errors import DataError
    from ..imageio import is_image_path, list_images

    pairs: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pairs.extend((m, m.relative_to(p).as_posix()) for m in list_images(p))
        elif p.exists():
            pairs.append((p, p.name))
        else:
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            found = [m for m in matches if m.is_file() and is_image_path(m)]
            if not found:
                raise DataError(f"{item}: no such file, folder or matching images")
            parts = p.parts
            base = Path(*parts[:next(i for i, part in enumerate(parts) if glob.has_magic(part))] or ["."])
            pairs.extend((m, os.path.relpath(m, base)) for m in found)
    shown = Counter(name for _, name in pairs)
    return [(path, name if shown[name] == 1 else str(path)) for path, name in pairs]
