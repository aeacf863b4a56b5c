"""facexp's default model beside six peer models, on the same face crops.

    bash ../shared/peers/setup.sh                     # once: the peers' venv and weights in /tmp
    .venv/bin/python benchmarks/bench_peers.py [--per-class 100] [--seed 0]

The peers (fer, fer-keras, face-api, human, PyEmotion, facex; see ../shared/peers/README.md) run in
their own venv through the shared harness (``peers.py``), which samples ``--per-class`` images per
class with ``--seed`` and scores them; facexp runs here on the very images the harness lists, and is
scored by the harness's own functions (``evaluate``): 3-class (happy, sad, surprise: argmax among
those three) and 7-class (FER's classes). facexp's laughing probability is added to happy, as the
harness counts laughing faces as happy. ms/img is the mean time of one crop at a time from a
decoded PIL image, preprocessing included, over ``--timing-passes`` passes (the harness's definition;
facexp on ONNX Runtime, the peers on PyTorch or LiteRT ports, 2 threads each).

Two labellings of the same FER2013 test crops:
* FER2013's own labels (the harness's README table), which call many calm faces sad, angry or fear;
  some peers were trained on FER2013 and may have seen these images' kind of labels;
* FER+ majority of 10 votes (``recipes/ferplus.py``; laughing from the hand labels, counted as happy),
  what facexp's default was trained towards; images whose majority is contempt, unknown or not a
  face, or a tie, are left out. Laughing faces are a folder of their own (the harness samples it like
  a class and counts it as happy), so the 3-class task there has 200 happy faces, half of them laughing.

Every model gets the crop as the face box (no detector), which is how each package classifies
after its own detector has found a face.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _machine import machine_line, write_result
from facexp.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEERS = SHARED / "peers"
PEERS_PYTHON = Path(os.environ.get("PEERS_VENV", "/tmp/peers-venv")) / "bin" / "python"
WORK = ROOT / "runs" / "bench_peers"
sys.path.insert(0, str(PEERS))
sys.path.insert(0, str(ROOT / "recipes"))
from ferplus import ferplus_targets  # noqa: E402
from peers import SEVEN, THREE, evaluate, fmt, list_dataset, load_image  # noqa: E402


def ferplus_folder(fer: Path, out: Path) -> Path:
    """FER2013 test crops linked into folders named by their FER+ majority (7 FER classes + laughing)."""
    table = ferplus_targets(fer)
    table = table[(table["split"] == "test") & table["majority"].isin([*SEVEN, "laughing"])]
    for path, label in zip(table["path"], table["majority"]):
        link = out / label / Path(path).name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(fer / path)
    return out


def run_peers(data: Path, out: Path, args) -> dict:
    if not out.exists():
        subprocess.run([str(PEERS_PYTHON), str(PEERS / "peers.py"), str(data), "--out", str(out),
                        "--per-class", str(args.per_class), "--seed", str(args.seed),
                        "--timing-passes", str(args.timing_passes)], check=True)
    return json.loads(out.read_text())


def run_facexp(data: Path, args) -> dict:
    """The harness's record for facexp's default model on the harness's sample of ``data``."""
    items, _ = list_dataset(str(data), args.per_class, args.seed)
    images, truths = [load_image(p) for p, _ in items], [c for _, c in items]
    predictor = Predictor(detect=False)
    for image in images[:3]:
        predictor.classify([image])
    probs, pass_ms = [], []
    for k in range(args.timing_passes):
        times = []
        for image in images:
            t0 = time.perf_counter()
            p = predictor.classify([image])[0]
            times.append(time.perf_counter() - t0)
            if k == 0:
                probs.append(p)
        pass_ms.append(1000 * float(np.mean(times)))
    probs = np.asarray(probs, np.float64)
    col = {c: i for i, c in enumerate(predictor.classes)}
    seven = np.stack([probs[:, col[c]] + (probs[:, col["laughing"]] if c == "happy" else 0) for c in SEVEN], axis=1)
    return {"ms_per_image": float(np.mean(pass_ms)), "ms_per_image_best_pass": min(pass_ms), **evaluate(seven, SEVEN, truths)}


def rows(results: dict) -> list[str]:
    out = []
    for name, r in results.items():
        t, s = r.get("three_class", {}), r.get("seven_class", {})
        pc, pc7 = t.get("per_class", {}), s.get("per_class", {})
        out.append("| " + " | ".join([
            f"**{name}**" if name.startswith("facexp") else name, str(t.get("n", 0)), fmt(t.get("accuracy")),
            *(fmt(pc.get(c, {}).get("recall")) for c in THREE), fmt(t.get("macro_f1")), str(s.get("n", 0)),
            fmt(s.get("accuracy")), fmt(s.get("macro_f1")), fmt(pc7.get("neutral", {}).get("recall")),
            fmt(r["ms_per_image"], False), fmt(r["ms_per_image_best_pass"], False)]) + " |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fer", type=Path, default=SHARED / "data" / "fer2013")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-passes", type=int, default=3)
    args = ap.parse_args()
    if not PEERS_PYTHON.exists():
        sys.exit(f"{PEERS_PYTHON} not found: run `bash {PEERS / 'setup.sh'}` first")
    WORK.mkdir(parents=True, exist_ok=True)
    sets = {"FER2013's own labels": args.fer / "test",
            "FER+ majority of 10 votes": ferplus_folder(args.fer, WORK / "ferplus_test")}
    lines = [f"The same FER2013 test crops for every model: at most {args.per_class} per class, sampled by the peers' "
             f"harness (seed {args.seed}); 3-class = happy (laughing counted as happy) / sad / surprise, argmax among "
             "those three; 7-class = FER's classes. facexp is the shipped default (ONNX Runtime, int8 on CPUs with int8 dot products), given each crop "
             "as the face (`Predictor(detect=False)`), as the peers are. ms/img: one crop at a time from a decoded "
             f"image, mean over {args.timing_passes} passes and best pass, 2 threads. " + machine_line()]
    for title, data in sets.items():
        tag = "fer2013" if data == args.fer / "test" else "ferplus"
        peers = run_peers(data, WORK / f"peers_{tag}.json", args)
        results = {"facexp (default)": run_facexp(data, args)}
        results.update({n: r for n, r in peers["peers"].items() if "error" not in r})
        note = (" Laughing faces (hand labels) are sampled as a class of their own and counted as happy: the 3-class "
                "task has 100 smiling and 100 laughing happy faces." if tag == "ferplus" else "")
        lines += ["", f"**{title}**{note}", "",
                  "| model | 3-class n | 3-class acc | recall happy | recall sad | recall surprise | 3-class macro-F1 | "
                  "7-class n | 7-class acc | 7-class macro-F1 | neutral recall | ms/img mean | ms/img best pass |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows(results)]
    write_result("peers", lines)


if __name__ == "__main__":
    main()
