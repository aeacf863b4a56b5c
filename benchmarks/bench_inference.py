"""Inference throughput of a model bundle: PyTorch vs ONNX Runtime, at 96 px and 224 px.

    .venv/bin/python benchmarks/bench_inference.py [--model DIR] [--sizes 96 224]

Prints a markdown table (and writes benchmarks/results/inference.md) with images/s at batch 64
and single-image latency, both engines measured in the same run, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from _machine import machine_line, write_result
from facexp.bundle import load_bundle, read_card
from facexp.predict import default_model_dir
from facexp.train import export_onnx


def _timeit(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(model_dir: Path, size: int, batch: int, repeats: int) -> dict:
    import onnxruntime as ort

    model = load_bundle(model_dir).model
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = export_onnx(model_dir, Path(tmp) / "m.onnx", size=size)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        xb = torch.randn(batch, 3, size, size)
        x1 = torch.randn(1, 3, size, size)
        with torch.inference_mode():
            t_pt = _timeit(lambda: model(xb), repeats)
            l_pt = _timeit(lambda: model(x1), repeats * 5)
        t_ox = _timeit(lambda: session.run(None, {"image": xb.numpy()}), repeats)
        l_ox = _timeit(lambda: session.run(None, {"image": x1.numpy()}), repeats * 5)
    return {"size": size, "pt_ips": batch / t_pt, "ox_ips": batch / t_ox, "pt_ms": l_pt * 1e3, "ox_ms": l_ox * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 224])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    model_dir = args.model or default_model_dir()
    card = read_card(model_dir)  # the network itself is loaded per size in bench()
    arch = f"{card['members']} x {card['arch']} (ensemble)" if card.get("members") else card["arch"]
    lines = [f"Inference, {arch} from `{model_dir.name}`, batch {args.batch} throughput and batch-1 latency, "
             f"{torch.get_num_threads()} threads. {machine_line()}", "",
             "| input | PyTorch img/s | ONNX Runtime img/s | ratio | PyTorch bs1 ms | ONNX bs1 ms |",
             "|---|---|---|---|---|---|"]
    for size in args.sizes:
        r = bench(model_dir, size, args.batch, args.repeats)
        lines.append(f"| {size}px | {r['pt_ips']:.0f} | {r['ox_ips']:.0f} | {r['ox_ips'] / r['pt_ips']:.2f}x | "
                     f"{r['pt_ms']:.1f} | {r['ox_ms']:.1f} |")
    write_result("inference", lines)


if __name__ == "__main__":
    main()
