"""Reliability on loopback (issue 17): hostile model files and uploads, a burst, memory, stalled sockets.

    .venv/bin/python benchmarks/bench_reliability.py [--model DIR] [--large 200] [--burst 64] [--stalled 300]

Bounded and loopback only: every request goes to a `facexp serve` this script starts on a free
127.0.0.1 port; nothing else is contacted.

1. Hostile model directories (copies of the model with one thing broken) through `facexp predict`,
   `evaluate`, `export` and `serve`, in-process: exit code and the one line each prints.
2. Hostile uploads to the server: status and error code of each.
3. A burst of --burst simultaneous single-photo requests (1 worker, --max-concurrency 4): the share
   answered 503 and any other 5xx.
4. Server RSS (from /proc, sampled every 20 ms) before, at peak and 2 s after two mixes: concurrent
   batch requests of 16 photos each, and --large uploads of 6300x6300 photos (PNG and JPEG, under
   the 40-megapixel limit) at concurrency 4.
5. --stalled sockets that send half a request line and stop: how many the server closed itself
   (503 at once past --max-connections, 408 at the header deadline), and a client that dribbles its
   body after a 408.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageDraw

from _machine import machine_line, write_result
from _server import HOST, rss_mb, start

HEADER_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 128


def settle(url: str, limit_s: float = 300) -> None:
    """Wait until no prediction thread is running (a timed-out one finishes on its own) and 2 s more."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        try:
            if httpx.get(url + "/metrics.json", timeout=10).json()["in_flight"] == 0:
                break
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    time.sleep(2)


