"""``mtcnn``: the MTCNN cascade (P-, R- and O-net) with five landmarks per face, run by ONNX Runtime.

The weights are facenet-pytorch's, inside its wheel, so nothing is ever downloaded. Each net is
exported to ONNX once with PyTorch, its PReLUs rewritten into operators ONNX Runtime runs faster
(``blocked_prelu``), and cached like the classifier's graph (``facexp.engines.cached_graph``); after
that, detection imports neither torch nor facenet-pytorch.

The cascade around the nets is facenet-pytorch's ``detect_face``, step for step, in numpy, and
finds the same faces (tested against it). Only the resampling differs in how, not in what: that
function shrinks the image and every candidate box with a separate ``interpolate(mode="area")``
call (about 700 calls on a 5-person photo, a third of its time); here the same area averages are
read from one integral image for all candidates at once. And each stage is split in two halves that
run at once on one thread each (``_two_ways``), which on two cores took detection on a 1-face photo
from 34 to 26 ms (benchmarks/bench_engines.py): the smaller pyramid levels and candidate batches
gained nothing from a second intra-op thread, while waking it cost as much as their convolutions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from ...engines import OPSET, TOLERANCE, cached_graph, intra_op_threads, ort_session
from ...errors import MissingExtraError, ModelError
from ..registry import register_detector
from ..settings import FaceSettings
from ..types import Face

PYRAMID_FACTOR = 0.709  # scale step between pyramid levels: facenet-pytorch's default
NETS = {"pnet": 12, "rnet": 24, "onet": 48}  # input side of each net (P-net is fully convolutional)
# What export and its parity check feed each net: P-net takes any image size, so not a square one
EXAMPLE_SIZE = {"pnet": (57, 65), "rnet": (24, 24), "onet": (48, 48)}
GRAPH_VERSION = 3  # bump when the exported graphs change for the same weights (3: PReLU rewritten, blocked_prelu)
NMS_BLOCK = 256  # boxes whose overlaps with all others are computed in one go
SPLIT_MIN = 16  # R-/O-net candidates below this run as one batch (see _two_ways)
LEVEL_NMS, ACROSS_LEVELS = 0.5, 0.7  # facenet-pytorch's overlap limits within a pyramid level and across levels

T = TypeVar("T")
_lock = threading.Lock()
_cascade: Cascade | None = None


def weights_dir() -> Path:
    """facenet-pytorch's ``data`` folder (found without importing it, which would import torch).

    Raises:
        MissingExtraError: facenet-pytorch is not installed.
    """
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("face detection needs facenet-pytorch: pip install facenet-pytorch==2.5.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_cascade() -> Cascade:
    """The process-wide cascade, built on first use (behind a lock: threads share it)."""
    global _cascade
    if _cascade is None:
        with _lock:
            if _cascade is None:
                _cascade = Cascade(weights_dir())
    return _cascade


class Cascade:
    """The three nets as ONNX Runtime sessions (``session.run`` is thread-safe), and with two or more cores
    a one-thread twin of each ("pnet1", ...) and a helper thread that runs half of each stage (``_two_ways``)."""

    def __init__(self, folder: Path):
        self.sessions = {}
        parallel = (os.cpu_count() or 1) > 1 and intra_op_threads() != 1
        for name in NETS:
            h = hashlib.sha256(f"mtcnn {name} graph {GRAPH_VERSION}".encode())
            h.update((folder / f"{name}.pt").read_bytes())
            graph = cached_graph(h.hexdigest(), partial(_export, name), partial(_check, name), f"MTCNN {name}")
            self.sessions[name] = ort_session(graph)
            if parallel:
                self.sessions[name + "1"] = ort_session(graph, threads=1)
        self.parallel = parallel
        self._helper: Helper | None = None

    def helper(self) -> Helper | None:
        """This process's ``Helper``; None without ``parallel``. A forked child (a DataLoader worker) makes its
        own: the parent's thread did not come along, and its locks and count describe the parent."""
        if not self.parallel:
            return None
        if self._helper is None or self._helper.pid != os.getpid():
            self._helper = Helper()
        return self._helper

    @contextmanager
    def detecting(self) -> Iterator[None]:
        """Counts the images being detected in this process while the block runs (see ``busy``)."""
        helper = self.helper()
        if helper is None:
            yield
            return
        with helper.count:
            helper.images += 1
        try:
            yield
        finally:
            with helper.count:
                helper.images -= 1

    def busy(self) -> bool:
        """Another image is being detected at the same time (the server computes one photo per core): the
        cores are taken, so this image's nets run on the one-thread sessions and are not split."""
        helper = self.helper()
        return helper is not None and (helper.images > 1 or helper.split.locked())

    def run(self, name: str, x: np.ndarray, one_thread: bool = False) -> list[np.ndarray]:
        return self.sessions[name + "1" if one_thread else name].run(None, {"image": x})


