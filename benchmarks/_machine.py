"""What every benchmark prints beside its numbers (the command, the machine and the date), and how it times a call."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    command = " ".join([Path(sys.executable).name, *sys.argv])
    return (f"Command: `{command}`; machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}; "
            f"date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC.")


def write_result(name: str, lines: list[str]) -> Path:
    """Print the markdown block and keep it in benchmarks/results/NAME.md for README."""
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    return path


def models_arg(values: list[str] | None) -> dict[str, Path | None]:
    """``--model NAME=DIR`` pairs, in order (default: the shipped model alone, as ``default``)."""
    return {n: Path(d) for n, d in (v.split("=", 1) for v in values)} if values else {"default": None}


def side_by_side(models: dict[str, Path | None], rows: dict[str, list[str]]) -> list[str]:
    """Markdown: which directory each model is, then one row per measure with a column per model."""
    return ["Models: " + "; ".join(f"`{n}` = `{m or 'shipped default'}`" for n, m in models.items()) + ".", "",
            "| measure | " + " | ".join(f"`{n}`" for n in models) + " |", "|---|" + "---|" * len(models),
            *(f"| {measure} | " + " | ".join(values) + " |" for measure, values in rows.items())]


def median_ms(fn, runs: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in ms over ``runs`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3
