"""Measure the activation ranges of a FER+ model's int8 graph and ship them beside its weights.

    .venv/bin/python recipes/calibrate_int8.py --model src/facexp/default_model --features runs/ferplus

The ranges come from 1,024 training faces the detector found (seed 0), half as FER2013 stores them
and half as the photo pipeline crops them (``ferplus_features.py``'s crops, prepared by
``ferplus_finetune.py``): the two framings the network meets. ``Percentile`` (99.999%) clips the
rare extreme activations that ``MinMax`` would stretch every step for. Left in float: the first
convolution and the head's two matrix products (quantised too, they cost 0.4 points on the
validation split through the detector; left out, 0.2). The card records the int8 graph's
accuracy and agreement with fp32 on the validation split, both framings; ``facexp.int8`` builds
the graph at first use.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ferplus import CLASSES_8  # noqa: E402
from ferplus_head import fer8_valid_paths  # noqa: E402

from facexp.bundle import load_bundle, read_card, write_card  # noqa: E402
from facexp.engines import onnx_graph, ort_session  # noqa: E402
from facexp.int8 import RANGES_FILE, calibrate, quantise  # noqa: E402

EXCLUDE = ["/0/0.0/Conv", "/1/1.4/MatMul", "/1/1.8/MatMul"]  # the exported graph's first conv and head products
CALIBRATION = 1024
BATCH = 256


def network_input(gray: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 (N, S, S) gray crops → the network's (N, 3, S, S) float32 input."""
    x = ((gray.astype(np.float32) / 255 - mean) / std)[:, None]
    return np.ascontiguousarray(np.broadcast_to(x, (len(x), 3, *x.shape[2:])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("src/facexp/default_model"))
    ap.add_argument("--features", type=Path, default=Path("runs/ferplus"),
                    help="targets.csv, crops.npz and prepared_<size>.npz of the FER+ recipe")
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    args = ap.parse_args()

    bundle = load_bundle(args.model)
    settings = bundle.image
    mean, std = np.float32(settings.mean[0]), np.float32(settings.std[0])
    table = pd.read_csv(args.features / "targets.csv", keep_default_na=False)
    found = np.load(args.features / "crops.npz")["scores"] >= 0.9
    views = np.load(args.features / f"prepared_{settings.size}.npz")
    direct, detector = views["direct"], views["detector"]
    valid = table["path"].isin(fer8_valid_paths(args.fer)).to_numpy()
    train = (table["split"] == "train").to_numpy() & ~valid

    pick = np.random.default_rng(0).choice(np.flatnonzero(train & found), CALIBRATION, replace=False)
    crops = np.concatenate([direct[pick[:CALIBRATION // 2]], detector[pick[CALIBRATION // 2:]]])
    fp32 = onnx_graph(bundle)
    ranges = args.model / RANGES_FILE
    calibrate(fp32, network_input(crops, mean, std), EXCLUDE, ranges)
    buf = io.BytesIO()
    quantise(fp32, ranges, EXCLUDE, buf)

    sessions = {"fp32": ort_session(fp32), "int8": ort_session(buf.getvalue())}
    majority = table["majority"].to_numpy()
    rows = np.flatnonzero(valid & (majority != ""))
    measured = {}
    for view, images, idx in (("direct", direct, rows), ("detector", detector, rows[found[rows]])):
        truth = majority[idx]
        labels = {}
        for name, session in sessions.items():
            logits = np.concatenate([session.run(None, {"image": network_input(images[idx[i:i + BATCH]], mean, std)})[0]
                                     for i in range(0, len(idx), BATCH)])
            labels[name] = np.asarray(CLASSES_8)[logits.argmax(1)]
        measured[view] = {"n": int(len(idx)), "fp32": round(float(np.mean(labels["fp32"] == truth)), 4),
                          "int8": round(float(np.mean(labels["int8"] == truth)), 4),
                          "agree": round(float(np.mean(labels["fp32"] == labels["int8"])), 4)}
        print(f"validation, {view}: {measured[view]}")

    card = read_card(args.model)
    card["int8"] = {"ranges": RANGES_FILE, "exclude": EXCLUDE,
                    "calibration": f"{CALIBRATION} FER+ train faces found by the detector (seed 0), half as stored, "
                                   "half as the photo pipeline crops them; ONNX Runtime Percentile 99.999",
                    "validation_8_classes_ferplus_majority": measured}
    write_card(args.model, card)
    print(f"wrote {ranges} and the card's int8 entry")


if __name__ == "__main__":
    main()
