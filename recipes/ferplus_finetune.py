"""Fine-tune one network of the default model, body included, on FER+ votes and detector-framed crops.

    .venv/bin/python recipes/ferplus_finetune.py --start runs/ferplus/model_head --member 0 \
        --features runs/ferplus --out runs/ferplus/ft0 [--epochs 4] [--lr 2e-4]

``ferplus_head.py`` refits only the heads; the bodies still carry features learned from
FER2013's own labels. This continues one network (``--member`` of ``--start``) end to end with
soft targets (FER+'s 10-vote distributions, ``ferplus.py``). Each epoch shows every training face
once, as FER2013 stores it or, where the detector found it, as the photo pipeline crops it
(``ferplus_features.py``'s ``crops.npz``), chosen at random: the network learns both framings.
Augmentation: mirror, rotation ±10°, scale 0.9-1.1, shift ±6%, brightness/contrast ±20%.

Images are prepared once with facexp's own ``prepare`` (PIL bilinear to 96 px, gray), exactly
as prediction prepares them, and kept as uint8. A checkpoint is written after every epoch; a
rerun with the same ``--out`` resumes from it (a session may end mid-run). The bundle keeps the
epoch with the best validation accuracy (FER+ majority, both views) and records every epoch's
seconds, so the model card can state the full cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from facexp.bundle import load_bundle, save_bundle
from facexp.ensemble import networks
from facexp.imageio import open_image
from facexp.preprocess import prepare
from ferplus import CLASSES_8, majority_accuracy
from ferplus_head import fer8_valid_paths


def prepared(images: list[Image.Image], settings) -> np.ndarray:
    """(N, size, size) uint8 gray, as ``facexp.preprocess.prepare`` makes them."""
    return np.stack([np.asarray(prepare(img, settings))[..., 0] for img in images])


def augment(x: torch.Tensor, gen: torch.Generator, erase: float = 0.0) -> torch.Tensor:
    """Random mirror, rotation, scale, shift and brightness/contrast of a float batch (N, 1, H, W) in [0, 1];
    with probability ``erase`` a face also loses a random rectangle (5-20% of it) to its mean grey, as a
    hand, a microphone or the frame's edge hides part of a face in a photo."""
    n = len(x)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.12  # grid units span 2: ±6% of the side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    bright = (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.2
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.2
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    if erase > 0:
        h, w = x.shape[2:]
        area = 0.05 + torch.rand(n, generator=gen) * 0.15
        aspect = torch.exp((torch.rand(n, generator=gen) * 2 - 1) * math.log(2))
        eh, ew = (area * aspect).sqrt() * h, (area / aspect).sqrt() * w
        top, left = torch.rand(n, generator=gen) * (h - eh), torch.rand(n, generator=gen) * (w - ew)
        rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
        box = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
               & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))
        box &= (torch.rand(n, generator=gen) < erase).view(n, 1, 1)
        x = torch.where(box.unsqueeze(1), mean.clamp(0, 1), x)
    return x


