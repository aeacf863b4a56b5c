"""What every benchmark prints beside its numbers: the command, the machine and the date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
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
