"""Which small-data recipe? Training variants on FER2013 crops, several sizes and seeds (issue 13).

    .venv/bin/python benchmarks/bench_from_default.py [--per-class 25 100] [--seeds 0 1]
        [--variants auto old fixed-lr from-default from-default-lr3e-3] [--test-per-class 150]

For each n in --per-class and each seed: sample n FER2013 train crops per class of the original
project's 4 classes (happy, laughing, sad, surprise), train each variant with facexp's `train`
(the Python API, crops as they are: no detection) and score it on a fixed sample of FER2013 test
crops of those classes. The default model restricted to the 4 classes is scored on the same
sample. `benchmarks/bench_journey.py` runs the chosen recipe end to end through the CLI.

Variants (anything not named is TrainConfig's default):
  auto                   the defaults: small-data schedule, lr_find with floor/ceiling/fallback
  old                    the previous defaults' schedule: 5 epochs, batch 64, no frozen epochs
  fixed-lr               auto, with lr 2e-3 instead of lr_find
  from-default           --from default with its defaults (gentle fixed lr, frozen first, keep the better)
  from-default-lr3e-3    --from default with lr 3e-3
  lr-mult-10, lr-mult-1  auto, with the unfrozen body's rate 10x / 1x below the head's (default 100x)
  size96, size96-lr-mult-1  auto / lr-mult-1 at 96 px input instead of 64
Results are cached per run under runs/bench_from_default/, so the grid can be filled in pieces.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import machine_line, write_result
from facexp.data import Manifest
from facexp.evaluate import evaluate
from facexp.predict import default_model_dir
from facexp.train import TrainConfig, fit, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from fer8 import fer_manifest  # noqa: E402

FOUR = ["happy", "laughing", "sad", "surprise"]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path(__file__).resolve().parents[1] / "runs" / "bench_from_default"
VARIANTS = {
    "auto": {},
    "old": dict(epochs=5, bs=64, freeze_epochs=0),
    "fixed-lr": dict(lr=2e-3),
    "from-default": dict(init_from="default"),
    "from-default-lr3e-3": dict(init_from="default", lr=3e-3),
    "lr-mult-10": dict(patch={"LR_MULT": 10}),
    "lr-mult-1": dict(patch={"LR_MULT": 1}),
    "size96": dict(size=96),
    "size96-lr-mult-1": dict(size=96, patch={"LR_MULT": 1}),
}


def absolute(fer: Path, df: pd.DataFrame) -> Manifest:
    df = df.copy()
    df["path"] = [str((fer / p).resolve()) for p in df["path"]]
    return Manifest(df.reset_index(drop=True), fer)


def sample_per_class(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of each of the four classes (all of a class's rows when it has fewer)."""
    df = df[df["label"].isin(FOUR)]
    parts = [df[df["label"] == c] for c in FOUR]
    return pd.concat([part.sample(min(n, len(part)), random_state=seed) for part in parts])


def run_variant(name: str, data: Manifest, test: Manifest, seed: int) -> dict:
    options = dict(VARIANTS[name])
    patch = options.pop("patch", {})
    if options.get("init_from") == "default":
        options["init_from"] = str(default_model_dir())
    saved = {k: getattr(fit, k) for k in patch}
    try:
        for k, v in patch.items():
            setattr(fit, k, v)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            result = train(data, tmp, TrainConfig(seed=seed, **{"init_from": "imagenet", **options}))
            seconds = time.time() - t0
            report = evaluate(result.bundle_dir, test)
    finally:
        for k, v in saved.items():
            setattr(fit, k, v)
    training = result.card["training"]
    return {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "seconds": round(seconds, 1),
            "valid_accuracy": result.metrics["valid_accuracy"], "lr": training["config"]["lr"],
            "lr_source": training["config"]["lr_source"], "epochs": training["config"]["epochs"],
            "kept": training.get("start", {}).get("kept")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=SHARED / "fer2013")
    ap.add_argument("--per-class", type=int, nargs="+", default=[25, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--test-per-class", type=int, default=150)
    ap.add_argument("--report-only", action="store_true", help="write the table from the cached runs")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    CACHE.mkdir(parents=True, exist_ok=True)
    test = absolute(args.fer, sample_per_class(fer_manifest(args.fer, "test", laughing=True), args.test_per_class, 0))
    baseline_path = CACHE / f"baseline_test{args.test_per_class}.json"
    if not baseline_path.exists():
        report = evaluate(None, test, classes=FOUR)
        baseline_path.write_text(json.dumps({"accuracy": report.accuracy, "macro_f1": report.macro_f1}))
    baseline = json.loads(baseline_path.read_text())
    train_all = fer_manifest(args.fer, "train", laughing=True)
    for n in [] if args.report_only else args.per_class:
        for seed in args.seeds:
            data = absolute(args.fer, sample_per_class(train_all, n, seed))
            for name in args.variants:
                path = CACHE / f"{name}_n{n}_s{seed}_test{args.test_per_class}.json"
                if path.exists():
                    continue
                row = run_variant(name, data, test, seed)
                path.write_text(json.dumps(row))
                print(name, n, seed, row, flush=True)
    lines = [f"Small-data recipes on the 4 original classes: FER2013 train crops sampled per class, scored on "
             f"{len(test.items)} FER2013 test crops ({args.test_per_class} per class, fixed sample). {machine_line()}", "",
             f"Default model restricted to the 4 classes on the same sample: accuracy {baseline['accuracy']:.4f}, "
             f"macro-F1 {baseline['macro_f1']:.4f}. Caveat: the default model was trained on all of FER2013 train, "
             "so `--from default` here measures in-domain pretraining, an upper bound for other data.", "",
             "| variant | images per class | seeds | test accuracy (mean, min-max) | macro-F1 (mean) | epochs | lr | train s |",
             "|---|---|---|---|---|---|---|---|"]
    for name in VARIANTS:
        for n in sorted({int(p.name.split("_n")[1].split("_")[0]) for p in CACHE.glob(f"{name}_n*_test{args.test_per_class}.json")}):
            rows = [json.loads(p.read_text()) for p in sorted(CACHE.glob(f"{name}_n{n}_s*_test{args.test_per_class}.json"))]
            acc = np.array([r["accuracy"] for r in rows])
            lrs = ", ".join(sorted({f"{r['lr']:.1e}" + (" (fallback)" if r["lr_source"] == "fallback" else "") for r in rows}))
            kept = [r["kept"] for r in rows if r.get("kept")]
            kept_note = f"; kept start {kept.count('starting weights')}/{len(kept)}" if kept else ""
            lines.append(f"| {name} | {n} | {len(rows)} | {acc.mean():.4f} ({acc.min():.4f}-{acc.max():.4f}) | "
                         f"{np.mean([r['macro_f1'] for r in rows]):.4f} | {rows[0]['epochs']} | {lrs}{kept_note} | "
                         f"{np.mean([r['seconds'] for r in rows]):.0f} |")
    write_result("from_default", lines)


if __name__ == "__main__":
    main()
