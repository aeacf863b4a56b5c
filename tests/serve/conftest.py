"""Fixtures for the server tests: the real astronaut photo and a predictor on the tiny face model."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from skimage.data import astronaut

from facexp.predict import Predictor


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    """scikit-image's astronaut: a real 512x512 photo with one face."""
    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="session")
def predictor(face_model) -> Predictor:
    """The tiny shapes model marked as a face model, so the real face detector runs on every photo."""
    return Predictor(face_model)
