"""Choose and write the default model from FER+ runs, on the validation split against FER+ majorities.

    .venv/bin/python recipes/ferplus_ensemble.py --model heads=runs/ferplus/model_head \
        --model ft0=runs/ferplus/ft0/model ... heads ft0 ft0+ft1+ft2+ft3 [--save ft0+ft1+ft2+ft3 --out DIR]

Each candidate is a model name or several joined by ``+`` (their class probabilities averaged, as
``facexp.ensemble.Ensemble`` does); ``NAME:K`` is the K-th network of an ensemble NAME. Every model is scored on ``fer8.py``'s validation rows, as
FER2013 stores them and as the photo pipeline crops them (``ferplus_features.py``). ``--save``
writes the chosen candidate's single networks as one int8 ensemble whose temperature is fitted on
the validation split; the test set is never looked at here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from facexp.bundle import load_bundle, save_bundle
from facexp.ensemble import Ensemble, apply_temperature, fit_temperature, networks
from facexp.imageio import open_image
from facexp.predict import Predictor
from ferplus import CLASSES_8, majority_accuracy
from ferplus_head import fer8_valid_paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--features", type=Path, default=Path("runs/ferplus"))
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR")
    ap.add_argument("candidates", nargs="+")
    ap.add_argument("--save", default=None, help="the candidate to write (its models' networks, in order)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    dirs = dict(m.split("=", 1) for m in args.model)
    table = pd.read_csv(args.features / "targets.csv", keep_default_na=False)
    stored = np.load(args.features / "crops.npz")
    valid = np.flatnonzero(table["path"].isin(fer8_valid_paths(args.fer)).to_numpy() & (table["split"] == "train"))
    found = stored["scores"][valid] >= 0.9
    majority = table["majority"].to_numpy()[valid]
    views = {"direct": [open_image(args.fer / p) for p in table["path"].iloc[valid]],
             "detector": [Image.fromarray(c) for c, f in zip(stored["crops"][valid], found) if f]}
    truth = {"direct": majority, "detector": majority[found]}
    bundles = {name: load_bundle(d) for name, d in dirs.items()}
    probs = {}
    for name, bundle in bundles.items():
        for member, net in enumerate(networks(bundle.model)):
            single = load_bundle(dirs[name])  # a fresh copy whose model is just this network
            single.model = net
            predictor = Predictor(single, detect=False)
            probs[(name, member)] = {v: predictor.classify(images) for v, images in views.items()}
    def keys(candidate: str) -> list[tuple[str, int]]:
        parts = [part.split(":") for part in candidate.split("+")]
        return [k for part in parts for k in probs if k[0] == part[0] and (len(part) == 1 or k[1] == int(part[1]))]

    print("| candidate | valid direct | valid detector |\n|---|---|---|")
    for candidate in args.candidates:
        means = {v: np.mean([probs[k][v] for k in keys(candidate)], axis=0) for v in views}
        cells = [f"{majority_accuracy(means[v], truth[v]):.4f}" for v in views]
        print(f"| `{candidate}` | " + " | ".join(cells) + " |", flush=True)
    if not args.save:
        return
    chosen = keys(args.save)
    nets = [networks(bundles[name].model)[member] for name, member in chosen]
    mean = np.mean([probs[k]["direct"] for k in chosen], axis=0)
    keep = majority != ""
    temperature = fit_temperature(mean[keep], np.array([CLASSES_8.index(m) for m in majority[keep]]))
    first = bundles[chosen[0][0]]
    card = {k: v for k, v in first.card.items() if k not in ("format", "created", "versions", "members", "temperature")}
    shared = {k: v for k, v in card["training"].items() if k != "finetune"}  # the recipe before FER+, once
    if len(chosen) == 1:  # one network: its own lineage (config, previous) is the record, not the old ensemble's
        shared.pop("ingredients", None)
    shared["weights"] = f"{args.save} (recipes/ferplus_ensemble.py) from {', '.join(sorted(set(dirs.values())))}"
    card["training"] = {**shared, "members_finetune": [bundles[n].card["training"].get("finetune") for n, _ in chosen]}
    card["metrics"] = {"valid_ferplus_accuracy": majority_accuracy(apply_temperature(mean, temperature), majority)}
    model = Ensemble(nets, temperature) if len(nets) > 1 else nets[0]
    save_bundle(args.out, model, card, dtype="int8")
    print(f"wrote {args.out}: {len(nets)} network(s), temperature {temperature}", flush=True)


if __name__ == "__main__":
    main()
