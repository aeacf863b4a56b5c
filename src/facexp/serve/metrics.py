"""Request counts and latencies per route, kept in memory per worker for GET /metrics.

``/metrics`` answers in the Prometheus text format, what monitoring stacks scrape;
``/metrics.json`` gives the same numbers as JSON for people and scripts. Latency percentiles come
from a bounded window per route, so memory stays flat however long the server runs.
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
        self._seconds: dict[str, float] = defaultdict(float)  # total since start, for the summary's _sum

    def record(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request (``route`` is the template, e.g. /v1/predict, not the URL)."""
        with self._lock:
            self._counts[(route, status)] += 1
            self._latency[route].append(seconds * 1e3)
            self._seconds[route] += seconds

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

    def prometheus(self, *, in_flight: int) -> str:
        """The counters in the Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            counts = sorted(self._counts.items())
            windows = {route: np.fromiter(values, dtype=float) / 1e3 for route, values in sorted(self._latency.items())}
            seconds = dict(self._seconds)
        lines = ["# HELP facexp_requests_total Requests answered, by route template and HTTP status.",
                 "# TYPE facexp_requests_total counter"]
        lines += [f'facexp_requests_total{{route="{_label(route)}",status="{status}"}} {n}'
                  for (route, status), n in counts]
        lines += [f"# HELP facexp_request_duration_seconds Request latency; quantiles over the last {WINDOW} "
                  "requests of each route.", "# TYPE facexp_request_duration_seconds summary"]
        for route, arr in windows.items():
            label = _label(route)
            lines += [f'facexp_request_duration_seconds{{route="{label}",quantile="{q}"}} '
                      f"{float(np.percentile(arr, 100 * q)):.6f}" for q in (0.5, 0.95)]
            total = sum(n for (r, _), n in counts if r == route)
            lines += [f'facexp_request_duration_seconds_sum{{route="{label}"}} {seconds[route]:.6f}',
                      f'facexp_request_duration_seconds_count{{route="{label}"}} {total}']
        lines += ["# HELP facexp_in_flight Predictions running or waiting in this worker.",
                  "# TYPE facexp_in_flight gauge", f"facexp_in_flight {in_flight}",
                  "# HELP facexp_uptime_seconds Seconds since this worker started.",
                  "# TYPE facexp_uptime_seconds gauge", f"facexp_uptime_seconds {time.monotonic() - self._started:.1f}"]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """A Prometheus label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
