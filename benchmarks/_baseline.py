"""The default model and code that issue 15 timed ("today" in its targets), run beside the current ones.

The issue's targets are absolute figures on README's machine plus "faster wherever measured", and the
machines here differ by 1.6-1.8x from session to session: a ratio against the issue's own default,
measured in the same run, is the figure that carries from one machine to another. Its ``src`` (code and
4-network default model) is taken from git with ``git archive`` and put first on PYTHONPATH of the
processes that time it; they use the current venv's packages.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

COMMIT = "e9b7388"  # the default of 2026-11-28 that issue 15 timed: 4 EfficientNet-Lite0s, PyTorch, facenet-pytorch
LABEL = f"the issue's default ({COMMIT}: 4 networks, PyTorch)"


def unpack(commit: str, into: Path) -> Path:
    """``src`` of ``commit`` unpacked into ``into`` (git must know the commit)."""
    archive = subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[1]), "archive", commit, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def env(src: Path) -> dict[str, str]:
    """The environment of a process that runs the code in ``src`` instead of the installed facexp."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])}
