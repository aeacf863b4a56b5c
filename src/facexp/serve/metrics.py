"""Request counts and latencies per route, kept in memory per worker for GET /metrics.

Latencies are a bounded window per route, so memory stays flat however long the server runs.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

import numpy as np

WINDOW = 2000  # latencies kept per route for the percentiles


class Metrics:
    """Thread-safe counters: requests by route template and status, latency percentiles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._counts: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=WINDOW))

    def record(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request (``route`` is the template, e.g. /v1/predict, not the URL)."""
        with self._lock:
            self._counts[(route, status)] += 1
            self._latency[route].append(seconds * 1e3)

    def snapshot(self, *, in_flight: int) -> dict:
        """Counts since start and p50/p95/max over the last ``WINDOW`` requests of each route."""
        with self._lock:
            routes: dict[str, dict] = {}
            for (route, status), n in sorted(self._counts.items()):
                entry = routes.setdefault(route, {"requests": 0, "by_status": {}})
                entry["requests"] += n
                entry["by_status"][str(status)] = n
            for route, values in self._latency.items():
                arr = np.fromiter(values, dtype=float)
                routes[route]["latency_ms"] = {"p50": round(float(np.percentile(arr, 50)), 2),
                                               "p95": round(float(np.percentile(arr, 95)), 2),
                                               "max": round(float(arr.max()), 2), "window": len(arr)}
            return {"uptime_s": round(time.monotonic() - self._started, 1), "in_flight": in_flight,
                    "requests": sum(self._counts.values()), "routes": routes}
