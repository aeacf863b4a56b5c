"""A loopback HTTP server that plays the image hosts of a Google Images export, and URL fixtures."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
from PIL import Image

SHARED_URLS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "google_urls"


def image_bytes(key: str, fmt: str = "JPEG", size: int = 64) -> bytes:
    """A distinct, deterministic picture per key (random blocks: distinct perceptual hashes)."""
    rng = np.random.default_rng(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16))
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    img = Image.fromarray(blocks).resize((size, size), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, fmt, quality=90)
    return buf.getvalue()


def bomb_png() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, "PNG")
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def send(self, code: int, body: bytes = b"", ctype: str = "image/jpeg", headers: dict | None = None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        with self.lock:
            self.hits[path] = self.hits.get(path, 0) + 1
            n = self.hits[path]
        if path.startswith("/img/"):
            return self.send(200, image_bytes(path))
        if path.startswith("/slowimg/"):
            time.sleep(0.15)
            return self.send(200, image_bytes(path))
        if path.startswith("/slow/"):
            time.sleep(0.4)
            return self.send(200, image_bytes(path))
        if path.startswith("/tooslow/"):
            time.sleep(3)
            return self.send(200, image_bytes(path))
        if path.startswith("/flaky/"):
            return self.send(500, b"oops", "text/plain") if n == 1 else self.send(200, image_bytes(path))
        if path.startswith("/busy/"):
            if n == 1:
                return self.send(429, b"slow down", "text/plain", {"Retry-After": "1"})
            return self.send(200, image_bytes(path))
        if path.startswith("/same/"):
            return self.send(200, image_bytes("the same picture"))
        if path == "/html.jpg":
            return self.send(200, b"<!DOCTYPE html><html><body>consent page</body></html>")
        if path == "/truncated.jpg":
            return self.send(200, image_bytes("t", size=256)[:700])
        if path == "/huge.jpg":
            return self.send(200, b"\xff\xd8" + b"\0" * (3 * 1024 * 1024))
        if path == "/bomb.png":
            return self.send(200, bomb_png(), "image/png")
        if path.startswith("/loop"):
            return self.send(302, b"", "text/plain", {"Location": path})
        return self.send(404, b"not found", "text/plain")


def export_urls(label: str, n: int) -> list[str]:
    """The first ``n`` lines (URLs and the blank lines) of the real export for ``label``, or made-up ones."""
    path = SHARED_URLS / f"{label}.txt"
    if path.exists():
        lines = path.read_text(errors="replace").splitlines()
    else:
        lines = [f"https://images.example.com/{label}/{i}.jpg" if i % 5 else "" for i in range(4 * n)]
    out, count = [], 0
    for line in lines:
        out.append(line)
        count += bool(line.strip())
        if count >= n:
            break
    return out


def to_loopback(url: str, host: str, prefix: str = "img") -> str:
    """https://site/a/b.jpg → http://127.0.0.1:PORT/img/site/a/b.jpg (keeps the real path)."""
    if not url.strip():
        return url
    rest = url.split("://", 1)[-1]
    return f"{host}/{prefix}/{rest}"
