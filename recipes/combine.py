"""Combine models of one recipe into one bundle: a weight average ("soup") or an ensemble.

    .venv/bin/python recipes/combine.py soup OUT A B ...      # one network, the uniform weight average
    .venv/bin/python recipes/combine.py ensemble OUT A B ...  # members' probabilities averaged, float16
    .venv/bin/python recipes/combine.py ensemble --dtype int8 OUT A B C D  # 4 members in the same space

Why a soup: `fer8.py`'s third stage (96 px, 16-epoch one-cycle run) overfits — its training
loss fell to 0.81 while validation loss rose — and grew overconfident (expected calibration error
0.065 on FER2013 test, 8 classes, vs 0.044 for the stage before; 0.032 for the average). The
average of its weights and the weights it started from scored like it on the validation split
(66.6% vs 66.3%) at no cost, and was the default model until the ensemble below beat it. Averaging
works for networks fine-tuned from one another, which sit in one basin of the loss (Wortsman et
al. 2022, "Model soups").

Why an ensemble: networks that err on different faces average to fewer errors, at the cost of one
forward pass per member; stored as float16, two members take the space of one float32 network,
and as int8 (`--dtype int8`), four. The default model is the ensemble of the three MixUp branches
and stage 3: 68.7% on the validation split (68.5% as stored in int8) against 67.9% for the
previous default (MixUp branch + stage 3) and 66.6% for the soup before it
(`benchmarks/bench_valid.py`, README: "Choosing the default model"). Averaging members trained
with MixUp and label smoothing makes probabilities underconfident, so an ensemble's card gets a
temperature fitted on the validation split (log loss), which changes no answer.

The card is the last model's (an ensemble: the first's), with the combined models' training
records under `training.ingredients` and validation metrics measured again on its validation split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from facexp.bundle import WEIGHT_DTYPES, ModelBundle, load_bundle, read_card, save_bundle, write_card
from facexp.data import Manifest, make_dataloaders, read_manifest
from facexp.ensemble import Ensemble, apply_temperature, average_weights, fit_temperature
from facexp.evaluate import evaluate

SAME = ("arch", "classes", "image")  # what the weights depend on; face settings come from the kept card


def check_same_recipe(bundles: list[ModelBundle]) -> None:
    for key in SAME:
        if any(b.card.get(key) != bundles[0].card.get(key) for b in bundles):
            names = ", ".join(str(b.path) for b in bundles)
            raise SystemExit(f"{key} differs between {names}; only models of one recipe can be combined")


def soup(bundles: list[ModelBundle]) -> ModelBundle:
    """The last bundle, its network now carrying the uniform average of every bundle's weights."""
    bundles[-1].model.load_state_dict(average_weights([b.model for b in bundles]))
    return bundles[-1]


def ensemble(bundles: list[ModelBundle]) -> ModelBundle:
    """The first bundle's card over an Ensemble of every bundle's network, in the order given."""
    first = bundles[0]
    return ModelBundle(first.path, Ensemble([b.model for b in bundles]).eval(), first.classes, first.image, first.card)


def valid_manifest(bundle: ModelBundle) -> Manifest:
    """The validation rows the bundle's own training held out (same manifest, fraction and seed)."""
    training, cfg = bundle.card["training"], bundle.card["training"]["config"]
    manifest = read_manifest(Path(training["data"]["root"]) / "train.csv")  # the file fer8.py trains on
    dls = make_dataloaders(manifest, bundle.image, valid_pct=cfg["valid_pct"], seed=cfg["seed"], bs=cfg["bs"],
                           augment=False)
    return Manifest(dls.valid_ds.items[["path", "label"]].reset_index(drop=True), manifest.root)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("how", choices=["soup", "ensemble"])
    ap.add_argument("out", type=Path)
    ap.add_argument("bundles", type=Path, nargs="+", help="models of one recipe (a soup: oldest first)")
    ap.add_argument("--dtype", choices=WEIGHT_DTYPES, default=None,
                    help="how weights are stored (default: float16 for an ensemble, float32 for a soup)")
    args = ap.parse_args()
    args.dtype = args.dtype or ("float16" if args.how == "ensemble" else "float32")
    bundles = [load_bundle(b) for b in args.bundles]
    check_same_recipe(bundles)
    ingredients = [{"path": str(b.path), **b.card["training"], "metrics": b.card.get("metrics")} for b in bundles]
    combined = soup(bundles) if args.how == "soup" else ensemble(bundles)
    card = {k: v for k, v in combined.card.items() if k not in ("format", "created", "versions")}
    how = "uniform average" if args.how == "soup" else "ensemble (mean probability)"
    card["training"] = {**card["training"], "weights": f"{how} of {', '.join(map(str, args.bundles))}",
                        "ingredients": ingredients}
    out = save_bundle(args.out, combined.model, card, dtype=args.dtype)
    stored = load_bundle(out)  # scored as written, float16/int8 rounding included
    report = evaluate(stored, valid_manifest(stored))
    metrics = {"valid_accuracy": report.accuracy, "valid_macro_f1": report.macro_f1,
               "valid_ece": report.calibration()["ece"]}
    card = read_card(out)
    if args.how == "ensemble":  # answers stay; the probabilities get as confident as the ensemble is right
        card["temperature"] = fit_temperature(report.probs, report.y_true)
        report.probs = apply_temperature(report.probs, card["temperature"])
        metrics = {**metrics, "valid_ece_before_temperature": metrics["valid_ece"],
                   "valid_ece": report.calibration()["ece"]}
    card["metrics"] = metrics
    write_card(out, card)
    print(f"{args.how} of {len(bundles)} models: {args.out} {card['metrics']}")


if __name__ == "__main__":
    main()
