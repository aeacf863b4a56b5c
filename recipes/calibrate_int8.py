"""Measure the activation ranges of a FER+ model's int8 graph and ship them beside its weights.

    .venv/bin/python recipes/calibrate_int8.py --model src/facexp/default_model --features runs/ferplus

The ranges come from 1,024 training faces the detector found (seed 0), half as FER2013 stores them
and half as the photo pipeline crops them (``ferplus_features.py``'s crops, prepared by
``ferplus_finetune.py``): the two framings the network meets. ``Percentile`` (99.999%) clips the
rare extreme activations that ``MinMax`` would stretch every step for. The card records the int8
graph's accuracy and agreement with fp32 on the validation split, both framings
(``facexp.int8.calibrate_bundle``, which keeps the ranges only if int8 is as accurate); the
int8 graph itself is built at first use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferplus_finetune import to_input  # noqa: E402
from ferplus_head import fer8_valid_paths  # noqa: E402

from facexp.bundle import load_bundle  # noqa: E402
from facexp.int8 import calibrate_bundle  # noqa: E402

CALIBRATION = 1024


def network_input(gray: np.ndarray, settings) -> np.ndarray:
    """uint8 (N, S, S) gray crops → the network's (N, 3, S, S) float32 input, as the fine-tune prepared them."""
    return np.ascontiguousarray(to_input(gray, settings).numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("src/facexp/default_model"))
    ap.add_argument("--features", type=Path, default=Path("runs/ferplus"),
                    help="targets.csv, crops.npz and prepared_<size>.npz of the FER+ recipe")
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    args = ap.parse_args()

    bundle = load_bundle(args.model)
    settings = bundle.image
    table = pd.read_csv(args.features / "targets.csv", keep_default_na=False)
    found = np.load(args.features / "crops.npz")["scores"] >= 0.9
    views = np.load(args.features / f"prepared_{settings.size}.npz")
    direct, detector = views["direct"], views["detector"]
    valid = table["path"].isin(fer8_valid_paths(args.fer)).to_numpy()
    train = (table["split"] == "train").to_numpy() & ~valid

    pick = np.random.default_rng(0).choice(np.flatnonzero(train & found), CALIBRATION, replace=False)
    crops = np.concatenate([direct[pick[:CALIBRATION // 2]], detector[pick[CALIBRATION // 2:]]])
    majority = table["majority"].to_numpy()
    rows = np.flatnonzero(valid & (majority != ""))
    truth = lambda idx: np.array([bundle.classes.index(c) for c in majority[idx]])  # noqa: E731
    views = {"direct": (network_input(direct[rows], settings), truth(rows)),
             "detector": (network_input(detector[rows[found[rows]]], settings), truth(rows[found[rows]]))}
    record = calibrate_bundle(args.model, network_input(crops, settings), views,
                              f"{CALIBRATION} FER+ train faces found by the detector (seed 0), half as stored, half "
                              "as the photo pipeline crops them; ONNX Runtime Percentile 99.999; validation: 8 "
                              "classes, FER+ majority")
    print(record)


if __name__ == "__main__":
    main()
