"""A `facexp serve` process on a free loopback port for the benchmarks that load it, and its memory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # the only address the benchmarks talk to


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start(cmd: list[str], log_path: Path, env: dict[str, str] | None = None, wait_s: float = 180
          ) -> tuple[subprocess.Popen, str]:
    """``cmd`` (a ``facexp serve`` command line without host and port) on a free port, once it answers
    /healthz; exits naming the log if it never does."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen([*cmd, "--host", HOST, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=log,
                                  env=env)
    deadline = time.time() + wait_s
    while time.time() < deadline and server.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    sys.exit(f"the server did not start; see {log_path}")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
