"""Bulk prediction (issue 20): images/s with 1 and 2 processes, through `facexp predict --bulk`.

    .venv/bin/python benchmarks/bench_bulk.py [--crops 2000] [--photos 120]

Two workloads, each run as a user would run it (a fresh `python -m facexp predict ... --bulk OUT`,
or `torchrun --nproc_per_node 2 -m facexp predict ... --bulk OUT`), with the shipped model on ONNX
Runtime:

* FER2013 test crops (48 px faces, read in place from ../shared/data/fer2013/test, never copied),
  classified whole (``--no-detect``): the network and JPEG decoding do the work.
* 640x480 photos made here from scikit-image's astronaut (shifted and scaled, one face each), with
  face detection (MTCNN on ONNX Runtime): detection does most of the work.

For each run the table gives the wall time from launch to the merged predictions.jsonl (start-up
and model loading included), and the rate of each process's prediction loop (from its summary
line). Without ../shared the first workload is skipped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.data import astronaut

from _machine import machine_line, write_result

ROOT = Path(__file__).resolve().parents[1]
FER_TEST = ROOT.parent / "shared" / "data" / "fer2013" / "test"
RATE = re.compile(r"shard (\d+)/(\d+): (\d+) of (\d+) images.*?\(([\d.]+) images/s\)")


def make_photos(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` 640x480 photos, each the astronaut's head at a random place and scale."""
    rng = np.random.default_rng(seed)
    head = Image.fromarray(astronaut()).crop((110, 0, 350, 300))
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h = int(rng.integers(160, 300))
        face = head.resize((round(head.width * h / head.height), h), Image.BICUBIC)
        canvas = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(40, 200, 3)))
        canvas.paste(face, (int(rng.integers(0, 640 - face.width)), int(rng.integers(0, 480 - face.height))))
        canvas.save(folder / f"photo_{i:04d}.jpg", quality=90)
    return folder


def fer_manifest(path: Path, n: int) -> Path | None:
    """A manifest CSV of the first ``n`` FER2013 test crops (sorted, every class), or None without them."""
    if not FER_TEST.exists():
        return None
    images = sorted(FER_TEST.rglob("*.jpg"))
    step = max(1, len(images) // n)
    path.write_text("path\n" + "".join(f"{p}\n" for p in images[::step][:n]))
    return path


def run(inputs: list[str], out: Path, *, processes: int, workers: int, threads: int, extra: list[str]) -> dict:
    """One bulk job from launch to merge; returns the wall time and the per-process loop rates."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "FACEXP_THREADS": str(threads), "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
        env.pop(name, None)
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
                if processes > 1 else [sys.executable])
    cmd = [*launcher, "-m", "facexp", "predict", *inputs, "--bulk", str(out), "--workers", str(workers), *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    rates = {int(m[1]): (int(m[3]), float(m[5])) for m in RATE.finditer(res.stdout)}
    n = int(next(RATE.finditer(res.stdout))[4])
    merged = sum(1 for _ in (out / "predictions.jsonl").open())
    if merged != n:
        raise SystemExit(f"{out}: {merged} merged answers for {n} images")
    return {"wall": wall, "n": n, "rates": rates}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crops", type=int, default=2000, help="FER2013 test crops (of 7178)")
    ap.add_argument("--photos", type=int, default=120, help="generated 640x480 photos")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    rows, per_process = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = make_photos(tmp / "photos", args.photos)
        crops = fer_manifest(tmp / "fer.csv", args.crops)
        run([str(photos)], tmp / "warm", processes=1, workers=2, threads=cores, extra=[])  # graph caches
        workloads = []
        if crops is not None:
            workloads.append(("FER2013 crops, whole image (`--no-detect`)", [str(crops)], ["--no-detect"]))
        workloads.append(("640x480 photos, MTCNN + classifier", [str(photos)], []))
        configs = [(1, 1, 1), (1, 4, cores), (2, 2, max(1, cores // 2))]  # processes, workers, threads each
        for name, inputs, extra in workloads:
            for processes, workers, threads in configs:
                r = run(inputs, tmp / "out", processes=processes, workers=workers, threads=threads, extra=extra)
                loop = [rate for _, rate in r["rates"].values()]
                rows.append(f"| {name} | {processes} | {threads} | {workers} | {r['n']} | {r['wall']:.1f} | "
                            f"{r['n'] / r['wall']:.0f} | {' + '.join(f'{v:.0f}' for v in loop)} = {sum(loop):.0f} |")
                per_process[(name, processes, workers)] = loop
    lines = [machine_line(), "",
             f"Load average when the run started: {load:.2f} on {cores} cores (other jobs share the machine).", "",
             "| workload | processes | ONNX threads each | decode threads each | images | wall s (launch to merged file) "
             "| end-to-end images/s | prediction loop images/s (per process = total) |",
             "|---|---|---|---|---|---|---|---|", *rows, "",
             "Every run wrote one answer per image, merged into predictions.jsonl (checked). The loop rate is what a "
             "process does once started; the wall time adds Python and ONNX Runtime start-up (a few seconds per "
             "job, paid once however many images).", ""]
    lines += scaling_notes(per_process, cores, load)
    write_result("bulk", lines)


def scaling_notes(per_process: dict, cores: int, load: float) -> list[str]:
    """What the measured rates say about more processes, cores and machines."""
    notes = []
    for (name, processes, workers), loop in per_process.items():
        one, full = per_process.get((name, 1, 1)), per_process.get((name, 1, 4))
        if processes != 2 or not one or not full:
            continue
        notes.append(f"- {name}: one process, one ONNX thread, no decode pool: {one[0]:.0f} images/s; one process "
                     f"with {cores} ONNX threads and 4 decode threads: {full[0]:.0f}; two processes with one ONNX thread and "
                     f"{workers} decode threads each: {sum(loop):.0f} together ({sum(loop) / one[0]:.2f} x the one-thread process).")
    per_core = "; ".join(f"{loop[0]:.0f} images/s for {name.split(',')[0]}"
                         for (name, processes, workers), loop in per_process.items() if (processes, workers) == (1, 1))
    return [f"Reading the table. The machine had about {max(0.0, cores - load + 1):.0f} of its {cores} cores free "
            f"(load average {load:.1f}, a training job running beside), so here neither more threads nor more "
            "processes can add throughput, and extra threads cost: they compete with each other and with the other "
            "jobs.", "", *notes, "",
            "Sharding itself adds no work: processes never talk to each other while predicting (each reads the "
            "sorted file list, appends to its own part, and the last one merges). So the rate to scale from is one "
            f"process on one free core ({per_core}), and a job over M machines with C free cores each, one "
            "single-thread process per core (`torchrun --nproc_per_node C`; each process then gets one ONNX thread "
            "and one decode thread by default), should approach M x C times that rate, until storage or the merge "
            "(one pass over the parts) becomes the limit. facexp predicts on ONNX Runtime's CPU provider "
            "(onnxruntime-gpu is not part of facexp), so on GPU machines it is their CPU cores that score, with the "
            "GPUs free for training; with a CUDA provider one process per GPU would be bounded by decoding and face "
            "detection, about (the GPU's rate / the one-core rate above) cores per GPU."]


if __name__ == "__main__":
    main()
