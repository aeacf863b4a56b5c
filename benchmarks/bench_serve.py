"""Server throughput and latency on loopback: a 1-face 1280px photo at concurrency 1, 4 and 16.

    .venv/bin/python benchmarks/bench_serve.py [--model DIR] [--requests 40] [--mem-requests 2000]

Starts `facexp serve` (one worker, --max-concurrency 16 so no request is refused by design) on a
free 127.0.0.1 port in a subprocess, drives it from client threads with a fixed number of
requests per level, and reads the server's RSS from /proc before and after --mem-requests more.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from _machine import machine_line, write_result

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos" / "surprised.jpeg"


def photo_bytes() -> bytes:
    if PHOTO.exists():
        img = Image.open(PHOTO).convert("RGB").resize((1280, 853))
    else:
        from skimage.data import astronaut

        img = Image.fromarray(astronaut()).resize((1280, 1280))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_level(url: str, data: bytes, concurrency: int, n: int) -> dict:
    def one(_):
        with httpx.Client(timeout=120) as c:
            t0 = time.perf_counter()
            r = c.post(url + "/v1/predict", files={"file": ("p.jpg", data, "image/jpeg")})
            return time.perf_counter() - t0, r.status_code, len(r.json().get("faces", [])) if r.status_code == 200 else 0

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0
    lat = np.array([r[0] for r in results]) * 1e3
    errors = sum(r[1] != 200 for r in results)
    return {"rps": n / wall, "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "errors": errors, "faces": statistics.mode(r[2] for r in results)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default=None)
    ap.add_argument("--requests", type=int, default=40, help="requests per concurrency level")
    ap.add_argument("--mem-requests", type=int, default=2000)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    facexp = str(Path(sys.executable).with_name("facexp"))
    cmd = [facexp, "serve", *([args.model] if args.model else []), "--port", str(port), "--max-concurrency", "16"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        data = photo_bytes()
        run_level(url, data, 1, 3)  # warm-up
        lines = [f"Server on loopback, 1 worker, 1280px photo with one face, {args.requests} requests per level. "
                 f"{machine_line()}", "", "| concurrency | requests/s | p50 ms | p95 ms | errors | faces per answer |",
                 "|---|---|---|---|---|---|"]
        for c in (1, 4, 16):
            r = run_level(url, data, c, args.requests)
            lines.append(f"| {c} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['errors']} | {r['faces']} |")
            print(lines[-1], flush=True)
        before = rss_mb(server.pid)
        r = run_level(url, data, 4, args.mem_requests)
        after = rss_mb(server.pid)
        lines += ["", f"Memory (server RSS): {before:.0f} MB before, {after:.0f} MB after {args.mem_requests} more "
                  f"requests at concurrency 4 ({r['errors']} errors, {r['rps']:.1f} requests/s)."]
    finally:
        server.terminate()
        server.wait(10)
    write_result("serve", lines)


if __name__ == "__main__":
    main()
