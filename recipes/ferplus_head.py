"""Refit the default model's heads on FER+ votes, from cached body features (ferplus_features.py).

    .venv/bin/python recipes/ferplus_head.py --features runs/ferplus --model src/facexp/default_model \
        --out runs/ferplus/model [--what head|last] [--epochs 12] [--lr 1e-3]

Why only the heads: the four networks' bodies were trained on FER2013's own labels, but their
features already separate calm from sad faces; what calls a calm face sad is the head, which
learned FER2013's labels. Refitting it on FER+'s 10-vote distributions (soft targets, see
ferplus.py) costs seconds per network once the features are cached, where retraining the bodies
costs hours on 2 cores. ``--what last`` refits only the final linear layer, ``head`` the whole
head (pooled features → BN → 512 → BN → classes), each starting from the shipped weights.

Training rows are the crops the networks were trained on (minus ``fer8.py``'s validation split)
seen two ways: as FER2013 stores them, and as the photo pipeline crops them after finding the
face in a larger picture (``detector`` view), so the head learns the detector's framing too.
The epoch kept is the one with the best validation accuracy (FER+ majority, both views); the
ensemble's temperature is fitted on the validation split. Test numbers are printed for the
record, never used to choose.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from facexp.bundle import load_bundle, save_bundle
from facexp.ensemble import Ensemble, apply_temperature, fit_temperature, networks
from facexp.faces import FaceSettings
from fer8 import fer_manifest
from ferplus import CLASSES_8, majority_accuracy

VIEWS = ("direct", "detector")


def fer8_valid_paths(fer: Path) -> set[str]:
    """The rows ``fer8.py`` held out for validation: fastai's RandomSplitter(0.1, seed 42) on its manifest."""
    from fastai.data.transforms import RandomSplitter

    rows = fer_manifest(fer, "train", laughing=True)
    _, valid = RandomSplitter(valid_pct=0.1, seed=42)(rows)
    return set(rows["path"].iloc[list(valid)])


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()


def head_probs(head: nn.Module, x: np.ndarray) -> np.ndarray:
    head.eval()
    with torch.inference_mode():
        return torch.cat([head(torch.from_numpy(x[i:i + 4096]).float()).softmax(1)
                          for i in range(0, len(x), 4096)]).numpy()


def fit_head(head: nn.Module, what: str, x: np.ndarray, y: np.ndarray, valid: dict, *, epochs: int, lr: float,
             bs: int = 256, seed: int = 0) -> tuple[nn.Module, list[dict]]:
    """Train ``head`` (a copy) on features ``x`` and target distributions ``y``; keep the best epoch on ``valid``."""
    torch.manual_seed(seed)
    head = copy.deepcopy(head)
    trainable = list(head[-1].parameters()) if what == "last" else list(head.parameters())
    for p in head.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.01)
    steps = epochs * ((len(x) + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).float()
    best, best_score, history = copy.deepcopy(head), -1.0, []
    for epoch in range(epochs):
        head.train(what != "last")  # refitting the last layer only: the frozen layers keep their statistics
        order = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            loss = soft_cross_entropy(head(xt[idx].float()), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        scores = {view: majority_accuracy(head_probs(head, vx), vm) for view, (vx, vm) in valid.items()}
        history.append({"epoch": epoch, "train_loss": total / len(xt), **{f"valid_{k}": v for k, v in scores.items()}})
        print("   ", history[-1], flush=True)
        if np.mean(list(scores.values())) > best_score:
            best, best_score = copy.deepcopy(head), float(np.mean(list(scores.values())))
    return best.eval(), history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--features", type=Path, default=Path("runs/ferplus"))
    ap.add_argument("--model", type=Path, default=Path("src/facexp/default_model"))
    ap.add_argument("--out", type=Path, default=None, help="write the refitted model here (default: only report)")
    ap.add_argument("--what", choices=["head", "last"], default="head")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    t0 = time.time()
    table = pd.read_csv(args.features / "targets.csv", keep_default_na=False)
    found = np.load(args.features / "crops.npz")["scores"] >= 0.9  # the card's min_score
    bundle = load_bundle(args.model)
    valid_paths = fer8_valid_paths(args.fer)
    role = np.where(table["split"] == "test", "test", np.where(table["path"].isin(valid_paths), "valid", "train"))
    majority, y = table["majority"].to_numpy(), table[CLASSES_8].to_numpy(np.float32)
    print(f"rows: {pd.Series(role).value_counts().to_dict()}; detector found {found.mean():.3f}", flush=True)

    nets = networks(bundle.model)
    probs = {"before": {}, "after": {}}  # (role, view) -> list of member probabilities
    records = []
    for k, net in enumerate(nets):
        feats = {view: np.load(args.features / f"{view}_m{k}.npy") for view in VIEWS}
        head = net[1][2:]  # after pooling and flatten: what the cached features feed
        train_x = np.concatenate([feats["direct"][role == "train"], feats["detector"][(role == "train") & found]])
        train_y = np.concatenate([y[role == "train"], y[(role == "train") & found]])
        valid = {view: (feats[view][(role == "valid") & (found if view == "detector" else True)],
                        majority[(role == "valid") & (found if view == "detector" else True)]) for view in VIEWS}
        print(f"member {k}: {len(train_x)} training rows", flush=True)
        new_head, history = fit_head(head, args.what, train_x, train_y, valid, epochs=args.epochs, lr=args.lr, seed=k)
        records.append(history)
        for name, h in (("before", head), ("after", new_head)):
            for r in ("valid", "test"):
                for view in VIEWS:
                    probs[name].setdefault((r, view), []).append(head_probs(h, feats[view][role == r]))
        net[1][2:].load_state_dict(new_head.state_dict())

    temperature = 1.0
    lines = ["| model | split | view | FER+ 8-class | FER+ 7-class (laughing → happy) | found |", "|---|---|---|---|---|---|"]
    for name in ("before", "after"):
        valid_mean = np.mean(probs[name][("valid", "direct")], axis=0)
        keep = majority[role == "valid"] != ""
        labels = np.array([CLASSES_8.index(m) for m in majority[role == "valid"][keep]])
        t = fit_temperature(valid_mean[keep], labels)
        if name == "after":
            temperature = t
        for r in ("valid", "test"):
            for view in VIEWS:
                mask = found[role == r] if view == "detector" else np.ones((role == r).sum(), bool)
                p = apply_temperature(np.mean(probs[name][(r, view)], axis=0), t)[mask]
                m = majority[role == r][mask]
                lines.append(f"| {name} | {r} | {view} | {majority_accuracy(p, m):.4f} "
                             f"| {majority_accuracy(p, m, fold=True):.4f} | {mask.mean():.3f} |")
    print("\n".join(lines), flush=True)
    if args.out is None:
        return
    model = Ensemble(nets, temperature) if len(nets) > 1 else nets[0]
    card = {k: v for k, v in bundle.card.items() if k not in ("format", "created", "versions")}
    card["faces"] = FaceSettings.from_dict(bundle.faces).to_dict()  # every field, today's defaults filled in
    card["training"] = {**card["training"], "head_refit": {
        "what": args.what, "labels": "FER+ 10-vote distributions (recipes/ferplus.py), soft targets",
        "views": list(VIEWS), "epochs": args.epochs, "lr": args.lr, "seconds": round(time.time() - t0),
        "history": records}}
    save_bundle(args.out, model, card, dtype=bundle.card.get("weights_dtype", "float32"))
    print(f"wrote {args.out} (temperature {temperature}) in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
