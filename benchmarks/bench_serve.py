"""Server throughput and latency on loopback: a 1-face 1280px photo at concurrency 1, 4 and 16.

    .venv/bin/python benchmarks/bench_serve.py [--model DIR] [--requests 120] [--mem-requests 2000] [--baseline COMMIT|none]

Starts `facexp serve` (one worker, --max-concurrency 16 so that no request is refused by design)
on a free 127.0.0.1 port in a subprocess, drives it from client threads (one keep-alive
connection each) with a fixed number of requests per level, and reads the server's RSS from
/proc before and after --mem-requests more. Uses the shipped model, or trains a tiny one when
this install has none. The photo is ../shared/data/photos/surprised.jpeg (1280x853, one face)
when present, else scikit-image's astronaut scaled to 1280x1280.
The server of issue 15's own default (``--baseline``, ``_baseline.py``) runs beside it, and at each
level the two take turns, so the ratio of their throughputs is measured on one machine in one run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

import _baseline
import _server
from _machine import machine_line, write_result

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "surprised.jpeg"


def photo_bytes() -> tuple[bytes, str]:
    """The benchmark photo as JPEG bytes, and how to describe it."""
    if PHOTO.exists():
        img = Image.open(PHOTO).convert("RGB")
        name = PHOTO.name
    else:
        from skimage.data import astronaut

        img = Image.fromarray(astronaut())
        name = "scikit-image astronaut"
    if max(img.size) != 1280:
        scale = 1280 / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue(), f"{name}, {img.width}x{img.height}, {len(buf.getvalue()) // 1024} kB"


def tiny_face_model(work: Path) -> Path:
    """A tiny_cnn trained for seconds on flat colours and marked as a face model (no default model here)."""
    from facexp.bundle import read_card, write_card
    from facexp.train import TrainConfig, train

    rng = np.random.default_rng(0)
    for label, base in (("dark", 40), ("light", 200)):
        (work / "data" / label).mkdir(parents=True)
        for i in range(16):
            pixels = np.clip(base + rng.normal(0, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(work / "data" / label / f"{i}.png")
    model = train(work / "data", work / "run", TrainConfig(arch="tiny_cnn", pretrained=False, epochs=1, size=32,
                                                           bs=16, lr=1e-2)).bundle_dir
    write_card(model, {**read_card(model), "faces": {}})
    return model


def run_level(url: str, data: bytes, concurrency: int, n: int) -> dict:
    """``n`` requests from ``concurrency`` threads; latency is per request, throughput over the wall time."""
    local = threading.local()

    def one(_):
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=120)
        t0 = time.perf_counter()
        r = local.client.post("/v1/predict", files={"file": ("photo.jpg", data, "image/jpeg")})
        faces = r.json()["count"] if r.status_code == 200 else -1
        return time.perf_counter() - t0, r.status_code, faces

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results]) * 1e3
    return {"rps": n / wall, "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "errors": sum(r[1] != 200 for r in results), "faces": Counter(r[2] for r in results).most_common(1)[0][0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--requests", type=int, default=120, help="requests per concurrency level (48 swung by a sixth from run to run)")
    ap.add_argument("--mem-requests", type=int, default=2000)
    ap.add_argument("--baseline", default=_baseline.COMMIT,
                    help="commit whose server and default model take turns with this one ('none': skip)")
    args = ap.parse_args()

    from facexp.errors import ModelError
    from facexp.predict import default_model_dir

    work = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    model = args.model
    model_name = model or "shipped default model"
    if model is None:
        try:
            default_model_dir()
        except ModelError:
            model = str(tiny_face_model(work))
            model_name = "tiny_cnn trained for this run (no default model installed)"
    facexp = str(Path(sys.executable).with_name("facexp"))
    servers = {"now": _server.start([facexp, "serve", *([model] if model else []), "--max-concurrency", "16"], work / "server.log")}
    try:
        if args.baseline != "none":
            src = _baseline.unpack(args.baseline, work)
            servers["then"] = _server.start([facexp, "serve", "--max-concurrency", "16"], work / "baseline.log", _baseline.env(src))
        data, photo = photo_bytes()
        for _, url in servers.values():
            run_level(url, data, 1, 4)  # warm-up
        load = os.getloadavg()[0]  # other work on the machine shows up in these numbers
        then = "then" in servers
        label = _baseline.LABEL.replace(_baseline.COMMIT, args.baseline)
        lines = [f"`facexp serve` on loopback, 1 worker, {model_name}; photo: {photo}; {args.requests} requests per "
                 f"level, one keep-alive connection per client thread"
                 + (f"; beside it, at each level in turn, the server of {label}" if then else "")
                 + f". {machine_line()} Load average at the start: {load:.1f}.", "",
                 "| concurrency | requests/s | p50 ms | p95 ms | errors | faces per answer |"
                 + (" issue's default: requests/s | p50 ms | p95 ms | errors | requests/s vs the issue's default |" if then else ""),
                 "|---|---|---|---|---|---|" + ("---|---|---|---|---|" if then else "")]
        for c in (1, 4, 16):
            r = {}
            for name, (_, url) in servers.items():
                time.sleep(1)  # PyTorch's idle threads spin for a while after its calls (bench_engines.py)
                r[name] = run_level(url, data, c, args.requests)
            now = r["now"]
            lines.append(f"| {c} | {now['rps']:.1f} | {now['p50']:.0f} | {now['p95']:.0f} | {now['errors']} | {now['faces']} |"
                         + (f" {r['then']['rps']:.1f} | {r['then']['p50']:.0f} | {r['then']['p95']:.0f} | "
                            f"{r['then']['errors']} | {now['rps'] / r['then']['rps']:.2f}x |" if then else ""))
            print(lines[-1], flush=True)
        server, url = servers["now"]
        before = _server.rss_mb(server.pid)
        r = run_level(url, data, 4, args.mem_requests)
        after = _server.rss_mb(server.pid)
        lines += ["", f"Memory (server RSS): {before:.0f} MB before and {after:.0f} MB after {args.mem_requests:,} more "
                  f"requests at concurrency 4 ({r['errors']} errors, {r['rps']:.1f} requests/s, "
                  f"p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms)."]
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(20)
    write_result("serve", lines)



if __name__ == "__main__":
    main()
