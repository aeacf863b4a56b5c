"""Request counts and latencies per route, kept in memory per worker for GET /metrics."""

from __future__ import annotations

import threading
from collections import defaultdict, deque

import numpy as np

WINDOW = 2000  # latencies kept per route for the percentiles


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = defaultdict(int)
        self._latency: dict[str, deque] = defaultdict(lambda: deque(maxlen=WINDOW))

    def record(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._counts[(route, status)] += 1
            self._latency[route].append(seconds * 1e3)

    def snapshot(self) -> dict:
        with self._lock:
            routes: dict[str, dict] = {}
            for (route, status), n in self._counts.items():
                entry = routes.setdefault(route, {"requests": 0, "by_status": {}})
                entry["requests"] += n
                entry["by_status"][str(status)] = n
            for route, values in self._latency.items():
                arr = np.array(values)
                routes[route]["latency_ms"] = {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
                                               "max": float(arr.max()), "window": len(arr)}
            return {"routes": routes}
