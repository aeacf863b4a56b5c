"""FER2013 test faces scored against FER+ votes, directly and through the photo pipeline, models side by side.

    .venv/bin/python benchmarks/bench_ferplus.py --model new=src/facexp/default_model --model old=runs/old_default

Truth is FER+'s majority of 10 votes (``recipes/ferplus.py``: contempt, unknown and not-a-face
votes dropped, images whose top vote is one of them dropped, ties left out), with FER2013 test's
happy images split into happy / laughing by the hand labels. Each face is classified two ways:
  * direct: the 48 px crop as stored, the way the networks were trained;
  * through detect → crop: the crop enlarged 4x onto a grey canvas (``as_photo``) and put through
    the model card's face settings, as a face in a user's photo is; no face found counts as wrong.
"same faces" compares the two on the faces the detector found, which isolates what framing costs.
Also: laughing vs happy on the hand-labelled happy test images, and FER2013's own labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import machine_line, models_arg, side_by_side, write_result
from facexp.data import Manifest
from facexp.evaluate import predict_manifest
from facexp.faces import FaceSettings
from facexp.imageio import open_image
from facexp.predict import Predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
from ferplus import CLASSES_8, ferplus_targets, pipeline_crops  # noqa: E402

FER = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


def fold(labels: np.ndarray) -> np.ndarray:
    return np.where(labels == "laughing", "happy", labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, metavar="NAME=DIR",
                    help="a model and its name (repeatable; default: the shipped model)")
    ap.add_argument("--fer", type=Path, default=FER)
    ap.add_argument("--result", default="ferplus")
    args = ap.parse_args()
    models = models_arg(args.model)
    table = ferplus_targets(args.fer)
    test = table[table["split"] == "test"].reset_index(drop=True)
    paths = [args.fer / p for p in test["path"]]
    majority = test["majority"].to_numpy()
    has_majority = majority != ""
    fer_labels = test["fer_label"].to_numpy()
    hand = pd.read_csv(args.fer / "laughing_labels.tsv", sep="\t").set_index("path")["label"]
    hand_labels = test["path"].map(hand).fillna("").to_numpy()
    private = test["path"].str.contains("PrivateTest").to_numpy()

    rows: dict[str, list[str]] = {}
    cache: dict[str, list] = {}
    for name, model in models.items():
        direct = Predictor(model, detect=False)
        assert direct.classes == CLASSES_8, f"{name}: classes {direct.classes}"
        p_direct = predict_manifest(direct, Manifest(pd.DataFrame({"path": map(str, paths), "label": "happy"}),
                                                     args.fer))
        settings = FaceSettings.from_dict(direct.bundle.faces)
        if settings.digest() not in cache:
            cache[settings.digest()] = [crop for i in range(0, len(paths), 32)
                                        for crop, _ in pipeline_crops([open_image(p) for p in paths[i:i + 32]], settings)]
        crops = cache[settings.digest()]
        found = np.array([c is not None for c in crops])
        p_pipe = np.zeros_like(p_direct)
        kept = [c for c in crops if c is not None]
        p_pipe[found] = np.concatenate([direct.classify(kept[i:i + 256]) for i in range(0, len(kept), 256)])
        pred_direct = np.array(CLASSES_8)[p_direct.argmax(1)]
        pred_pipe = np.where(found, np.array(CLASSES_8)[p_pipe.argmax(1)], "")

        def acc(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> str:
            return f"{(pred[mask] == truth[mask]).mean():.4f} ({mask.sum()})"

        maj7 = fold(majority)
        lh = np.isin(hand_labels, ["happy", "laughing"])
        cells = {
            "FER+ majority, 7 classes, direct": acc(fold(pred_direct), maj7, has_majority),
            "FER+ majority, 7 classes, direct, PrivateTest only (FER+ 'test')":
                acc(fold(pred_direct), maj7, has_majority & private),
            "FER+ majority, 8 classes, direct": acc(pred_direct, majority, has_majority),
            "FER+ majority, 7 classes, detect → crop (no face = wrong)": acc(fold(pred_pipe), maj7, has_majority),
            "same faces (found by the detector): direct": acc(fold(pred_direct), maj7, has_majority & found),
            "same faces (found by the detector): detect → crop": acc(fold(pred_pipe), maj7, has_majority & found),
            "faces found by the detector": f"{found.mean():.4f} ({len(found)})",
            "neutral recall (FER+ majority neutral), direct": acc(pred_direct, majority, majority == "neutral"),
            "neutral recall, detect → crop": acc(pred_pipe, majority, majority == "neutral"),
            "laughing vs happy (hand labels), direct":
                acc(np.where(p_direct[:, 4] > p_direct[:, 3], "laughing", "happy"), hand_labels, lh),
            "laughing vs happy (hand labels), detect → crop":
                acc(np.where(~found, "", np.where(p_pipe[:, 4] > p_pipe[:, 3], "laughing", "happy")), hand_labels, lh),
            "laughing recall (hand-labelled laughing), direct": acc(pred_direct, hand_labels, hand_labels == "laughing"),
            "laughing recall, detect → crop": acc(pred_pipe, hand_labels, hand_labels == "laughing"),
            "FER2013 own labels, 7 classes, direct (FER+-usable test images; reported, not the target)":
                acc(fold(pred_direct), fer_labels, np.ones(len(fer_labels), bool)),
        }
        for measure, value in cells.items():
            rows.setdefault(measure, []).append(value)

    lines = [f"FER2013 test scored against FER+ votes (accuracy, n in brackets). {machine_line()}", "",
             *side_by_side(models, rows)]
    write_result(args.result, lines)


if __name__ == "__main__":
    main()
