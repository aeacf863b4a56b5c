"""Speed of the faces stage: detect + align on 1280x853 photos, and faces/s over a folder.

    .venv/bin/python benchmarks/bench_faces.py [--runs 20] [--folder 50] [--threads 1,2] [--framing] [--model DIR]

Photos: ../shared/data/photos resized to 1280x853 when present (surprised.jpeg: 1 face;
group.jpeg: 4 clear faces + 1 cut off at the top), else scikit-image's astronaut and a
collage of it. Latency is measured per torch thread count: on a 2-core machine shared with a
training run, 2 threads make MTCNN's many small ops wait for each other (medians of seconds
were seen), 1 thread stays steady. The folder run is ``extract_faces`` (decode + detect + align + write PNG) on
``--folder`` JPEGs, then again from the detection cache. ``--framing`` adds the measurement
behind ``FaceSettings.margin``: FER2013 crops vs our crops at several margins. The last column is
the whole ``Predictor.predict`` (detect + crop + classify, the model's own face settings) with
``--model`` (default: the shipped model).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from _machine import machine_line, write_result
from facexp.faces import FaceSettings, crop_face, crop_faces, detect_faces, extract_faces, framing_stats
from facexp.imageio import open_image
from facexp.predict import Predictor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = (1280, 853)


def test_photos() -> dict[str, Image.Image]:
    photos = SHARED / "photos"
    if photos.is_dir():
        return {"1 face (surprised.jpeg)": open_image(photos / "surprised.jpeg").resize(SIZE, Image.LANCZOS),
                "5 faces, 1 cut off (group.jpeg)": open_image(photos / "group.jpeg").resize(SIZE, Image.LANCZOS)}
    from skimage.data import astronaut

    astro = Image.fromarray(astronaut())
    collage = Image.new("RGB", SIZE, (200, 205, 210))
    for k in range(5):
        collage.paste(astro.crop((140, 20, 310, 220)).resize((170, 200)), (40 + k * 245, 300))
    return {"1 face (astronaut)": astro.resize(SIZE), "5 faces (astronaut collage)": collage}


def latency(image: Image.Image, runs: int, predictor: Predictor) -> dict[str, float]:
    """Median and p90 of detect + align, the median of each part, and of a whole prediction, in ms."""
    for _ in range(2):
        crop_faces(image)
        predictor.predict(image)
    detect, align, total, n = [], [], [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        faces = detect_faces(image)
        t1 = time.perf_counter()
        for face in faces:
            crop_face(image, face)
        t2 = time.perf_counter()
        detect.append(t1 - t0)
        align.append(t2 - t1)
        total.append(t2 - t0)
        n = len(faces)
    predict = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predictor.predict(image)
        predict.append(time.perf_counter() - t0)
    ms = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
    return {"faces": n, "total": ms(total), "p90": sorted(total)[int(0.9 * (runs - 1))] * 1e3,
            "detect": ms(detect), "align": ms(align), "predict": ms(predict)}


def folder_speed(n_photos: int) -> list[str]:
    """extract_faces over n JPEGs: first run (detect) and second run (detection cache)."""
    photos = SHARED / "photos"
    sources = [open_image(p) for p in sorted(photos.glob("*.jp*g"))] if photos.is_dir() else list(test_photos().values())
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "raw"
        for k in range(n_photos):
            image = sources[k % len(sources)]
            scale = (1.0, 0.75, 0.5)[(k // len(sources)) % 3]  # a few sizes, as in a real folder
            (src / f"c{k % 3}").mkdir(parents=True, exist_ok=True)
            image.resize((round(image.width * scale), round(image.height * scale))).save(src / f"c{k % 3}" / f"{k}.jpg",
                                                                                        quality=90)
        t0 = time.perf_counter()
        report = extract_faces(src, Path(tmp) / "out", mode="all")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        extract_faces(src, Path(tmp) / "out", mode="all")
        second = time.perf_counter() - t0
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items() if n)
    return [f"Folder: `extract_faces(mode=\"all\")` on {n_photos} JPEGs (the shared photos at 100/75/50% size; "
            f"{counts}): {n_photos / first:.1f} photos/s, {report.n_crops / first:.1f} faces/s "
            f"({first:.1f} s, decode + detect + align + PNG write); second run from the detection cache "
            f"{second:.1f} s ({n_photos / second:.1f} photos/s)."]


def framing(n_per_class: int) -> list[str]:
    """FER2013 crops vs our crops of the faces in the shared photos and the astronaut, at several margins."""
    fer, photos = SHARED / "fer2013" / "train", SHARED / "photos"
    if not (fer.is_dir() and photos.is_dir()):
        return ["", f"Framing: skipped ({fer} or {photos} is missing)."]
    rng = random.Random(1)
    sample = [p for cls in sorted(fer.iterdir()) for p in rng.sample(sorted(cls.glob("*.jpg")), n_per_class)]
    rows = [("FER2013 train crops", framing_stats(Image.open(p) for p in sample))]
    from skimage.data import astronaut

    images = [open_image(p) for p in sorted(photos.glob("*.jp*g"))] + [Image.fromarray(astronaut())]
    faces = [(image, face) for image in images for face in detect_faces(image)]
    for margin in (-0.07, -0.03, 0.0, 0.1):
        settings = FaceSettings(margin=margin)
        mark = " (default)" if margin == FaceSettings().margin else ""
        rows.append((f"shared photos + astronaut, margin {margin:+.2f}{mark}",
                     framing_stats(crop_face(image, face, settings=settings) for image, face in faces)))
    lines = ["", "Framing (medians, fractions of the crop side, measured by MTCNN on each crop upscaled to 192 px):",
             "", "| crops | found/measured | eye distance | eyes to mouth | box height | eye height |", "|---|---|---|---|---|---|"]
    for name, s in rows:
        lines.append(f"| {name} | {s.n_found}/{s.n_crops} | {s.eye_distance:.3f} | {s.eye_to_mouth:.3f} | "
                     f"{s.box_height:.3f} | {s.eye_y:.3f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--folder", type=int, default=50, help="photos in the folder run (0: skip)")
    ap.add_argument("--threads", default=f"1,{torch.get_num_threads()}",
                    help="comma-separated torch thread counts to measure (default: 1 and torch's own)")
    ap.add_argument("--framing", action="store_true", help="also measure crop framing against FER2013")
    ap.add_argument("--model", type=Path, default=None, help="model for the predict column (default: shipped)")
    args = ap.parse_args()
    threads = sorted({int(t) for t in args.threads.split(",")})
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [f"Faces stage (MTCNN detect + align, default FaceSettings: max_side {FaceSettings().max_side}, "
             f"min_face {FaceSettings().min_face}), load average before the run {load}. {machine_line()}", "",
             f"| photo ({SIZE[0]}x{SIZE[1]}) | torch threads | faces found | detect + align median ms | p90 ms | "
             "detect ms | align ms | predict median ms |", "|---|---|---|---|---|---|---|---|"]
    predictor = Predictor(args.model)
    for name, image in test_photos().items():
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            r = latency(image, args.runs, predictor)
            lines.append(f"| {name} | {n_threads} | {r['faces']} | {r['total']:.0f} | {r['p90']:.0f} | "
                         f"{r['detect']:.0f} | {r['align']:.1f} | {r['predict']:.0f} |")
    torch.set_num_threads(threads[0])
    lines.append(f"\nMedians over {args.runs} runs after 2 warm-up runs. The folder and framing runs use "
                 f"{threads[0]} torch thread(s).")
    if args.folder:
        lines += [""] + folder_speed(args.folder)
    if args.framing:
        lines += framing(60)
    write_result("faces", lines)


if __name__ == "__main__":
    main()
