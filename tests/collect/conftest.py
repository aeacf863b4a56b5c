"""The loopback image host for the collect tests, and a fast download configuration."""

from __future__ import annotations

import threading

import pytest

from collect_host import ImageHostServer
from facexp.collect import CollectConfig

# Short timeouts, one retry and short backoff so the misbehaving routes cost about a second, with
# room for a machine busy with other work (the slow route answers in 0.2 s, the too-slow one in 2.5 s).
FAST = CollectConfig(workers=8, per_host=8, rate=0, connect_timeout=1.0, read_timeout=1.0, max_time=2.0, retries=1,
                     backoff=0.05, max_retry_after=5.0, max_bytes=1024 * 1024, max_pixels=20_000_000)


@pytest.fixture()
def image_host():
    """A threaded HTTP server on 127.0.0.1 (random port); ``.url`` to build URLs, ``.hits`` per path."""
    server = ImageHostServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture()
def fast() -> CollectConfig:
    return FAST