class RssSampler:
    """The peak RSS of ``pid`` while the block runs (sampled every 20 ms)."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# --- 1. hostile model directories ---------------------------------------------------------------


def hostile_models(source: Path, work: Path) -> list[tuple[str, Path]]:
    """(description, model dir) pairs, each a copy of ``source`` with one thing broken."""
    from safetensors.torch import load_file, save_file

    card = json.loads((source / "model.json").read_text())
    out = []

    def copy(name: str) -> Path:
        target = work / "hostile" / name
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.pkl", "*.onnx"))
        return target

    def with_card(name: str, what: str, changed) -> None:
        target = copy(name)
        (target / "model.json").write_text(json.dumps(changed))
        out.append((what, target))

    with_card("size", "`image.size` 100000", {**card, "image": {**card["image"], "size": 100000}})
    with_card("std0", "`image.std` [0, 0.5, 0.5]", {**card, "image": {**card["image"], "std": [0, 0.5, 0.5]}})
    with_card("temp0", "`temperature` 0", {**card, "temperature": 0})
    with_card("members", "`members` 2.5", {**card, "members": 2.5})
    with_card("dupes", "`classes` with a repeat", {**card, "classes": card["classes"][:-1] + card["classes"][:1]})
    with_card("arch", "`arch` unknown", {**card, "arch": "resnet9000"})
    with_card("faces", "`faces.size` 100000", {**card, "faces": {**(card.get("faces") or {}), "size": 100000}})
    with_card("missing", "no `classes`", {k: v for k, v in card.items() if k != "classes"})
    with_card("list", "card is a JSON list", [card])
    target = copy("notjson")
    (target / "model.json").write_text('{"format": "facexp-bundle/1", "arch": ')
    out.append(("card cut in half", target))
    target = copy("empty")
    (target / "model.safetensors").write_bytes(b"")
    out.append(("empty model.safetensors", target))
    target = copy("cut")
    data = (target / "model.safetensors").read_bytes()
    (target / "model.safetensors").write_bytes(data[: len(data) // 2])
    out.append(("model.safetensors cut in half", target))
    target = copy("garbage")
    (target / "model.safetensors").write_bytes(os.urandom(1 << 16))
    out.append(("model.safetensors of random bytes", target))
    target = copy("nan")
    tensors = load_file(str(target / "model.safetensors"))
    for key in [k for k in tensors if k.endswith(("1.8.weight", "1.8.weight.int8_scale"))]:
        tensors[key] = tensors[key].float().mul(float("nan")).to(tensors[key].dtype) if tensors[key].is_floating_point() \
            else tensors[key]
    save_file(tensors, str(target / "model.safetensors"))
    out.append(("NaN weights in the last layer", target))
    target = work / "hostile" / "pickle_only"
    target.mkdir(parents=True)
    (target / "learner.pkl").write_bytes(b"\x80\x04not a learner")
    out.append(("folder with only learner.pkl", target))
    return out


def try_hostile_models(source: Path, work: Path, photo: Path) -> list[str]:
    from typer.testing import CliRunner

    from facexp.cli import app

    runner = CliRunner()
    data = work / "eval_data"
    data.mkdir(exist_ok=True)
    lines = ["| hostile model directory | predict | evaluate | export | serve | what `facexp predict` prints (stderr) |",
             "|---|---|---|---|---|---|"]
    n_ok = 0
    for what, model in hostile_models(source, work):
        codes, message = [], ""
        for verb in (["predict", "--model", str(model), str(photo), "--json", "--engine", "torch"],
                     ["evaluate", str(model), str(data)], ["export", str(model)],
                     ["serve", str(model), "--port", "1"]):
            res = runner.invoke(app, verb)
            one_line = len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
            nan_out = "NaN" in (res.stdout or "")
            codes.append(f"{res.exit_code}" + ("" if one_line and not nan_out else " (!)"))
            n_ok += res.exit_code == 4 and one_line and not nan_out
            if verb[0] == "predict":
                message = res.output.strip().splitlines()[-1] if res.output.strip() else ""
        message = message.replace(str(work), "…").replace("|", "/").replace("`", "'")
        message = message if len(message) <= 150 else message[:147] + "..."
        lines.append(f"| {what} | " + " | ".join(codes) + f" | `{message}` |")
        print(lines[-1], flush=True)
    total = 4 * (len(lines) - 2)
    return [f"{n_ok} of {total} runs exited with code 4 and one line, no traceback, no NaN on stdout.", ""] + lines


# --- the server ---------------------------------------------------------------------------------


def start_server(model: str | None, work: Path) -> tuple[subprocess.Popen, str]:
    facexp = str(Path(sys.executable).with_name("facexp"))
    return start([facexp, "serve", *([model] if model else []), "--header-timeout", str(HEADER_TIMEOUT_S),
                  "--max-connections", str(MAX_CONNECTIONS)], work / "server.log")


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photo() -> Image.Image:
    from skimage.data import astronaut

    return Image.fromarray(astronaut())


def large_photos() -> dict[str, bytes]:
    """6300x6300 (39.7 MP, under the 40 MP limit): the astronaut on a drawn background, PNG and JPEG."""
    canvas = Image.new("RGB", (6300, 6300), (90, 110, 140))
    draw = ImageDraw.Draw(canvas)
    for i in range(0, 6300, 150):
        draw.line([(i, 0), (6300 - i, 6300)], fill=(200, 180, 90), width=9)
    canvas.paste(photo().resize((2048, 2048)), (2100, 1500))
    return {"6300x6300 PNG": png(canvas), "6300x6300 JPEG": jpeg(canvas, 85)}


def hostile_uploads(url: str) -> list[str]:
    from PIL import Image as PILImage

    good = jpeg(photo())
    bomb = io.BytesIO()
    PILImage.new("1", (10_000, 10_000)).save(bomb, "PNG")
    over = io.BytesIO()
    PILImage.new("1", (10_000, 5_000)).save(over, "PNG")
    cases = [
        ("JPEG cut in half", "/v1/predict", {"files": {"file": ("a.jpg", good[: len(good) // 2])}}),
        ("HTML saved as .jpg", "/v1/predict", {"files": {"file": ("a.jpg", b"<!DOCTYPE html><html>Google</html>")}}),
        ("empty file", "/v1/predict", {"files": {"file": ("a.jpg", b"")}}),
        ("PNG bomb, 100 MP in 12 kB", "/v1/predict", {"files": {"file": ("b.png", bomb.getvalue())}}),
        ("PNG of 50 MP (limit 40)", "/v1/predict", {"files": {"file": ("o.png", over.getvalue())}}),
        ("batch of 17 files (limit 16)", "/v1/predict/batch",
         {"files": [("files", (f"{i}.jpg", good)) for i in range(17)]}),
        ("batch of 1,001 files", "/v1/predict/batch",
         {"files": [("files", (f"{i}.png", png(PILImage.new("RGB", (8, 8))))) for i in range(1001)]}),
        ("`?annotate=maybe`", "/v1/predict?annotate=maybe", {"files": {"file": ("a.jpg", good)}}),
        ("field `image` instead of `file`", "/v1/predict", {"files": {"image": ("a.jpg", good)}}),
    ]
    lines = ["| hostile upload | status | code | message |", "|---|---|---|---|"]
    with httpx.Client(base_url=url, timeout=60) as client:
        for what, path, kwargs in cases:
            res = client.post(path, **kwargs)
            try:
                error = res.json().get("error", {})
            except ValueError:
                error = {"code": "(not JSON)", "message": res.text[:80]}
            message = str(error.get("message", ""))
            message = message if len(message) <= 110 else message[:107] + "..."
            lines.append(f"| {what} | {res.status_code} | {error.get('code', '-')} | {message} |")
            print(lines[-1], flush=True)
    # announced as 11 MB (limit 10 MB): answered from the headers, before any of the body is sent
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 11000000\r\n"
                  b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    error = json.loads(body or b"{}").get("error", {})
    lines.append(f"| 11 MB upload announced (limit 10 MB) | {head[9:12].decode()} | {error.get('code', '-')} | "
                 f"{error.get('message', '')[:110]} |")
    print(lines[-1], flush=True)
    return lines


def burst(url: str, n: int) -> str:
    data = jpeg(photo())
    start = threading.Barrier(n)

    def one(_):
        with httpx.Client(base_url=url, timeout=120) as c:
            start.wait()
            try:
                return c.post("/v1/predict", files={"file": ("a.jpg", data)}).status_code
            except httpx.TransportError as exc:
                return type(exc).__name__

    with cf.ThreadPoolExecutor(n) as pool:
        statuses = Counter(pool.map(one, range(n)))
    five = sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500 and k != 503)
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    return (f"**Burst**: {n} simultaneous `POST /v1/predict` (astronaut, 512x512) against `--max-concurrency 4`: "
            f"{statuses.get(200, 0)} answered 200, {statuses.get(503, 0)} answered 503 + Retry-After "
            f"({statuses.get(503, 0) / n:.0%}), {five} other 5xx, "
            f"{sum(v for k, v in statuses.items() if not isinstance(k, int))} transport errors ({shown}).")


def batch_mix(url: str, pid: int, clients: int, rounds: int) -> tuple[str, float, float, float]:
    rng = np.random.default_rng(0)
    base = photo().resize((1600, 1600))
    photos = []
    for i in range(16):
        noise = rng.integers(0, 40, (1600, 1600, 3), dtype=np.uint8)
        photos.append(jpeg(Image.fromarray(np.asarray(base) // 2 + noise), 92))
    body_mb = sum(len(p) for p in photos) / 2**20

    def one(_):
        with httpx.Client(base_url=url, timeout=300) as c:
            try:
                return c.post("/v1/predict/batch", files=[("files", (f"{i}.jpg", p)) for i, p in enumerate(photos)]
                              ).status_code
            except httpx.TransportError as exc:
                return type(exc).__name__

    settle(url)
    before = rss_mb(pid)
    with RssSampler(pid) as sampler, cf.ThreadPoolExecutor(clients) as pool:
        statuses = Counter(s for _ in range(rounds) for s in pool.map(one, range(clients)))
    settle(url)
    after = rss_mb(pid)
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    what = (f"{rounds} rounds of {clients} concurrent batch requests, each 16 JPEGs of 1600x1600 "
            f"({body_mb:.1f} MB per request); answers {shown}")
    return what, before, sampler.peak, after


def large_mix(url: str, pid: int, n: int) -> tuple[str, float, float, float]:
    bigs = large_photos()
    items = list(bigs.items())

    def one(i):
        name, data = items[i % len(items)]
        with httpx.Client(base_url=url, timeout=300) as c:
            try:
                return c.post("/v1/predict", files={"file": ("big", data)}).status_code
            except httpx.TransportError as exc:
                return type(exc).__name__

    settle(url)
    before = rss_mb(pid)
    with RssSampler(pid) as sampler, cf.ThreadPoolExecutor(4) as pool:
        statuses = Counter(pool.map(one, range(n)))
    settle(url)
    after = rss_mb(pid)
    sizes = ", ".join(f"{k} {len(v) / 2**20:.1f} MB" for k, v in bigs.items())
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    return f"{n} uploads at concurrency 4, alternating {sizes}; answers {shown}", before, sampler.peak, after


def stalled(url: str, n: int) -> list[str]:
    port = int(url.rsplit(":", 1)[1])
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-")  # and never more
        socks.append(s)
    start = time.monotonic()
    outcome: Counter = Counter()
    waits = []
    for s in socks:
        s.settimeout(max(0.1, HEADER_TIMEOUT_S + 5 - (time.monotonic() - start)))
        try:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            outcome[data[:12].decode(errors="replace") or "closed"] += 1
            waits.append(time.monotonic() - start)
        except socket.timeout:
            outcome["still open"] += 1
        except ConnectionResetError:
            outcome["reset"] += 1
        s.close()
    refused = outcome.get("HTTP/1.1 503", 0) + outcome.get("reset", 0) + outcome.get("closed", 0)
    timed_out = outcome.get("HTTP/1.1 408", 0)
    closed = n - outcome.get("still open", 0)
    # a client that dribbles its body after the server's 408
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
              b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n")
    s.settimeout(0.2)
    t0, answer, gone = time.monotonic(), b"", None
    while time.monotonic() - t0 < 60 and gone is None:
        try:
            s.sendall(b"x")
            chunk = s.recv(65536)
            answer += chunk
            if not chunk:
                gone = time.monotonic() - t0
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            gone = time.monotonic() - t0
    s.close()
    return [f"**Stalled connections**: {n} sockets that sent half a request line and stopped: the server closed "
            f"{closed} of them itself ({refused} refused at once, past `--max-connections {MAX_CONNECTIONS}`: a 503 "
            f"and a close, which reaches a client that already sent bytes as a reset; "
            f"{timed_out} answered 408 at the {HEADER_TIMEOUT_S:g} s header deadline; last closed "
            f"{max(waits) if waits else float('nan'):.1f} s after the last connect), "
            f"{outcome.get('still open', 0)} still open {HEADER_TIMEOUT_S + 5:g} s later. "
            f"A client dribbling its body one byte per 0.2 s got `{answer[:12].decode(errors='replace')}` "
            f"and was disconnected after {gone if gone is not None else float('nan'):.1f} s "
            f"(body deadline 30 s, the server's --timeout)."]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--large", type=int, default=200, help="6300x6300 uploads in the large-pixel mix")
    ap.add_argument("--burst", type=int, default=64)
    ap.add_argument("--batch-clients", type=int, default=8)
    ap.add_argument("--batch-rounds", type=int, default=3)
    ap.add_argument("--stalled", type=int, default=300)
    ap.add_argument("--skip-models", action="store_true", help="skip the hostile model directories")
    args = ap.parse_args()

    from facexp.predict import default_model_dir

    work = Path(tempfile.mkdtemp(prefix="bench_reliability_"))
    source = Path(args.model) if args.model else default_model_dir()
    lines = [f"Reliability on loopback, model `{args.model or 'shipped default'}`. {machine_line()}", ""]
    photo_path = work / "astronaut.jpg"
    photo_path.write_bytes(jpeg(photo()))
    if not args.skip_models:
        lines += try_hostile_models(source, work, photo_path) + [""]
    server, url = start_server(args.model, work)
    try:
        lines += ["`facexp serve` (1 worker, defaults: --max-concurrency 4, --max-batch 16, 10 MB uploads, 40 MP, "
                  f"--header-timeout {HEADER_TIMEOUT_S:g}, --max-connections {MAX_CONNECTIONS}):", ""]
        lines += hostile_uploads(url) + [""]
        lines += [burst(url, args.burst), ""]
        print(lines[-2], flush=True)
        httpx.post(url + "/v1/predict", files={"file": ("a.jpg", jpeg(photo()))}, timeout=60)  # warm
        cap_mb = (16 * 10 * 2**20 + 64 * 1024) / 2**20
        mem = ["| mix | RSS before MB | peak MB | after (idle) MB |", "|---|---|---|---|"]
        for what, before, peak, after in (batch_mix(url, server.pid, args.batch_clients, args.batch_rounds),
                                          large_mix(url, server.pid, args.large)):
            mem.append(f"| {what} | {before:.0f} | {peak:.0f} | {after:.0f} |")
            print(mem[-1], flush=True)
        lines += [f"**Memory** (server RSS from /proc, sampled every 20 ms; before and after: once no prediction "
                  f"is running, + 2 s). Per request the server holds at most its body ({cap_mb:.0f} MB for a full "
                  "batch) plus one photo being decoded (40 MP: 120 MB of RGB and its working copies, ~375 MB), "
                  "and at most 4 requests (--max-concurrency) hold anything: bound = before + 4 x that.", ""] \
            + mem + [""]
        lines += stalled(url, args.stalled)
        print(lines[-1], flush=True)
    finally:
        server.terminate()
        server.wait(20)
    write_result("reliability", lines)


if __name__ == "__main__":
    main()
