"""Helpers for the server tests: tiny images, and a predictor that is slow on purpose (to saturate
or time out the server without depending on how fast this machine is)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PIL import Image

from facexp.predict import Predictor
from helpers import free_port  # noqa: F401  (re-exported for the server tests)


@contextmanager
def serving(make_app: Callable[[int], object]) -> Iterator[str]:
    """uvicorn in a thread serving ``make_app(port)`` on a free 127.0.0.1 port; yields the base URL."""
    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(make_app(port), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(10)


def png_bytes(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    return buf.getvalue()


class HeldPredictor:
    """A Predictor whose predictions wait for ``release`` (at most ``hold_s``) before running."""

    def __init__(self, predictor: Predictor, *, hold_s: float = 10.0):
        self._predictor = predictor
        self.hold_s = hold_s
        self.release = threading.Event()
        self.finished = threading.Event()

    def __getattr__(self, name: str):
        return getattr(self._predictor, name)

    def predict_with_crops(self, *args, **kwargs):
        self.release.wait(self.hold_s)
        try:
            return self._predictor.predict_with_crops(*args, **kwargs)
        finally:
            self.finished.set()
