"""FER2013 test-set numbers for an 8-expression model (happy split into happy / laughing).

    .venv/bin/python benchmarks/bench_fer.py --model runs/fer8/model [--tta] [--result NAME]

Reports, from one pass over the 7,178 test crops (minus the hand-labelled `exclude` ones for the
8-class view):
  * 8-class accuracy (laughing_labels.tsv relabels test/happy),
  * 7-class accuracy on the full FER2013 test set with laughing folded back into happy,
  * laughing vs happy on the hand-labelled test happy images,
  * the original project's 4 classes (happy, sad, surprise, laughing), probabilities renormalised.
Each view also gets a full HTML report under OUT/<view>/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import machine_line, write_result
from facexp.data import Manifest
from facexp.evaluate import EvalReport, fold_classes, predict_manifest, restrict_classes, write_report
from facexp.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from fer8 import fer_manifest  # noqa: E402

FOUR = ["happy", "laughing", "sad", "surprise"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--fer", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fer2013")
    ap.add_argument("--out", type=Path, default=Path("runs/bench_fer"))
    ap.add_argument("--tta", action="store_true")
    ap.add_argument("--result", default=None, help="results file name (default: fer, or fer_tta with --tta)")
    args = ap.parse_args()
    predictor = Predictor(args.model, detect=False, tta=args.tta)

    # one pass over every test image; labels: 7-class truth and (for happy) the hand label
    seven = fer_manifest(args.fer, "test", laughing=False)
    hand = pd.read_csv(args.fer / "laughing_labels.tsv", sep="\t").set_index("path")["label"]
    seven["hand"] = seven["path"].map(hand).fillna(seven["label"])
    seven["path"] = [str((args.fer / p).resolve()) for p in seven["path"]]
    probs = predict_manifest(predictor, Manifest(seven[["path", "label"]], args.fer))
    classes = predictor.classes
    paths = list(seven["path"])

    keep8 = (seven["hand"] != "exclude").to_numpy()
    r8 = EvalReport(classes, np.array([classes.index(c) for c in seven["hand"][keep8]]), probs[keep8],
                    [p for p, k in zip(paths, keep8) if k])
    r7 = fold_classes(EvalReport(classes, np.array([classes.index(c) if c in classes else classes.index("happy")
                                                    for c in seven["label"]]), probs, paths), {"laughing": "happy"})
    r_lh = restrict_classes(r8, ["happy", "laughing"])
    r4 = restrict_classes(r8, FOUR)
    views = {"8-class": r8, "7-class (laughing folded into happy)": r7, "laughing vs happy": r_lh,
             "4 original classes": r4}
    lines = [f"FER2013 test, model `{args.model}` ({'with 4-view' if args.tta else 'no'} TTA). {machine_line()}", "",
             "| view | n | accuracy | macro-F1 | per-class F1 |", "|---|---|---|---|---|"]
    summary = {}
    for name, report in views.items():
        slug = name.split(" (")[0].replace(" ", "_")
        write_report(report, args.out / slug, title=f"FER2013 test: {name}")
        f1 = ", ".join(f"{c} {m['f1']:.2f}" for c, m in report.per_class().items())
        lines.append(f"| {name} | {len(report.y_true)} | {report.accuracy:.4f} | {report.macro_f1:.4f} | {f1} |")
        summary[name] = {"n": len(report.y_true), "accuracy": report.accuracy, "macro_f1": report.macro_f1,
                         "confusion": report.confusion().tolist(), "classes": report.classes}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    lines += ["", "4-class confusion matrix (rows actual, columns predicted, order " + ", ".join(r4.classes) + "):", ""]
    lines += ["    " + " ".join(f"{v:5d}" for v in row) for row in r4.confusion()]
    write_result(args.result or ("fer_tta" if args.tta else "fer"), lines)


if __name__ == "__main__":
    main()
