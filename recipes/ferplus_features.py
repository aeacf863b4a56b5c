"""Cache what the default model's networks see of every FER2013 image, two ways, for head refits.

    .venv/bin/python recipes/ferplus_features.py --model src/facexp/default_model --out runs/ferplus

1. ``crops``: every usable FER+ image (see ferplus.py) placed in a larger picture (``as_photo``)
   and put through the default detect → crop path with the model card's face settings, so the
   crop is framed the way a face in a user's photo is framed at prediction time. The largest face
   is kept with its detector score (-1: none found). Saved as ``crops.npz`` (48x48 gray uint8).
2. ``features``: each member network's pooled body features (the head's input, 2560 values) for
   the FER crop as stored ("direct") and for the detector's crop ("detector"), float16 ``.npy``,
   computed with ONNX Runtime.

Both steps skip what is already on disk, so a run stopped by the session limit resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facexp.bundle import load_bundle
from facexp.ensemble import networks
from facexp.faces import FaceSettings
from facexp.imageio import open_image
from facexp.preprocess import to_tensor
from ferplus import ferplus_targets, pipeline_crops


def detector_crops(fer: Path, paths: list[str], settings: FaceSettings, out: Path, chunk: int = 2048) -> None:
    """Largest face of each image as the photo pipeline crops it, with its detector score.

    Written in chunks (``out``.partN.npz) joined at the end, so a stopped run loses one chunk at most.
    """
    if out.exists():
        return
    t0, parts = time.time(), []
    for n, start in enumerate(range(0, len(paths), chunk)):
        part = out.with_suffix(f".part{n}.npz")
        parts.append(part)
        if part.exists():
            continue
        crops = np.zeros((len(paths[start:start + chunk]), settings.size, settings.size), np.uint8)
        scores = np.full(len(crops), -1.0, np.float32)
        for i in range(0, len(crops), 32):
            faces = [open_image(fer / p) for p in paths[start + i:start + min(i + 32, len(crops))]]
            for j, (crop, score) in enumerate(pipeline_crops(faces, settings, min_score=0.0)):  # filter later
                if crop is not None:
                    crops[i + j], scores[i + j] = np.asarray(crop.convert("L")), score
        np.savez(part, crops=crops, scores=scores)
        print(f"crops {start + len(crops)}/{len(paths)} in {time.time() - t0:.0f}s", flush=True)
    loaded = [np.load(p) for p in parts]
    np.savez(out, crops=np.concatenate([p["crops"] for p in loaded]), scores=np.concatenate([p["scores"] for p in loaded]))
    for p in parts:
        p.unlink()


def pooled_features(net: torch.nn.Module, images: list[Image.Image], settings, threads: int,
                    bs: int = 256) -> np.ndarray:
    """The head's input (concat-pooled body features) for each image, computed by ONNX Runtime.

    ONNX Runtime runs these networks 2.7x faster than PyTorch on this CPU (README: "Exported
    model"); the export is checked against PyTorch on the first batch.
    """
    import tempfile

    import onnxruntime as ort

    features = torch.nn.Sequential(net[0], net[1][:2]).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.onnx"
        torch.onnx.export(features, (torch.randn(2, 3, settings.size, settings.size),), str(path),
                          input_names=["image"], output_names=["features"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "batch"}, "features": {0: "batch"}})
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = []
    for start in range(0, len(images), bs):
        x = to_tensor(images[start:start + bs], settings)
        got = session.run(["features"], {"image": x.numpy()})[0]
        if start == 0:
            with torch.inference_mode():
                diff = float(np.abs(features(x[:8]).numpy() - got[:8]).max())
            if diff > 1e-3:
                raise SystemExit(f"ONNX features differ from PyTorch by {diff:.2e}")
        out.append(got.astype(np.float16))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--model", type=Path, default=Path("src/facexp/default_model"))
    ap.add_argument("--out", type=Path, default=Path("runs/ferplus"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadier on a shared machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    table = ferplus_targets(args.fer)
    table.to_csv(args.out / "targets.csv", index=False)
    bundle = load_bundle(args.model)
    detector_crops(args.fer, list(table["path"]), FaceSettings.from_dict(bundle.faces), args.out / "crops.npz")
    stored = np.load(args.out / "crops.npz")["crops"]
    views = {"direct": lambda: [open_image(args.fer / p) for p in table["path"]],
             "detector": lambda: [Image.fromarray(c) for c in stored]}
    for view, images in views.items():
        imgs = None
        for k, net in enumerate(networks(bundle.model)):
            target = args.out / f"{view}_m{k}.npy"
            if target.exists():
                continue
            imgs = imgs or images()
            t0 = time.time()
            np.save(target, pooled_features(net, imgs, bundle.image, args.threads))
            print(f"{target.name}: {len(imgs)} images in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
