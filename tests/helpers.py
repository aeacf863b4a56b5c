"""Helpers shared by the tests (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(page, expression: str, timeout_s: float = 30.0):
    """Poll ``expression`` in a playwright page until it is truthy; returns its value.

    (``wait_for_function`` would need 'unsafe-eval', which the pages' CSP forbids.)
    """
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if value := page.evaluate(expression):
            return value
        time.sleep(0.05)
    raise AssertionError(f"{expression} stayed false for {timeout_s}s")


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or a pytest skip naming what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not on this machine (../shared/data holds the real datasets)")
    return path


def make_shape(label: str, rng: np.random.Generator, size: int = 64) -> Image.Image:
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 90, 3)))
    draw = ImageDraw.Draw(img)
    cx, cy = rng.integers(size // 4, 3 * size // 4, 2)
    r = int(rng.integers(size // 8, size // 5))
    box = [cx - r, cy - r, cx + r, cy + r]
    if label == "circle":
        draw.ellipse(box, fill=(255, 255, 255))
    elif label == "square":
        draw.rectangle(box, fill=(255, 255, 255))
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=(255, 255, 255))
    return img


def make_shapes_dataset(root: Path, n_per_class: int = 24, classes=("circle", "square", "triangle"), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label in classes:
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            make_shape(label, rng).save(root / label / f"{label}_{i:03d}.png")
    return root


def make_colour_soft_manifest(root: Path, n: int = 48, classes=("red", "green", "blue"), seed: int = 0) -> Path:
    """An easy soft-label task: noisy images tinted by one channel, whose votes favour that colour.

    Writes ``root/soft.csv`` (path, split, one vote-count column per class in ``classes``' order,
    a ``_note`` column) and returns its path; every fourth image is marked valid.
    """
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    lines = ["path,split," + ",".join(classes) + ",_note"]
    for i in range(n):
        k = i % len(classes)
        arr = rng.integers(0, 60, (16, 16, 3))
        arr[..., "rgb".index(classes[k][0])] += 150
        Image.fromarray(arr.astype(np.uint8)).save(root / "img" / f"{i:03d}.png")
        votes = rng.integers(0, 3, len(classes))
        votes[k] += 5  # a clear majority for the image's colour
        split = "valid" if i % 4 == 0 else "train"
        lines.append(f"img/{i:03d}.png,{split}," + ",".join(map(str, votes)) + f",tint {classes[k]}")
    (root / "soft.csv").write_text("\n".join(lines) + "\n")
    return root / "soft.csv"
