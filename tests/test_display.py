"""Notebook display: every result a notebook user holds renders itself as valid, self-contained HTML
whose images decode, with or without faces, and a prediction's display never loads torch."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut, coffee

from facexp.checks import interval_text
from facexp.errors import ImageDecodeError
from facexp.predict import Predictor, predict
from facexp.predict.render import DISPLAY_SIDE, GRID_SIDE
from facexp.results import FaceResult, ImageResult, ImageResults

VOID = {"img", "br", "hr", "meta", "input", "link"}


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[Image.Image] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            src = dict(attrs)["src"]
            assert src.startswith("data:image/"), f"not inline: {src[:60]}"
            image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
            image.load()
            self.images.append(image)
        elif tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(markup: str) -> _Checker:
    """Parse ``markup``: tags nested and closed, one root element, every image inline and decodable."""
    assert isinstance(markup, str) and markup.startswith("<div") and markup.endswith("</div>")
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert checker.stack == [], f"unclosed: {checker.stack}"
    return checker


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut()).save(root / "astronaut.jpg")
    Image.fromarray(coffee()).save(root / "coffee.jpg")
    (root / "broken.jpg").write_bytes(b"<html>not an image</html>")
    return root


def test_a_result_with_faces_shows_its_photo_boxes_and_a_row_per_face(face_model, photos):
    result = Predictor(face_model).predict(photos / "astronaut.jpg")
    assert len(result.faces) == 1
    page = check_html(result._repr_html_())
    (picture,) = page.images
    assert max(picture.size) <= DISPLAY_SIDE
    text = " ".join(page.text)
    assert "astronaut.jpg" in text and "#1" in text and result.faces[0].label in text and "%" in text
    # the box is drawn: the annotated copy differs from the plain photo where the box is
    plain = result.picture()
    assert plain.size == (result.width, result.height)
    drawn = np.asarray(result.plot(), int)
    assert drawn.shape[:2] == (result.height, result.width) and np.abs(drawn - np.asarray(plain, int)).max() > 100


def test_a_result_without_faces_says_so_on_the_photo_and_in_text(face_model, photos):
    result = Predictor(face_model).predict(photos / "coffee.jpg")
    assert result.faces == []
    page = check_html(result._repr_html_())
    assert len(page.images) == 1 and "no face found" in " ".join(page.text)


def test_an_in_memory_photo_is_kept_by_reference_and_a_moved_file_does_not_break_the_display(face_model, photos,
                                                                                              tmp_path):
    image = Image.open(photos / "astronaut.jpg")
    result = Predictor(face_model).predict(image)
    assert result.path is None and result.picture().size == image.size
    assert getattr(result, "_source") is image  # a reference, not a copy
    assert len(check_html(result._repr_html_()).images) == 1
    batch = Predictor(face_model).predict_batch([image])  # many images: no pixels kept
    assert not hasattr(batch[0], "_source") and batch[0].picture() is None
    assert check_html(batch[0]._repr_html_()).images == []
    moved = tmp_path / "gone.jpg"
    shutil.copy(photos / "astronaut.jpg", moved)
    result = Predictor(face_model).predict(moved)
    moved.unlink()
    page = check_html(result._repr_html_())
    assert page.images == [] and "file not found" in " ".join(page.text)


def test_a_list_of_results_is_a_grid_with_the_unreadable_in_place(face_model, photos):
    results = predict(photos, model=face_model)  # a folder, like `facexp predict photos/`
    assert isinstance(results, ImageResults) and len(results) == 3
    assert isinstance(results[1], ImageDecodeError)  # sorted: astronaut, broken, coffee
    page = check_html(results._repr_html_())
    assert len(page.images) == 2 and all(max(i.size) <= GRID_SIDE for i in page.images)
    text = " ".join(page.text)
    assert "3 images" in text and "1 unreadable" in text and "no face" in text
    assert results.summary_lines()[1].startswith("unreadable: ")
    wrapped = ImageResults([results[0]])  # any list of results, wrapped
    assert len(check_html(wrapped._repr_html_()).images) == 1


def test_a_long_list_draws_a_bounded_number_of_pictures(photos):
    one = ImageResult(str(photos / "coffee.jpg"), 400, 400)
    page = check_html(ImageResults([one] * 60)._repr_html_())
    assert len(page.images) == 48 and "and 12 more" in " ".join(page.text)


def test_showing_predictions_loads_neither_torch_nor_matplotlib(photos):
    Predictor().predict(photos / "astronaut.jpg")  # the shipped model's graphs exported and cached (export needs torch)
    script = textwrap.dedent(f"""
        import sys
        from facexp.predict import Predictor, predict
        Predictor().predict({str(photos / 'astronaut.jpg')!r})._repr_html_()
        predict({str(photos)!r})._repr_html_()
        print(sorted(m for m in ("torch", "fastai", "matplotlib") if m in sys.modules))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_importing_facexp_prints_nothing():
    """(facexp.train and facexp.evaluate import fastai, whose own import makes torch warn about
    torch.jit.script; the notebook filters that one FutureWarning.)"""
    script = ("import facexp, facexp.results, facexp.predict, facexp.collect, facexp.faces, facexp.clean, "
              "facexp._display")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr


