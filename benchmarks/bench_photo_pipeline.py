"""Does the photo pipeline (detect → align → crop) feed the model what training fed it?

    .venv/bin/python benchmarks/bench_photo_pipeline.py [--model DIR] [--n 700]

1. FER2013 test crops, two ways: classified directly (as in training), and through the full
   photo pipeline after each crop is enlarged 4x and placed on a larger canvas, so the detector
   has to find, align and re-crop the face as it would in a photo. Equal accuracy means the
   pipeline's framing matches the training crops'; the gap is what preprocessing costs.
2. The uncropped stock photos in ../shared/data/photos, with the expression the file is named for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from _machine import machine_line, write_result
from facexp.imageio import open_image
from facexp.predict import Predictor, default_model_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from fer8 import fer_manifest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXPECTED = {"happy-baby.jpeg": "laughing", "sad-baby.jpeg": "sad", "surprised.jpeg": "surprise", "angry.jpg": "angry",
            "neutral.jpeg": "neutral"}


def as_photo(crop: Image.Image) -> Image.Image:
    """A 48px crop enlarged 4x on a mid-grey canvas with room around it, like a face in a photo."""
    face = crop.convert("RGB").resize((192, 192), Image.BICUBIC)
    canvas = Image.new("RGB", (384, 384), (128, 128, 128))
    canvas.paste(face, (96, 96))
    return canvas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model = args.model or default_model_dir()
    direct = Predictor(model, detect=False)
    pipeline = Predictor(model, detect=True)
    test = fer_manifest(SHARED / "fer2013", "test", laughing=True)
    test = test[test["label"] != "exclude"].sample(args.n, random_state=args.seed)
    hits_direct, hits_pipe, found = [], [], 0
    for rel, label in zip(test["path"], test["label"]):
        crop = open_image(SHARED / "fer2013" / rel)
        hits_direct.append(direct.predict(crop).label == label)
        result = pipeline.predict(as_photo(crop))
        found += bool(result.faces)
        hits_pipe.append(result.label == label)
    n = len(test)
    faces = ", ".join(f"{k} {pipeline.bundle.faces[k]}" for k in ("margin", "align") if k in pipeline.bundle.faces)
    lines = [f"Photo pipeline vs training crops, model `{model.name}`. {machine_line()}", "",
             "| FER2013 test sample | n | accuracy |", "|---|---|---|",
             f"| classified directly (training preprocessing) | {n} | {np.mean(hits_direct):.4f} |",
             f"| through detect → crop with the card's face settings ({faces}; no face counts as wrong) "
             f"| {n} | {np.mean(hits_pipe):.4f} |",
             f"| faces found by the detector | {n} | {found / n:.4f} |", ""]
    photos = SHARED / "photos"
    if photos.is_dir():
        lines += ["| stock photo | expected | faces | predicted (top-2) |", "|---|---|---|---|"]
        for path in sorted(photos.glob("*.jp*g")):
            result = pipeline.predict(open_image(path))
            preds = "; ".join(
                ", ".join(f"{c} {p:.0%}" for c, p in sorted(f.probs.items(), key=lambda kv: -kv[1])[:2])
                for f in result.faces)
            lines.append(f"| {path.name} | {EXPECTED.get(path.name, '-')} | {len(result.faces)} | {preds or 'no face'} |")
    write_result("photo_pipeline", lines)


if __name__ == "__main__":
    main()
