"""Recipe for facexp's default model: FER2013 train, 8 expressions (happy split into happy/laughing).

Writes the training manifest (laughing_labels.tsv relabels FER2013's happy images; `exclude`
rows are dropped) and trains with facexp's own `train`, in stages, each starting from the previous
stage's weights (progressive resizing, as in fastai's course): most epochs at a small size, where
this CPU trains efficientnet_lite0 about 2.5x faster than at 96px, then one-cycle runs at the
shipped size. Three more branches train with MixUp at 96 px, from stages 2, 1 and 3, and the
shipped model is the ensemble of them and stage 3, stored as int8 (`combine.py ensemble`);
`make default-model` runs all of it:

    .venv/bin/python recipes/fer8.py --fer ../shared/data/fer2013 --out runs/fer8
    .venv/bin/python recipes/fer8.py --stages 96:10:5e-4 --mixup 0.4 --init-from runs/fer8/stage2/model \
        --out runs/fer8-mixup
    .venv/bin/python recipes/fer8.py --stages 96:8:5e-4 --mixup 0.4 --init-from runs/fer8/stage1/model \
        --out runs/fer8-mixup64
    .venv/bin/python recipes/fer8.py --stages 96:12:4e-4 --mixup 0.4 --init-from runs/fer8/model \
        --out runs/fer8-mixup3
    .venv/bin/python recipes/combine.py ensemble --dtype int8 runs/fer8/ensemble runs/fer8-mixup/model \
        runs/fer8/model runs/fer8-mixup64/model runs/fer8-mixup3/model
    .venv/bin/python recipes/package_default.py runs/fer8/ensemble
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import pandas as pd

from facexp.faces import FaceSettings
from facexp.train import TrainConfig, train

CLASSES_7 = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
DEFAULT_STAGES = "64:18:1e-3,96:2:3e-4,96:16:5e-4"


def parse_stages(text: str) -> list[tuple[int, int, float]]:
    """Parse "64:18:1e-3,96:2:3e-4" into (image size, epochs, peak lr) per stage."""
    try:
        stages = [(int(size), int(epochs), float(lr)) for size, epochs, lr in (s.split(":") for s in text.split(","))]
    except ValueError:
        raise argparse.ArgumentTypeError(f"want SIZE:EPOCHS:LR[,SIZE:EPOCHS:LR...]; got {text!r}") from None
    return stages


def fer_manifest(fer: Path, split: str, *, laughing: bool) -> pd.DataFrame:
    """Rows (path relative to fer, label) of one FER2013 split, optionally with the laughing relabel."""
    rows = [(str(p.relative_to(fer)), p.parent.name) for c in CLASSES_7 for p in sorted((fer / split / c).glob("*.jpg"))]
    df = pd.DataFrame(rows, columns=["path", "label"])
    if laughing:
        hand = pd.read_csv(fer / "laughing_labels.tsv", sep="\t").set_index("path")["label"]
        relabel = df["path"].map(hand)
        df.loc[relabel.notna(), "label"] = relabel[relabel.notna()]
        df = df[df["label"] != "exclude"]
    return df.reset_index(drop=True)


def write_manifest(fer: Path, split: str, out_csv: Path, *, laughing: bool) -> Path:
    df = fer_manifest(fer, split, laughing=laughing)
    df["path"] = [str((fer / p).resolve()) for p in df["path"]]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_csv, index=False)
    return out_csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--out", type=Path, default=Path("runs/fer8"))
    ap.add_argument("--stages", type=parse_stages, default=parse_stages(DEFAULT_STAGES),
                    help=f"SIZE:EPOCHS:LR,... one one-cycle run per stage (default {DEFAULT_STAGES})")
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--seven", action="store_true", help="the plain 7 FER classes (no laughing split)")
    ap.add_argument("--mixup", type=float, default=0.0, help="MixUp alpha for every stage (0: off)")
    ap.add_argument("--init-from", default=None, help="continue from this bundle (same split and seed)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    laughing = not args.seven
    train_csv = write_manifest(args.fer, "train", args.out / "train.csv", laughing=laughing)
    write_manifest(args.fer, "test", args.out / "test.csv", laughing=laughing)
    init_from, t0 = args.init_from, time.time()
    for i, (size, epochs, lr) in enumerate(args.stages):
        out = args.out if i == len(args.stages) - 1 else args.out / f"stage{i + 1}"
        cfg = TrainConfig(arch=args.arch, size=size, epochs=epochs, lr=lr, bs=64, valid_pct=0.1, seed=42,
                          grayscale=True, init_from=init_from, mixup=args.mixup,
                          faces=FaceSettings(align=False).to_dict())  # FER images are face crops, not eye-levelled
        result = train(train_csv, out, cfg)
        init_from = str(result.bundle_dir)
        print(f"stage {i + 1} ({size}px, {epochs} epochs) done at {time.time() - t0:.0f}s: {result.metrics}", flush=True)
    print(f"trained in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
