"""Latency of the photo pipeline: detect + align + classify, one 1280x853 photo with 1 and 5 faces.

    .venv/bin/python benchmarks/bench_faces.py [--model DIR] [--runs 20]

Photos: ../shared/data/photos (surprised.jpeg: 1 face; group.jpeg: 4 clear faces + 1 cut off)
resized to 1280x853 when present, else scikit-image's astronaut and a collage of it. Also
faces/s over a folder of 50 such photos through `Predictor.predict_iter`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from PIL import Image

from _machine import machine_line, write_result
from facexp.imageio import open_image
from facexp.predict import Predictor, default_model_dir

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"


def test_photos() -> dict[str, Image.Image]:
    if PHOTOS.is_dir():
        return {name: open_image(PHOTOS / file).resize((1280, 853))
                for name, file in (("1 face", "surprised.jpeg"), ("5 faces (group)", "group.jpeg"))}
    from skimage.data import astronaut

    astro = Image.fromarray(astronaut())
    collage = Image.new("RGB", (1280, 853), "gray")
    for k in range(5):
        collage.paste(astro.resize((256, 256)), (k * 256, 300))
    return {"1 face": astro.resize((1280, 853)), "5 faces (collage)": collage}


def median_ms(fn, runs: int) -> tuple[float, list]:
    fn()
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    predictor = Predictor(args.model or default_model_dir(), detect=True)
    lines = [f"Photo pipeline latency (detect + align + classify), {torch.get_num_threads()} torch threads. "
             f"{machine_line()}", "", "| photo (1280x853) | faces found | median ms | of which detection ms |",
             "|---|---|---|---|"]
    for name, img in test_photos().items():
        ms, result = median_ms(lambda: predictor.predict(img), args.runs)
        lines.append(f"| {name} | {len(result.faces)} | {ms:.0f} | {result.timings_ms['faces']:.0f} |")
    photos = list(test_photos().values()) * 25
    t0 = time.perf_counter()
    n_faces = sum(len(r.faces) for r in predictor.predict_iter(photos))
    seconds = time.perf_counter() - t0
    lines += ["", f"Folder of {len(photos)} photos: {n_faces / seconds:.1f} faces/s, {len(photos) / seconds:.1f} photos/s."]
    write_result("faces", lines)


if __name__ == "__main__":
    main()
