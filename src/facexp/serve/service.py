"""Per-worker state: the one warm Predictor, the concurrency gate, the timeout and the metrics.

Inference is blocking CPU work, so it runs in the threadpool. The gate is tried without waiting:
a saturated server says 503 + Retry-After at once instead of queueing requests without end. A
prediction that overruns the timeout is answered 504, but it keeps its slot in the gate until its
thread really finishes, so timeouts cannot pile up more work than the limit allows.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..predict import Predictor
from .errors import ApiError
from .metrics import Metrics
from .settings import ServeSettings

T = TypeVar("T")
RETRY_AFTER_S = 1


class Service:
    """What every route shares in one worker process; built once by ``create_app``."""

    def __init__(self, settings: ServeSettings, predictor: Predictor | None = None):
        self.settings = settings
        self.metrics = Metrics()
        self._predictor = predictor
        self._load_lock = threading.Lock()
        self._gate = asyncio.Semaphore(settings.max_concurrency)
        self.in_flight = 0

    @property
    def predictor(self) -> Predictor:
        """The model, loaded on first use (the app's lifespan touches it at start-up)."""
        with self._load_lock:
            if self._predictor is None:
                self._predictor = Predictor(self.settings.model)
            return self._predictor

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in the threadpool inside the gate and the timeout.

        Raises:
            ApiError: 503 when ``max_concurrency`` predictions are already running, 504 on timeout.
        """
        if self._gate.locked():
            raise ApiError(503, "busy", f"the server is at its limit of {self.settings.max_concurrency} concurrent "
                           f"predictions; retry in {RETRY_AFTER_S}s", {"Retry-After": str(RETRY_AFTER_S)})
        await self._gate.acquire()
        self.in_flight += 1
        task = asyncio.ensure_future(run_in_threadpool(fn))
        task.add_done_callback(self._release)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ApiError(504, "timeout", f"the prediction took longer than {self.settings.timeout_s:g}s; "
                           "send a smaller image or retry later") from None

    def _release(self, task: asyncio.Future) -> None:
        self.in_flight -= 1
        self._gate.release()
        if not task.cancelled():
            task.exception()  # mark an abandoned (timed-out) task's error as seen; the caller got a 504
