"""Shared fixtures: generated images (no ../shared needed) and one tiny trained model per session."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from helpers import make_shapes_dataset

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The tiny trainings below are seeded, but float sums split across threads change their course: one
# thread makes them the same on every machine (on this one, 2 threads left a 12-epoch run at 0.43
# validation accuracy where 1 thread reached 0.5).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, shapes_dir) -> Path:
    """A tiny_cnn bundle trained for a few seconds on the shapes (whole-image model)."""
    from facexp.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny_run")
    # Plain cross-entropy, no augmentation and 30 epochs of 8-image batches: with 4 epochs of 16 (16 steps)
    # the run ended at chance on some machines (one thread, yet other kernels); this recipe scored
    # 0.67-0.83 on these shapes for seeds 1-5 on such a machine.
    cfg = TrainConfig(arch="tiny_cnn", pretrained=False, epochs=30, size=32, bs=8, lr=1e-2, seed=1, balance="none",
                      label_smoothing=0.0, augment=False)
    return train(shapes_dir, out, cfg).bundle_dir


@pytest.fixture(scope="session")
def face_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny bundle marked as trained on face crops (FaceSettings defaults), so it detects faces."""
    target = tmp_path_factory.mktemp("face_model") / "model"
    shutil.copytree(tiny_model, target)
    card = json.loads((target / "model.json").read_text())
    card["faces"] = {}
    (target / "model.json").write_text(json.dumps(card))
    return target
