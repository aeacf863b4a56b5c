"""Per-worker state: the one warm Predictor, the concurrency gate, the timeout and the metrics.

Inference is blocking CPU work, so it runs in the threadpool, one prediction per core at a time
(``Turns``); the others wait inside the gate. The gate is tried without waiting: a saturated server
says 503 + Retry-After at once instead of queueing requests without end. A prediction that overruns
the timeout is answered 504, but it keeps its slot in the gate until its thread really finishes, so
timeouts cannot pile up more work than the limit allows; one still waiting for its turn then
gives the turn up without predicting.

The gate is checked before a prediction request's body is read (``Guard`` takes a ``Ticket``
when the headers arrive), so the uploads held in memory are bounded by the same limit: at most
``max_concurrency`` requests per worker are reading, holding or predicting their images.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from ..predict import Predictor
from .errors import ApiError
from .live import LiveSessions
from .memory import release_memory
from .metrics import Metrics
from .settings import ServeSettings

T = TypeVar("T")
RETRY_AFTER_S = 1


class Ticket:
    """One of the gate's ``max_concurrency`` slots, given back when every holder has released it.

    ``Guard`` takes it before the request body is read and releases it when the answer is sent;
    ``Service.run`` holds it too while the prediction thread runs (a timed-out thread keeps it).
    """

    def __init__(self, free: Callable[[], None]):
        self._free = free
        self._refs = 1

    def hold(self) -> None:
        self._refs += 1

    def release(self) -> None:
        self._refs -= 1
        if self._refs == 0:
            self._free()


CURRENT_TICKET: ContextVar[Ticket | None] = ContextVar("facexp_ticket", default=None)  # set by Guard per request


def _releasing(fn: Callable[[], T]) -> T:
    """``fn()``, then its freed buffers go back to the system (a large photo must not stay in RSS)."""
    try:
        return fn()
    finally:
        release_memory()


class Turns:
    """At most one prediction per core computing at once; the others wait here for their turn.

    Why: with every admitted request computing at once, their threads fought over two cores and the
    GIL. On 2 cores with the shipped model (1-face 1280 px photos, ``bench_serve.py``'s client), one
    turn per core kept 28.5 requests/s at concurrency 4 with p95 178 -> 155 ms, and at 16 took 22 ->
    27 requests/s, p95 930 -> 590 ms; one turn in all was slower (26 requests/s at 4), three no better.
    """

    def __init__(self, n: int):
        self._free = threading.BoundedSemaphore(n)

    def run(self, fn: Callable[[], T], abandoned: threading.Event) -> T | None:
        """``fn()`` in its turn (with ``_releasing``), or None when the caller gave up while it waited."""
        with self._free:
            return None if abandoned.is_set() else _releasing(fn)


class Service:
    """What every route shares in one worker process; built once by ``create_app``."""

    def __init__(self, settings: ServeSettings, predictor: Predictor | None = None):
        self.settings = settings
        self.metrics = Metrics()
        self._predictor = predictor
        self._load_lock = threading.Lock()
        self.busy = 0  # slots taken: requests reading, holding or predicting their images
        self.in_flight = 0  # prediction threads running
        self.live = LiveSessions(settings.live_sessions)  # camera sessions of the page's Live mode
        self.turns = Turns(settings.turns)

    @property
    def predictor(self) -> Predictor:
        """The model, loaded on first use (the app's lifespan touches it at start-up)."""
        with self._load_lock:
            if self._predictor is None:
                self._predictor = Predictor(self.settings.model, engine=self.settings.engine)
            return self._predictor

    def admit(self) -> Ticket | None:
        """A slot of the gate, or None when all ``max_concurrency`` are taken (never waits)."""
        if self.busy >= self.settings.max_concurrency:
            return None
        self.busy += 1
        return Ticket(self._free)

    def _free(self) -> None:
        self.busy -= 1

    def busy_message(self) -> str:
        return (f"the server is at its limit of {self.settings.max_concurrency} concurrent predictions; retry in "
                f"{RETRY_AFTER_S}s")

    async def run(self, fn: Callable[[], T], *, timeout_s: float | None = None, in_turn: bool = True) -> T:
        """Run ``fn`` in the threadpool inside the gate and the timeout (``timeout_s``, default the settings'),
        in its turn (``Turns``) unless ``in_turn`` is False (a clip would hold a core's turn for minutes).

        Uses the request's ticket when ``Guard`` took one, else takes a slot now.

        Raises:
            ApiError: 503 when ``max_concurrency`` predictions are already running, 504 on timeout.
        """
        ticket, own = CURRENT_TICKET.get(), False
        if ticket is None:
            ticket, own = self.admit(), True
            if ticket is None:
                raise ApiError(503, "busy", self.busy_message(), {"Retry-After": str(RETRY_AFTER_S)})
        ticket.hold()
        self.in_flight += 1
        try:
            abandoned = threading.Event()
            work = run_in_threadpool(self.turns.run, fn, abandoned) if in_turn else run_in_threadpool(_releasing, fn)
            task = asyncio.ensure_future(work)
            task.add_done_callback(lambda t: self._release(t, ticket))
            try:
                budget = timeout_s or self.settings.timeout_s
                return await asyncio.wait_for(asyncio.shield(task), budget)
            except asyncio.TimeoutError:
                abandoned.set()
                raise ApiError(504, "timeout", f"the prediction took longer than {budget:g}s; "
                               "send a smaller image or retry later") from None
        finally:
            if own:
                ticket.release()

    def _release(self, task: asyncio.Future, ticket: Ticket) -> None:
        self.in_flight -= 1
        ticket.release()
        if not task.cancelled():
            task.exception()  # mark an abandoned (timed-out) task's error as seen; the caller got a 504
