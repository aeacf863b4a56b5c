"""Choosing the default model on FER2013's validation split, never on the test set.

    .venv/bin/python benchmarks/bench_valid.py --model stage2=runs/fer8/stage2/model \
        --model stage3=runs/fer8/model stage2 stage3 stage2+stage3 [--no-tta]

Each candidate is a model name or several joined by `+` (an ensemble: the members' class
probabilities averaged, which is what `facexp.ensemble.Ensemble` computes). Every model is run
once, as is and with the 4-view TTA, over the validation rows its recipe held out (`fer8.py`:
10% of FER2013 train, seed 42; all candidates must share that split). Reports 8-class accuracy
and macro-F1 per candidate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _machine import machine_line, write_result
from facexp.bundle import load_bundle
from facexp.evaluate import EvalReport, predict_manifest
from facexp.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from combine import valid_manifest  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR", help="a model and its name")
    ap.add_argument("candidates", nargs="+", help="model names; A+B is the ensemble of A and B")
    ap.add_argument("--no-tta", dest="tta", action="store_false", help="skip the 4-view TTA column")
    ap.add_argument("--result", default="valid")
    args = ap.parse_args()
    dirs = dict(m.split("=", 1) for m in args.model)
    used = list(dict.fromkeys(m for c in args.candidates for m in c.split("+")))
    unknown = sorted(set(used) - set(dirs))
    if unknown:
        raise SystemExit(f"candidates name {unknown}, which no --model NAME=DIR defines")
    members = {name: load_bundle(dirs[name]) for name in used}
    splits = {m: valid_manifest(b) for m, b in members.items()}
    first = next(iter(splits.values()))
    for m, split in splits.items():
        if list(split.items["path"]) != list(first.items["path"]):
            raise SystemExit(f"{m} held out other validation rows than {next(iter(splits))}; not comparable")
    classes = members[next(iter(members))].classes
    y_true = np.array([classes.index(c) for c in first.items["label"]])
    views = {"as is": False, **({"4-view TTA": True} if args.tta else {})}
    probs = {(m, view): predict_manifest(Predictor(b, detect=False, tta=tta), first)
             for m, b in members.items() for view, tta in views.items()}

    lines = [f"FER2013 validation split (8 classes, n={len(y_true)}; `recipes/fer8.py` holds out 10% of train, "
             f"seed 42). {machine_line()}", "",
             "Models: " + "; ".join(f"`{name}` = `{dirs[name]}`" for name in used) + ".", "",
             "| candidate | " + " | ".join(f"accuracy {v} | macro-F1 {v}" for v in views) + " |",
             "|---|" + "---|---|" * len(views)]
    for candidate in args.candidates:
        cells = []
        for view in views:
            p = np.mean([probs[(m, view)] for m in candidate.split("+")], axis=0)
            report = EvalReport(classes, y_true, p, list(first.items["path"]))
            cells += [f"{report.accuracy:.4f}", f"{report.macro_f1:.4f}"]
        lines.append(f"| `{candidate}` | " + " | ".join(cells) + " |")
    write_result(args.result, lines)


if __name__ == "__main__":
    main()
