"""Datasets for the clean tests: generated class folders, indexed, with a suspects list written directly
(no model needed), so the store, the API, apply and the browser test run in a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from clean_helpers import reviewed_dataset


@pytest.fixture()
def reviewed(tmp_path) -> Path:
    """A plain class-folder dataset (circle/square/triangle, 4 each) whose first 5 images are suspects."""
    return reviewed_dataset(tmp_path / "data")
