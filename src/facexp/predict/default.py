"""Where the model that ships inside the package lives."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError


def default_model_dir() -> Path:
    """The packaged default bundle; a clear error when this install has none."""
    path = Path(__file__).resolve().parent.parent / "default_model"
    if not (path / "model.json").exists():
        raise ModelError(f"no default model is installed (expected {path}); pass a model directory, "
                         "e.g. one written by `facexp train`")
    return path
