"""Recipe for facexp's default model: FER2013 train, 8 expressions (happy split into happy/laughing).

Writes the training manifest (laughing_labels.tsv relabels FER2013's happy images; `exclude`
rows are dropped) and trains with facexp's own `train`. Reproduce with:

    .venv/bin/python recipes/fer8.py --fer ../shared/data/fer2013 --out runs/fer8
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
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--arch", default="efficientnet_lite0")
    ap.add_argument("--seven", action="store_true", help="the plain 7 FER classes (no laughing split)")
    ap.add_argument("--init-from", default=None, help="continue from this bundle (same split and seed)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    laughing = not args.seven
    train_csv = write_manifest(args.fer, "train", args.out / "train.csv", laughing=laughing)
    write_manifest(args.fer, "test", args.out / "test.csv", laughing=laughing)
    cfg = TrainConfig(arch=args.arch, size=args.size, epochs=args.epochs, lr=args.lr, bs=64, valid_pct=0.1,
                      seed=42, grayscale=True, faces=FaceSettings().to_dict(), init_from=args.init_from)  # FER images are face crops
    t0 = time.time()
    result = train(train_csv, args.out, cfg)
    print(f"trained in {time.time() - t0:.0f}s: {result.metrics}")


if __name__ == "__main__":
    main()