def to_input(gray: np.ndarray, settings, gen: torch.Generator | None = None, erase: float = 0.0) -> torch.Tensor:
    """uint8 gray batch → the network's normalised 3-channel input (augmented when ``gen`` is given)."""
    x = torch.from_numpy(gray).float().unsqueeze(1) / 255.0
    if gen is not None:
        x = augment(x, gen, erase)
    mean = torch.tensor(settings.mean).view(1, 3, 1, 1)
    std = torch.tensor(settings.std).view(1, 3, 1, 1)
    return ((x.expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict(net: torch.nn.Module, gray: np.ndarray, settings, bs: int = 256) -> np.ndarray:
    net.eval()
    return torch.cat([net(to_input(gray[i:i + bs], settings)).softmax(1) for i in range(0, len(gray), bs)]).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--start", type=Path, default=Path("runs/ferplus/model_head"))
    ap.add_argument("--member", type=int, default=0)
    ap.add_argument("--features", type=Path, default=Path("runs/ferplus"))
    ap.add_argument("--out", type=Path, default=Path("runs/ferplus/ft0"))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--erase", type=float, default=0.0, help="probability of hiding a random rectangle of a face")
    ap.add_argument("--size", type=int, default=None, help="input side in pixels (default: the start model's)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(args.start)
    settings = bundle.image if args.size is None else dataclasses.replace(bundle.image, size=args.size)
    net = networks(bundle.model)[args.member].to(memory_format=torch.channels_last)

    table = pd.read_csv(args.features / "targets.csv", keep_default_na=False)
    stored = np.load(args.features / "crops.npz")
    found = stored["scores"] >= 0.9
    valid_paths = fer8_valid_paths(args.fer)
    role = np.where(table["split"] == "test", "test", np.where(table["path"].isin(valid_paths), "valid", "train"))
    cache = args.out.parent / f"prepared_{settings.size}.npz"
    if not cache.exists():
        direct = prepared([open_image(args.fer / p) for p in table["path"]], settings)
        detector = prepared([Image.fromarray(c) for c in stored["crops"]], settings)
        np.savez(cache, direct=direct, detector=detector)
    images = np.load(cache)
    direct, detector = images["direct"], images["detector"]
    y = torch.from_numpy(table[CLASSES_8].to_numpy(np.float32))
    majority = table["majority"].to_numpy()
    train_idx = np.flatnonzero(role == "train")
    valid_idx = np.flatnonzero(role == "valid")
    valid_det = valid_idx[found[valid_idx]]

    steps_per_epoch = math.ceil(len(train_idx) / args.bs)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    ckpt_path, history, best = args.out / "checkpoint.pt", [], -1.0
    start_epoch = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        net.load_state_dict(ckpt["net"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        start_epoch, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]
        print(f"resuming after epoch {ckpt['epoch']} ({sum(h['seconds'] for h in history):.0f}s so far)", flush=True)

    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        gen = torch.Generator().manual_seed(1000 + epoch)
        order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
        use_det = found[order] & (torch.rand(len(order), generator=gen).numpy() < 0.5)
        net.train()
        total = 0.0
        for step in range(steps_per_epoch):
            sl = slice(step * args.bs, (step + 1) * args.bs)
            idx, det = order[sl], use_det[sl]
            gray = np.where(det[:, None, None], detector[idx], direct[idx])
            loss = -(y[idx] * net(to_input(gray, settings, gen, args.erase)).log_softmax(1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{steps_per_epoch} loss {total / (step + 1):.4f} "
                      f"{time.time() - t0:.0f}s", flush=True)
        scores = {"valid_direct": majority_accuracy(predict(net, direct[valid_idx], settings), majority[valid_idx]),
                  "valid_detector": majority_accuracy(predict(net, detector[valid_det], settings), majority[valid_det])}
        history.append({"epoch": epoch, "train_loss": total / steps_per_epoch, **scores,
                        "seconds": round(time.time() - t0, 1)})
        print(history[-1], flush=True)
        score = float(np.mean(list(scores.values())))
        if score > best:
            best = score
            torch.save(net.state_dict(), args.out / "best.pt")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
                    "history": history, "best": best}, ckpt_path)

    net.load_state_dict(torch.load(args.out / "best.pt"))
    card = {k: v for k, v in bundle.card.items() if k not in ("format", "created", "versions", "members",
                                                                   "temperature", "int8")}
    card["image"] = {**card["image"], "size": settings.size}
    card["training"] = {**card["training"], "finetune": {
        "from": f"network {args.member} of {args.start}", "labels": "FER+ vote distributions",
        "views": "FER2013 crop or detector crop, at random per face and epoch", "epochs": args.epochs,
        "lr": args.lr, "bs": args.bs, "erase": args.erase, "seconds": round(sum(h["seconds"] for h in history)), "history": history}}
    save_bundle(args.out / "model", net.eval().to(memory_format=torch.contiguous_format), card)
    (args.out / "history.json").write_text(json.dumps(history, indent=2))
    print(f"wrote {args.out / 'model'}; best validation {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
