"""FER+ label distributions for FER2013 images, in facexp's 8 classes (FER's 7 + laughing).

FER+ (Barsoum et al. 2016) had 10 crowd taggers re-label every FER2013 image. Its votes say that
FER2013's own labels call many calm faces sad, angry or fear; training on the vote distribution
(soft targets) rather than on FER2013's single label is what FER+'s authors found best.

Choices, each for a reason:
- **contempt** votes are dropped and the rest renormalised. facexp has no contempt class, and
  contempt (a one-sided smirk) is not a blend of the classes it has: moving those votes to
  neutral or disgust would teach that a smirk is calm or disgusted. Images whose top vote is
  contempt are dropped (0.4% of them).
- **unknown / NF** (not a face) votes are dropped likewise; an image whose top vote is unknown or
  NF, or with fewer than half of its 10 votes on facexp's classes, is dropped: the taggers could
  not read it.
- **laughing**: the hand labels of ``laughing_labels.tsv`` split FER2013's happy images into
  happy and laughing (jaws apart). For an image labelled laughing, its happiness votes count as
  laughing; everywhere else happiness is happy.
- **manifest**: ``python recipes/ferplus.py --out ferplus.csv`` writes them as a soft-label
  manifest (one probability column per class) that ``facexp train ferplus.csv`` reads.
- **majority label** (for reporting): the class with strictly the most votes after the steps
  above; an image whose top two classes tie has no majority and is left out of majority scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CLASSES_8 = ["angry", "disgust", "fear", "happy", "laughing", "neutral", "sad", "surprise"]
VOTE_TO_CLASS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                 "neutral": "neutral", "sadness": "sad", "surprise": "surprise"}
MIN_USABLE_VOTES = 5


def as_photo(crop: Image.Image) -> Image.Image:
    """A 48px crop enlarged 4x on a mid-grey canvas with room around it, like a face in a photo."""
    face = crop.convert("RGB").resize((192, 192), Image.BICUBIC)
    canvas = Image.new("RGB", (384, 384), (128, 128, 128))
    canvas.paste(face, (96, 96))
    return canvas


def pipeline_crops(faces: list[Image.Image], settings, *, min_score: float | None = None) -> list[tuple]:
    """Each face crop placed in a larger picture (``as_photo``) and cropped again by the photo pipeline.

    Returns (crop, detector score) of the largest face per picture, (None, -1.0) where none is
    found. ``min_score`` overrides the settings' threshold for finding (not for cropping), e.g. 0
    to record every score and filter later.
    """
    from facexp.faces import FaceSettings
    from facexp.faces.detect import crop_face, detect_faces_batch

    finding = settings if min_score is None else FaceSettings.from_dict({**settings.to_dict(), "min_score": min_score})
    photos = [as_photo(face) for face in faces]
    return [(crop_face(photo, found[0], settings=settings), found[0].score) if found else (None, -1.0)
            for photo, found in zip(photos, detect_faces_batch(photos, settings=finding))]


def ferplus_targets(fer: Path) -> pd.DataFrame:
    """One row per usable FER2013 image: ``path`` (relative to ``fer``), ``split`` (train/test),
    ``fer_label`` (FER2013's folder), one probability column per class of ``CLASSES_8``, and
    ``majority`` (the class with most votes, or "" on a tie)."""
    votes = pd.read_csv(fer / "ferplus_votes.tsv", sep="\t")
    hand = pd.read_csv(fer / "laughing_labels.tsv", sep="\t").set_index("path")["label"]
    emotion_votes = votes[list(VOTE_TO_CLASS)].to_numpy(float)
    all_votes = votes[[*VOTE_TO_CLASS, "contempt", "unknown", "NF"]].to_numpy(float)
    top_is_emotion = all_votes.argmax(axis=1) < len(VOTE_TO_CLASS)
    keep = top_is_emotion & (emotion_votes.sum(axis=1) >= MIN_USABLE_VOTES)
    votes, emotion_votes = votes[keep].reset_index(drop=True), emotion_votes[keep]

    counts = pd.DataFrame(0.0, index=votes.index, columns=CLASSES_8)
    for vote, cls in VOTE_TO_CLASS.items():
        counts[cls] = votes[vote].to_numpy(float)
    laughing = votes["path"].map(hand).eq("laughing").to_numpy()
    counts.loc[laughing, "laughing"] = counts.loc[laughing, "happy"]
    counts.loc[laughing, "happy"] = 0.0

    probs = counts.to_numpy() / counts.to_numpy().sum(axis=1, keepdims=True)
    ordered = np.sort(counts.to_numpy(), axis=1)
    majority = np.where(ordered[:, -1] > ordered[:, -2], np.array(CLASSES_8)[counts.to_numpy().argmax(axis=1)], "")
    out = pd.DataFrame(probs, columns=CLASSES_8)
    out.insert(0, "path", votes["path"])
    out.insert(1, "split", votes["path"].str.split("/").str[0])
    out.insert(2, "fer_label", votes["path"].str.split("/").str[1])
    out["majority"] = majority
    return out


def majority_accuracy(probs: np.ndarray, majority: np.ndarray, *, fold: bool = False) -> float:
    """Accuracy against the FER+ majority (rows without one left out); ``fold``: laughing counts as happy."""
    keep = majority != ""
    pred = np.array(CLASSES_8)[probs[keep].argmax(1)]
    truth = majority[keep]
    if fold:
        pred, truth = np.where(pred == "laughing", "happy", pred), np.where(truth == "laughing", "happy", truth)
    return float((pred == truth).mean())


def write_soft_manifest(fer: Path, out_csv: Path) -> Path:
    """A soft-label manifest for ``facexp train``: absolute ``path``, ``split``, one column per class.

    FER2013 test rows are ``split=test`` (held out of training); the notes columns start with ``_``
    (facexp ignores them).
    """
    table = ferplus_targets(fer)
    out = table[["path", "split", *CLASSES_8]].copy()
    out["path"] = [str((fer / p).resolve()) for p in out["path"]]
    out["_fer_label"], out["_majority"] = table["fer_label"], table["majority"]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(out_csv, index=False)
    return out_csv


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="FER+ vote distributions: counts, or a soft-label manifest")
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--out", type=Path, default=None, help="write a soft-label manifest CSV for `facexp train`")
    args = ap.parse_args()
    if args.out:
        print(f"wrote {write_soft_manifest(args.fer, args.out)}")
    else:
        table = ferplus_targets(args.fer)
        print(table.groupby(["split", "majority"]).size().unstack(0))
        print(pd.crosstab(table["fer_label"], table["majority"], normalize="index").round(2))
