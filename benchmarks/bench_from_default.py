"""Does starting from the shipped expression model beat starting from ImageNet on small data?

    .venv/bin/python benchmarks/bench_from_default.py [--per-class 25 50 100] [--epochs 6]

For each n in --per-class: sample n FER2013 train images per class of the original project's 4
classes (happy, laughing, sad, surprise; seed fixed), train twice with facexp's `train` — once
from ImageNet (efficientnet_lite0), once `--from default` — and evaluate both on the full FER2013
test images of those classes. Same epochs, lr, size and seed for both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from _machine import machine_line, write_result
from facexp.data import Manifest
from facexp.evaluate import evaluate
from facexp.predict import default_model_dir
from facexp.train import TrainConfig, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from fer8 import fer_manifest  # noqa: E402

FOUR = ["happy", "laughing", "sad", "surprise"]


def absolute(fer: Path, df: pd.DataFrame) -> Manifest:
    df = df.copy()
    df["path"] = [str((fer / p).resolve()) for p in df["path"]]
    return Manifest(df.reset_index(drop=True), fer)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fer", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fer2013")
    ap.add_argument("--per-class", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train_all = fer_manifest(args.fer, "train", laughing=True)
    test = absolute(args.fer, fer_manifest(args.fer, "test", laughing=True).query("label in @FOUR"))
    default = str(default_model_dir())
    lines = [f"Small-data fine-tuning on the 4 original classes, FER2013 test (n={len(test.items)}), "
             f"{args.epochs} epochs each. {machine_line()}", "",
             "Caveat: the default model was trained on all of FER2013 train, so on FER2013 test this measures "
             "in-domain expression pretraining, an upper bound for other data.", "",
             "| images per class | from ImageNet | from default model | train seconds (ImageNet / default) |",
             "|---|---|---|---|"]
    for n in args.per_class:
        sample = train_all.query("label in @FOUR").groupby("label").sample(n, random_state=args.seed)
        data = absolute(args.fer, sample)
        row = []
        for init in (None, default):
            cfg = TrainConfig(size=96, epochs=args.epochs, lr=3e-3, bs=32, valid_pct=0.2, seed=args.seed,
                              grayscale=True, init_from=init)
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.time()
                result = train(data, tmp, cfg)
                seconds = time.time() - t0
                row.append((evaluate(result.bundle_dir, test).accuracy, seconds))
        lines.append(f"| {n} | {row[0][0]:.4f} | {row[1][0]:.4f} | {row[0][1]:.0f} / {row[1][1]:.0f} |")
        print(lines[-1], flush=True)
    write_result("from_default", lines)


if __name__ == "__main__":
    main()
