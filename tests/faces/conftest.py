"""Fixtures for the faces stage: the astronaut photo and a collage of it, one torch thread."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from skimage.data import astronaut

from faces_helpers import make_collage


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread per faces test module, restored after: on 2 cores shared with a training run,
    two threads make MTCNN up to 20x slower (see benchmarks/results/faces.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def astro() -> Image.Image:
    """A real public-domain photo with one face (Eileen Collins)."""
    return Image.fromarray(astronaut())


@pytest.fixture(scope="session")
def collage(astro) -> Image.Image:
    return make_collage(astro)