class Helper:
    """One process's helper thread for ``_two_ways``, the lock an image holds while its half runs there, and the
    number of images being detected (``Cascade.detecting``), under its own lock."""

    def __init__(self):
        self.pid = os.getpid()
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="facexp-mtcnn")
        self.split = threading.Lock()
        self.count = threading.Lock()
        self.images = 0


def _torch_net(name: str) -> Any:
    try:
        from facenet_pytorch.models import mtcnn
    except ImportError:
        raise MissingExtraError("face detection needs facenet-pytorch: pip install facenet-pytorch==2.5.3") from None
    return {"pnet": mtcnn.PNet, "rnet": mtcnn.RNet, "onet": mtcnn.ONet}[name]().eval()


def _example(name: str):
    import torch

    return torch.rand(3, 3, *EXAMPLE_SIZE[name], generator=torch.Generator().manual_seed(0)) * 2 - 1


def _export(name: str, target) -> None:
    import warnings

    import torch

    from .blocked_prelu import blocked

    axes = {0: "batch", 2: "height", 3: "width"} if name == "pnet" else {0: "batch"}
    outputs = [f"out{i}" for i in range(3 if name == "onet" else 2)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "legacy TorchScript-based exporter" notes; parity is checked instead
        torch.onnx.export(blocked(_torch_net(name)), (_example(name),),
                          str(target) if isinstance(target, Path) else target,
                          input_names=["image"], output_names=outputs,
                          dynamic_axes={"image": axes, **{o: {0: "batch"} for o in outputs}}, opset_version=OPSET,
                          dynamo=False)


def _check(name: str, graph) -> None:
    import torch

    x = _example(name)
    with torch.inference_mode():
        expected = [t.numpy() for t in _torch_net(name)(x)]
    got = ort_session(graph).run(None, {"image": x.numpy()})
    diff = max(float(np.abs(e - g).max()) for e, g in zip(expected, got))
    if not diff <= TOLERANCE:
        raise ModelError(f"MTCNN {name}: ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE})")


# --- the cascade, as facenet-pytorch's detect_face ---------------------------------------------------


def _integral(img: np.ndarray) -> np.ndarray:
    """Summed-area table of a uint8 image, (H + 1, W + 1, 3) int32: exact up to 8,000 x 8,000 pixels
    (images here are at most ``max_side``). OpenCV's is about 50x faster than two numpy cumsums."""
    import cv2

    return cv2.integral(np.ascontiguousarray(img), sdepth=cv2.CV_32S)


def _bins(start: np.ndarray, length: np.ndarray, out: int) -> tuple[np.ndarray, np.ndarray]:
    """adaptive_avg_pool's bins: output cell i covers [start + ⌊i·L/out⌋, start + ⌈(i+1)·L/out⌉)."""
    i = np.arange(out)
    return (start[:, None] + (i * length[:, None]) // out,
            start[:, None] + ((i + 1) * length[:, None] + out - 1) // out)


def _pool(ii: np.ndarray, top: np.ndarray, left: np.ndarray, height: np.ndarray, width: np.ndarray,
          out_h: int, out_w: int) -> np.ndarray:
    """Area averages of N regions at (out_h, out_w), as the nets take them: (N, 3, out_h, out_w) float32,
    scaled to [-1, 1) the way facenet-pytorch scales."""
    r0, r1 = _bins(top, height, out_h)
    c0, c1 = _bins(left, width, out_w)
    count = ((r1 - r0)[:, :, None] * (c1 - c0)[:, None, :])[..., None]
    stride = ii.shape[1]
    r0, r1, c0, c1 = r0[:, :, None] * stride, r1[:, :, None] * stride, c0[:, None, :], c1[:, None, :]
    flat = ii.reshape(-1, ii.shape[2])
    corner = partial(np.take, flat, axis=0)  # flat indexing: several times faster than ii[rows, cols]
    sums = corner(r1 + c1) - corner(r0 + c1) - corner(r1 + c0) + corner(r0 + c0)
    return _scaled(sums.transpose(0, 3, 1, 2), count.transpose(0, 3, 1, 2))


def _pool_whole(ii: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """``_pool`` of the whole image (a P-net pyramid level), the same numbers faster (1.2 vs 2.1 ms for the
    largest level of a 640x426 photo): every output row shares its rows' bins and every column its
    columns', so the sums take two gathers of whole rows and columns instead of four of single pixels."""
    h, w = ii.shape[0] - 1, ii.shape[1] - 1
    zero = np.zeros(1, np.int64)
    (r0, r1), (c0, c1) = (tuple(b[0] for b in _bins(zero, zero + n, out)) for n, out in ((h, out_h), (w, out_w)))
    rows = np.take(ii, r1, axis=0) - np.take(ii, r0, axis=0)  # (out_h, w + 1, 3): sums over each row bin
    sums = np.take(rows, c1, axis=1) - np.take(rows, c0, axis=1)
    return _scaled(sums.transpose(2, 0, 1)[None], ((r1 - r0)[:, None] * (c1 - c0)[None, :])[None, None])


def _scaled(sums: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Area means from integer ``sums`` (N, 3, h, w) and pixel ``count``s, scaled to [-1, 1) as facenet-pytorch
    scales: contiguous float32, computed in place."""
    x = sums.astype(np.float32, order="C")  # a contiguous copy, whatever the layout of sums
    x /= count.astype(np.float32)
    x -= 127.5
    x *= 0.0078125
    return x


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's nms: best first, drop boxes whose IoU with a kept one exceeds ``threshold``.

    Overlaps are computed for blocks of boxes at once and walked in order: hundreds of candidates
    survive P-net on a group photo, and one numpy call per candidate cost more than the nets.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[order].T
    area = (x2 - x1) * (y2 - y1)
    dropped = np.zeros(len(order), bool)
    keep = []
    for start in range(0, len(order), NMS_BLOCK):
        rows = slice(start, start + NMS_BLOCK)
        w = np.maximum(np.minimum(x2[rows, None], x2) - np.maximum(x1[rows, None], x1), 0)
        h = np.maximum(np.minimum(y2[rows, None], y2) - np.maximum(y1[rows, None], y1), 0)
        inter = w * h
        over = inter / (area[rows, None] + area - inter) > threshold
        for k, row in enumerate(over, start):
            if not dropped[k]:
                keep.append(k)
                dropped |= row
    return order[keep]


def _across_levels(found: list[np.ndarray], boxes: np.ndarray, threshold: float) -> np.ndarray:
    """``_nms(boxes, threshold)`` of the pyramid levels' candidates together, without its work when it can keep
    every box.

    Two boxes' overlap (IoU) is at most the smaller area over the larger, and each level's boxes were
    already kept at most ``LEVEL_NMS`` apart, below ``threshold``: so when no box of a level is within
    ``threshold`` in area of any box of another level, nothing can be suppressed, and the result is
    the boxes in score order, as ``_nms`` returns them. With the pyramid's 0.709 step the levels' areas
    differ about 2x, so this is every photo; on group.jpeg it saves a 659 x 659 overlap matrix (2 ms).
    """
    areas = ((f[:, 2] - f[:, 0]) * (f[:, 3] - f[:, 1]) for f in found if len(f))
    levels = sorted((a.min(), a.max()) for a in areas)  # each level's smallest and largest box area
    apart = all(small_max < threshold * large_min * (1 - 1e-4)
                for (_, small_max), (large_min, _) in zip(levels, levels[1:]))
    if apart and LEVEL_NMS < threshold:
        return np.argsort(-boxes[:, 4], kind="stable")
    return _nms(boxes[:, :4], boxes[:, 4], threshold)


def _nms_min(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """facenet-pytorch's last-stage nms: overlap over the smaller box, pixel-inclusive areas."""
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)
    keep = []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        order = rest[w * h / np.minimum(area[i], area[rest]) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """facenet-pytorch's rerec: each box made square on its longer side, same centre."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """facenet-pytorch's bbreg: shift the corners by ``reg`` times the pixel-inclusive size."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] = boxes[:, :4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def _crops(ii: np.ndarray, boxes: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """The nets' inputs for ``boxes`` (clipped to the image as facenet-pytorch's pad does) and which boxes
    kept any pixel inside the image."""
    h, w = ii.shape[0] - 1, ii.shape[1] - 1
    x1, y1, x2, y2 = np.trunc(boxes[:, :4]).astype(np.int64).T
    top, left = np.maximum(y1, 1) - 1, np.maximum(x1, 1) - 1
    height, width = np.minimum(y2, h) - top, np.minimum(x2, w) - left
    inside = (height > 0) & (width > 0)
    return _pool(ii, top[inside], left[inside], height[inside], width[inside], side, side), inside


class Seen:
    """What the passes over one image share: its integral image and P-net's output at each pyramid level.

    P-net's maps do not depend on the stage thresholds, so the second pass over the same upright image
    (``retry_scores``, when the first found no face) only thresholds them again: on a picture with no
    face, one P-net pass of the four (first, upright retry, turned both ways) is saved.
    """

    def __init__(self, img: np.ndarray):
        self.ii = _integral(img)
        self.maps: dict[float, list[np.ndarray]] = {}  # scale -> [reg, prob]; each level written by one thread


def _levels(cascade: Cascade, seen: Seen, scales: list[float], threshold: float
            ) -> Callable[[bool], list[np.ndarray]]:
    """A ``_two_ways`` half: P-net's candidates at each of ``scales`` (``_level``)."""
    return lambda one_thread: [_level(cascade, seen, scale, threshold, one_thread) for scale in scales]


def _level(cascade: Cascade, seen: Seen, scale: float, threshold: float, one_thread: bool) -> np.ndarray:
    """P-net's candidates at one pyramid level: (x1, y1, x2, y2, score, 4 offsets) rows after the level's nms."""
    if scale not in seen.maps:
        h, w = seen.ii.shape[0] - 1, seen.ii.shape[1] - 1
        x = _pool_whole(seen.ii, int(h * scale + 1), int(w * scale + 1))
        seen.maps[scale] = cascade.run("pnet", x, one_thread)
    reg, prob = seen.maps[scale]
    ys, xs = np.nonzero(prob[0, 1] >= threshold)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    level = np.concatenate([np.floor((2 * cells + 1) / scale), np.floor((2 * cells + 12) / scale),
                            prob[0, 1, ys, xs, None], reg[0][:, ys, xs].T], axis=1)
    return level[_nms(level[:, :4], level[:, 4], LEVEL_NMS)]


def _net(cascade: Cascade, ii: np.ndarray, boxes: np.ndarray, name: str
         ) -> Callable[[bool], tuple[list[np.ndarray], np.ndarray]]:
    """A ``_two_ways`` half: R- or O-net's outputs on the crops of ``boxes``, and which boxes kept any pixel
    in the image."""

    def run(one_thread: bool) -> tuple[list[np.ndarray], np.ndarray]:
        x, inside = _crops(ii, boxes, NETS[name])
        return cascade.run(name, x, one_thread), inside

    return run


def _two_ways(cascade: Cascade, first: Callable[[bool], T], second: Callable[[bool], T]) -> tuple[T, T]:
    """``first`` on the helper thread while this one runs ``second``, each on the one-thread sessions
    (called with True); both here in turn, still on the one-thread sessions, while another image is being
    detected (``Cascade.busy``: the other image keeps the second core busy); on the sessions with every
    core (False) without a helper.

    Why: on small inputs (all but the largest pyramid level, a few dozen crops) a convolution takes
    microseconds and waking ONNX Runtime's thread pool for it costs as much, so two halves of the work on
    one thread each beat the whole on two threads; numpy's area pooling runs in both halves at once too.
    """
    helper = cascade.helper()
    if helper is None:
        return first(False), second(False)
    if cascade.busy() or not helper.split.acquire(blocking=False):
        return first(True), second(True)
    try:
        done = helper.thread.submit(first, True)
        other = second(True)
        return done.result(), other
    finally:
        helper.split.release()


def _split_net(cascade: Cascade, ii: np.ndarray, boxes: np.ndarray, name: str) -> tuple[list[np.ndarray], np.ndarray]:
    """``_net`` on ``boxes``, in two halves at once when there are enough of them."""
    if len(boxes) < SPLIT_MIN:
        return _net(cascade, ii, boxes, name)(cascade.busy())
    half = len(boxes) // 2
    (a, inside_a), (b, inside_b) = _two_ways(cascade, _net(cascade, ii, boxes[:half], name),
                                             _net(cascade, ii, boxes[half:], name))
    return [np.concatenate(pair) for pair in zip(a, b)], np.concatenate([inside_a, inside_b])


def detect_one(cascade: Cascade, img: np.ndarray, min_face: int, thresholds: tuple[float, float, float],
               seen: Seen | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(x1, y1, x2, y2, score) rows and (N, 5, 2) landmarks of the faces in one uint8 RGB image; ``seen``:
    what an earlier pass over the same image computed (``Seen``)."""
    with cascade.detecting():
        return _cascade_pass(cascade, img, min_face, thresholds, seen or Seen(img))


def _cascade_pass(cascade: Cascade, img: np.ndarray, min_face: int, thresholds: tuple[float, float, float],
                  seen: Seen) -> tuple[np.ndarray, np.ndarray]:
    h, w = img.shape[:2]
    ii = seen.ii
    scales, scale, side = [], 12.0 / min_face, min(h, w) * 12.0 / min_face
    while side >= 12:
        scales.append(scale)
        scale, side = scale * PYRAMID_FACTOR, side * PYRAMID_FACTOR
    # the largest level holds about half the pyramid's pixels: it is one half of the work, the rest the other
    largest, rest = _two_ways(cascade, _levels(cascade, seen, scales[:1], thresholds[0]),
                              _levels(cascade, seen, scales[1:], thresholds[0]))
    found = largest + rest
    boxes = np.concatenate(found) if found else np.zeros((0, 9), np.float32)
    boxes = boxes[_across_levels(found, boxes, ACROSS_LEVELS)]
    size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
    boxes = _square(np.concatenate([boxes[:, :4] + boxes[:, 5:9] * size, boxes[:, 4:5]], axis=1))
    if len(boxes):  # R-net
        (reg, prob), inside = _split_net(cascade, ii, boxes, "rnet")
        boxes = boxes[inside]
        keep = prob[:, 1] > thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg = reg[keep]
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
    points = np.zeros((0, 5, 2), np.float32)
    if len(boxes):  # O-net
        (reg, marks, prob), inside = _split_net(cascade, ii, boxes, "onet")
        boxes = boxes[inside]
        keep = prob[:, 1] > thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg, marks = reg[keep], marks[keep]
        bw, bh = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
        points = np.stack([bw * marks[:, :5] + boxes[:, 0:1] - 1, bh * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
        boxes = _regress(boxes, reg)
        pick = _nms_min(boxes[:, :4], boxes[:, 4], 0.7)
        boxes, points = boxes[pick], points[pick]
    return boxes, points


def _faces(boxes: np.ndarray, points: np.ndarray) -> list[Face]:
    """(x1, y1, x2, y2, score) rows and (5, 2) landmarks → Faces."""
    return [Face((float(x1), float(y1), float(x2 - x1), float(y2 - y1)), float(score),
                 tuple((float(px), float(py)) for px, py in marks))
            for (x1, y1, x2, y2, score), marks in zip(boxes, points)]


@register_detector("mtcnn", landmarks=True, weights="inside the facenet-pytorch 2.5.3 wheel (pnet/rnet/onet.pt)",
                   license="MIT (facenet-pytorch)")
def detect_mtcnn(images: list[np.ndarray], settings: FaceSettings) -> list[list[Face]]:
    """Every face in each image.

    ``settings.min_face`` sets the smallest pyramid level, which is where most of the time goes.
    An image with no face of ``settings.min_score`` is searched again with ``settings.retry_scores``.
    """
    cascade = load_cascade()
    return [_search(cascade, img, settings) if min(img.shape[:2]) >= settings.min_face else []  # too small for such a face
            for img in images]


def _search(cascade: Cascade, img: np.ndarray, settings: FaceSettings) -> list[Face]:
    """The faces of one image: a first pass, then, if it found none of ``min_score``, a second
    with ``retry_scores``, upright and then turned by each of ``retry_angles`` until one finds a face."""
    passes = [(tuple(settings.stage_scores), 0.0)]
    if settings.retry_scores is not None:
        passes += [(tuple(settings.retry_scores), angle) for angle in (0.0, *settings.retry_angles)]
    upright = Seen(img)
    for thresholds, angle in passes:
        faces = _turned(cascade, img, angle, thresholds, settings.min_face, upright)
        if any(f.score >= settings.min_score for f in faces):
            return faces
    return []


def _turned(cascade: Cascade, img: np.ndarray, angle: float, thresholds: tuple[float, float, float],
            min_face: int, upright: Seen) -> list[Face]:
    """Faces found in ``img`` turned by ``angle`` degrees (counter-clockwise) about its centre, in ``img``'s
    pixels: landmarks mapped back exactly, each box kept square on its mapped-back centre. ``upright``:
    the passes over ``img`` itself share it."""
    if not angle:
        return _faces(*detect_one(cascade, img, min_face, thresholds, upright))
    import cv2

    h, w = img.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    boxes, points = detect_one(cascade, cv2.warpAffine(img, turn, (w, h), borderMode=cv2.BORDER_REPLICATE),
                               min_face, thresholds)
    back = cv2.invertAffineTransform(turn)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2, np.ones(len(boxes))], axis=1)
    centres = centres @ back.T
    half = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1) / 2
    boxes = np.concatenate([centres - half, centres + half, boxes[:, 4:5]], axis=1)
    points = np.concatenate([points, np.ones((*points.shape[:2], 1))], axis=2) @ back.T
    return _faces(boxes, points)