def test_an_evaluation_shows_numbers_confusion_and_top_losses_with_gradcam(tiny_model, shapes_dir):
    from facexp.evaluate import evaluate

    report = evaluate(tiny_model, shapes_dir)
    assert len(report.gradcams) == 8 and set(report.gradcams) == set(report.top_losses(8))
    page = check_html(report._repr_html_())
    text = " ".join(page.text)
    assert "accuracy" in text and "Confusion matrix" in text and "Grad-CAM" in text
    assert len(page.images) == 16  # each top loss: the image and its heat map
    counts = report.confusion()
    assert f">{counts[0, 0]}</td>" in report._repr_html_()
    assert evaluate(tiny_model, shapes_dir, explain=0).gradcams == {}


def test_an_evaluation_without_paths_or_faces_still_renders():
    from facexp.evaluate import EvalReport

    report = EvalReport(["happy", "sad"], np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]))
    page = check_html(report._repr_html_())
    assert page.images == [] and "accuracy" in " ".join(page.text)


def test_a_training_result_shows_its_history_plot(tiny_model, tmp_path):
    from facexp.train.fit import _written_result

    result = _written_result(tiny_model.parent)
    page = check_html(result._repr_html_())
    (plot,) = page.images
    assert plot.format == "PNG" and plot.width > 300
    assert "valid accuracy" in " ".join(page.text) and len(result.history) >= 1
    n_valid = result.card["training"]["n_valid"]
    assert interval_text(result.metrics["valid_accuracy"], n_valid) in " ".join(page.text)  # how far to trust it
    copy = tmp_path / "run"  # training.png gone: drawn again from the history
    shutil.copytree(tiny_model, copy / "model")
    assert len(check_html(_written_result(copy)._repr_html_()).images) == 1


def test_clean_suspects_show_as_a_grid(tmp_path):
    from facexp.clean.find import CleanReport
    from facexp.clean.rank import Suspect

    for k, label in enumerate(("happy", "sad")):
        (tmp_path / label).mkdir()
        Image.new("RGB", (48, 48), (40 * k, 90, 120)).save(tmp_path / label / "a.png")
    suspects = [Suspect(1, "happy/a.png", "happy", "sad", 0.93, ("label issue",)),
                Suspect(2, "sad/a.png", "sad", "", 0.97, ("no face found",)),
                Suspect(3, "sad/moved.png", "sad", "happy", 0.5, ("duplicate",))]
    report = CleanReport(tmp_path, ["happy", "sad"], 2, 2, "cv-head", suspects, tmp_path / "clean_suspects.csv", 1.0)
    page = check_html(report._repr_html_())
    text = " ".join(page.text)
    assert len(page.images) == 2 and "not readable" in text  # the moved file: a grey box, no exception
    assert "3 suspects" in text and "label issue" in text and "no face found" in text
    assert min(min(i.size) for i in page.images) >= 96  # 48 px crops enlarged so a face can be seen
