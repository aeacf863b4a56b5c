"""Which faces MTCNN finds with each choice of detector settings, and what it costs (issues 14, 15).

    .venv/bin/python benchmarks/bench_detect_recall.py [--happy 400]

Settings compared (``FaceSettings`` fields): with the shipped first pass (``stage_scores`` 0.4, 0.5,
0.5), one pass (``retry_scores=None``), the second pass upright only (``retry_angles=()``) and upright
then turned by -25/+25 degrees (shipped); P-net at 0.5 in the first pass (shipped for part of
2026-12-05: 7-15% faster, but fewer faces in the 6-face pictures); and the same second pass behind
facenet-pytorch's stricter first pass (0.6, 0.7, 0.7).

* single faces: FER2013 test faces hand-labelled laughing (all) and smiling (``--happy``), each
  enlarged onto a canvas (``as_photo``), share found;
* several faces: 300 pictures of 6 FER2013 test faces (80-160 px) on a plain 1280x853 background,
  share found (a box whose centre lies inside the face's square) and other boxes; the second
  pass never runs there, because some face is found;
* no face: 106 face-free pictures (scikit-image's images, non_face.jpg, crops of them), faces found;
* median detection time on surprised.jpeg, group.jpeg and non_face.jpg (10 runs, the settings
  interleaved, after one warm-up).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from _machine import machine_line, write_result
from facexp.faces import FaceSettings
from facexp.faces.detect import detect_faces, detect_faces_batch
from facexp.imageio import open_image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from ferplus import as_photo  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETTINGS = {
    "one pass (0.4, 0.5, 0.5)": FaceSettings(stage_scores=(0.4, 0.5, 0.5), retry_scores=None),
    "second pass, upright only": FaceSettings(stage_scores=(0.4, 0.5, 0.5), retry_angles=()),
    "first pass (0.4, 0.5, 0.5), second pass upright then turned (shipped)": FaceSettings(),
    "first pass (0.5, 0.5, 0.5), second pass upright then turned (shipped on 2026-12-05 from 04:09 to 15:15)":
        FaceSettings(stage_scores=(0.5, 0.5, 0.5)),
    "stricter first pass (0.6, 0.7, 0.7) + second pass": FaceSettings(stage_scores=(0.6, 0.7, 0.7)),
}
SKIMAGE = ["coffee", "chelsea", "rocket", "coins", "hubble_deep_field", "immunohistochemistry", "moon", "page", "text",
           "brick", "grass", "gravel", "colorwheel", "logo", "retina", "cat", "stereo_motorcycle", "clock", "horse",
           "motorcycle_right"]


def face_free() -> list[Image.Image]:
    """non_face.jpg and scikit-image's face-free pictures, each with 4 random crops (10 of non_face.jpg)."""
    import skimage.data

    rng = np.random.default_rng(0)
    whole = []
    for name in SKIMAGE:
        try:
            a = getattr(skimage.data, name)()
        except Exception:  # some need a download: skipped
            continue
        a = a[0] if isinstance(a, tuple) else a
        a = (a * 255).astype(np.uint8) if a.dtype == bool else a
        if a.dtype == np.uint8:
            whole.append(Image.fromarray(a[..., :3] if a.ndim == 3 else a).convert("RGB"))

    def crops(img: Image.Image, n: int, enlarge: float) -> list[Image.Image]:
        out = []
        for _ in range(n):
            w, h = img.size
            s = rng.uniform(0.3, 0.7)
            cw, ch = int(w * s), int(h * s)
            x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            out.append(img.crop((x, y, x + cw, y + ch)).resize((int(cw * enlarge), int(ch * enlarge))))
        return out

    non_face = open_image(SHARED / "photos" / "non_face.jpg")
    return [non_face, *(p for img in whole for p in [img, *crops(img, 4, 1.5)]), *crops(non_face, 10, 1.0)]


def group_pictures(fer: Path, n: int = 300) -> tuple[list[Image.Image], list[list[tuple[int, int, int]]]]:
    rng = random.Random(0)
    paths = sorted((fer / "test").glob("*/*.jpg"))
    pictures, squares = [], []
    for _ in range(n):
        canvas = Image.new("RGB", (1280, 853), tuple(rng.randint(60, 200) for _ in range(3)))
        placed = []
        for i in range(6):
            side = rng.choice([80, 100, 130, 160])
            x, y = 30 + (i % 3) * 420 + rng.randint(0, 200), 40 + (i // 3) * 420 + rng.randint(0, 150)
            canvas.paste(open_image(rng.choice(paths)).convert("RGB").resize((side, side), Image.BICUBIC), (x, y))
            placed.append((x, y, side))
        pictures.append(canvas)
        squares.append(placed)
    return pictures, squares


def matched(faces, placed) -> int:
    used: set[int] = set()
    for x, y, side in placed:
        for j, f in enumerate(faces):
            fx, fy, fw, fh = f.box
            if j not in used and abs(fx + fw / 2 - x - side / 2) < side / 2 and abs(fy + fh / 2 - y - side / 2) < side / 2:
                used.add(j)
                break
    return len(used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=SHARED / "fer2013")
    ap.add_argument("--happy", type=int, default=400, help="smiling test faces sampled (all laughing ones are used)")
    args = ap.parse_args()
    hand = pd.read_csv(args.fer / "laughing_labels.tsv", sep="\t")
    test = hand[hand["path"].str.startswith("test")]
    laughing = test[test["label"] == "laughing"]
    happy = test[test["label"] == "happy"].sample(args.happy, random_state=0)
    singles = {name: [as_photo(open_image(args.fer / p)) for p in rows["path"]]
               for name, rows in (("laughing", laughing), ("smiling", happy))}
    pictures, squares = group_pictures(args.fer)
    negatives = face_free()
    timed = {n: open_image(SHARED / "photos" / n) for n in ("surprised.jpeg", "group.jpeg", "non_face.jpg")}
    rows = {}
    for label, settings in SETTINGS.items():
        cells = []
        for faces in singles.values():
            found = [bool(f) for i in range(0, len(faces), 64) for f in detect_faces_batch(faces[i:i + 64], settings=settings)]
            cells.append(f"{np.mean(found):.1%}")
        found = detect_faces_batch(pictures, settings=settings)
        hits = sum(matched(f, p) for f, p in zip(found, squares))
        others = sum(len(f) for f in found) - hits
        cells.append(f"{hits / (6 * len(pictures)):.1%} ({others} other boxes)")
        cells.append(str(sum(len(detect_faces(img, settings=settings)) for img in negatives)))
        rows[label] = cells
        print(label, cells, flush=True)
    for img in timed.values():  # the settings interleaved, so that a drifting machine favours none
        times: dict[str, list[float]] = {label: [] for label in SETTINGS}
        for _ in range(11):
            for label, settings in SETTINGS.items():
                t0 = time.perf_counter()
                detect_faces(img, settings=settings)
                times[label].append(time.perf_counter() - t0)
        for label in SETTINGS:
            rows[label].append(f"{statistics.median(times[label][1:]) * 1e3:.0f}")
    lines = [f"Faces found by MTCNN with each choice of detector settings. {machine_line()}", "",
             f"| settings | laughing faces found (n={len(laughing)}) | smiling faces found (n={len(happy)}) | "
             f"6-face pictures: faces found (n={6 * len(pictures)}) | faces in {len(negatives)} face-free pictures | "
             "surprised.jpeg ms | group.jpeg ms | non_face.jpg ms |",
             "|---|---|---|---|---|---|---|---|",
             *(f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows.items())]
    write_result("detect_recall", lines)


if __name__ == "__main__":
    main()
