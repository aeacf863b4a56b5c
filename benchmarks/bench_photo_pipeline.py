"""Does the photo pipeline (detect → align → crop) feed the model what training fed it?

    .venv/bin/python benchmarks/bench_photo_pipeline.py [--model NAME=DIR ...] [--n 700]

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

from _machine import machine_line, models_arg, side_by_side, write_result
from facexp.imageio import open_image
from facexp.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from fer8 import fer_manifest  # noqa: E402
from ferplus import as_photo  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EXPECTED = {"happy-baby.jpeg": "laughing", "sad-baby.jpeg": "sad", "surprised.jpeg": "surprise", "angry.jpg": "angry",
            "neutral.jpeg": "neutral"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", action="append", default=None, metavar="NAME=DIR",
                    help="a model and its name, repeatable: compared side by side (default: the shipped model)")
    ap.add_argument("--n", type=int, default=700)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    models = models_arg(args.model)
    test = fer_manifest(SHARED / "fer2013", "test", laughing=True)
    test = test[test["label"] != "exclude"].sample(args.n, random_state=args.seed)
    crops = [open_image(SHARED / "fer2013" / rel) for rel in test["path"]]
    photos = sorted((SHARED / "photos").glob("*.jp*g")) if (SHARED / "photos").is_dir() else []
    rows: dict[str, list[str]] = {}
    for name, model in models.items():
        direct = Predictor(model, detect=False)
        pipeline = Predictor(direct.bundle, detect=True)
        hits_direct = np.array([direct.predict(c).label == lab for c, lab in zip(crops, test["label"])])
        results = [pipeline.predict(as_photo(c)) for c in crops]
        found = np.array([bool(r.faces) for r in results])
        hits_pipe = np.array([r.label == lab for r, lab in zip(results, test["label"])])
        faces = ", ".join(f"{k} {pipeline.bundle.faces[k]}" for k in ("margin", "align") if k in pipeline.bundle.faces)
        cells = {f"classified directly (training preprocessing), n={len(crops)}": f"{hits_direct.mean():.4f}",
                 f"through detect → crop (no face counts as wrong), n={len(crops)}": f"{hits_pipe.mean():.4f} ({faces})",
                 "faces found by the detector": f"{found.mean():.4f}",
                 "same faces (found): directly": f"{hits_direct[found].mean():.4f}",
                 "same faces (found): through detect → crop": f"{hits_pipe[found].mean():.4f}"}
        for path in photos:
            result = pipeline.predict(open_image(path))
            preds = "; ".join(
                ", ".join(f"{c} {p:.0%}" for c, p in sorted(f.probs.items(), key=lambda kv: -kv[1])[:2])
                for f in result.faces)
            cells[f"{path.name} (expected: {EXPECTED.get(path.name, '-')})"] = preds or "no face"
        for measure, value in cells.items():
            rows.setdefault(measure, []).append(value)
    lines = [f"Photo pipeline vs training crops (FER2013 test sample, then the stock photos; top-2 per face). "
             f"{machine_line()}", "", *side_by_side(models, rows)]
    write_result("photo_pipeline", lines)


if __name__ == "__main__":
    main()
