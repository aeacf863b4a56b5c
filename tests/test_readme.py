"""README's promises that code can check: its Python API block runs, its examples use the shipped
model's class names, and the package metadata installs without warnings."""

from __future__ import annotations

import base64
import functools
import io
import json
import re
import tomllib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.data import astronaut

from helpers import make_shape

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_api_block() -> str:
    section = README.split("### Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def url_lists(root: Path, n_per_class: int = 20) -> None:
    """happy.txt, sad.txt, surprise.txt as a browser export would be, the images as ``data:`` URIs
    (collect decodes them without network): a circle is happy, a square sad, a triangle surprise."""
    rng = np.random.default_rng(0)
    for label, shape in (("happy", "circle"), ("sad", "square"), ("surprise", "triangle")):
        lines = []
        for _ in range(n_per_class):
            buf = io.BytesIO()
            make_shape(shape, rng).save(buf, "PNG")
            lines.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode())
        (root / f"{label}.txt").write_text("\n".join(lines) + "\n")


def test_the_python_api_block_runs(tmp_path, monkeypatch, capsys):
    """The block as written, on generated data; only the network and its schedule are swapped for tiny ones."""
    import facexp.train
    from facexp.train import TrainConfig

    monkeypatch.chdir(tmp_path)
    Image.fromarray(astronaut()).save("photo.jpg")
    url_lists(tmp_path)
    tiny = functools.partial(TrainConfig, arch="tiny_cnn", pretrained=False, init_from=None, epochs=2, size=32,
                             bs=16, lr=1e-2)
    monkeypatch.setattr(facexp.train, "TrainConfig", tiny)
    exec(compile(python_api_block(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert re.search(r"^60 ok, 0 failed", out, re.M)  # collected
    assert re.search(r"^60 photos: .*60 crops", out, re.M)  # every shape kept whole as a face-sized crop
    assert re.search(r"^\d+ suspects among 60 images", out, re.M)
    assert (tmp_path / "runs" / "mine" / "model" / "model.json").is_file()
    assert re.search(r"^accuracy \d\.\d\d \[", out, re.M) and (tmp_path / "runs/mine/report/report.html").is_file()
    assert re.search(r"^#1 \(\d+, \d+, \d+, \d+\) \w+ \d+%$", out, re.M)  # the astronaut's face
    lines = re.findall(r"^(?:photo\.jpg|data/raw/happy/\S+): .*$", out, re.M)
    assert len(lines) == 21 and lines[0].startswith("photo.jpg: 1 face:")  # the photo, then 20 happy images


def test_examples_use_the_shipped_model_class_names():
    classes = json.loads((ROOT / "src/facexp/default_model/model.json").read_text())["classes"]
    journey = README.split("## The journey", 1)[1].split("```")[1]
    lists = re.findall(r"(\w+)\.txt", journey)
    assert lists and set(lists) <= set(classes), f"{lists} vs the shipped model's {classes}"


def test_project_license_is_an_spdx_expression():
    """setuptools warns about the old `license = {text = ...}` table (PEP 639)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
