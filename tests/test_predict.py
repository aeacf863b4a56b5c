import io
import json
import re
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut, coffee
from typer.testing import CliRunner

from facexp.cli import app
from facexp.errors import ConfigError
from facexp.faces import draw_faces
from facexp.predict import Predictor, named_inputs
from facexp.predict.render import annotate

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut()).save(root / "astronaut.jpg")
    Image.fromarray(coffee()).save(root / "coffee.jpg")
    return root


def test_per_face_prediction_on_a_real_photo(face_model, photos):
    result = Predictor(face_model).predict(photos / "astronaut.jpg")
    assert len(result.faces) == 1
    x, y, w, h = result.faces[0].box
    assert 150 < x + w / 2 < 280 and result.faces[0].score > 0.9
    assert result.label == result.faces[0].label and set(result.probs) == {"circle", "square", "triangle"}
    assert result.timings_ms["faces"] > 0


def test_no_face_is_a_result_not_an_error(face_model, photos):
    result = Predictor(face_model).predict(photos / "coffee.jpg")
    assert result.faces == [] and result.to_dict()["label"] is None


def test_large_jpegs_are_decoded_smaller_and_answered_in_full_size(face_model, tiny_model, photos, tmp_path, monkeypatch):
    """A 12-megapixel photo is decoded at half scale to find its faces; boxes come back in its own pixels."""
    from facexp.predict import predictor as predictor_module

    big = tmp_path / "big.jpg"
    Image.fromarray(astronaut()).resize((4096, 4096)).save(big, quality=90)
    decoded = []
    reduced = predictor_module.open_image_reduced

    def spy(*args, **kwargs):
        image, full = reduced(*args, **kwargs)
        decoded.append(image.size)
        return image, full

    monkeypatch.setattr(predictor_module, "open_image_reduced", spy)
    small = Predictor(face_model).predict(photos / "astronaut.jpg").faces[0].box
    result = Predictor(face_model).predict(big)
    assert decoded[-1] == (2048, 2048) and (result.width, result.height) == (4096, 4096)
    x, y, w, h = result.faces[0].box
    assert abs(x - 8 * small[0]) < 64 and abs(y - 8 * small[1]) < 64 and abs(w - 8 * small[2]) < 96
    whole = Predictor(tiny_model).predict(big)  # no faces to find: decoded whole, as it was trained
    assert decoded[-1] == (4096, 4096) and whole.faces[0].box == (0, 0, 4096, 4096)


def test_whole_image_models_do_not_detect_unless_asked(tiny_model, photos):
    assert Predictor(tiny_model).predict(photos / "astronaut.jpg").faces[0].box == (0, 0, 512, 512)
    assert Predictor(tiny_model, detect=True).predict(photos / "astronaut.jpg").faces[0].box != (0, 0, 512, 512)


def test_unknown_subset_class_is_a_config_error(tiny_model):
    with pytest.raises(ConfigError, match="it knows"):
        Predictor(tiny_model, classes=["happy"])


def test_cli_json_faces_and_annotate(face_model, photos, tmp_path):
    res = runner.invoke(app, ["predict", "--model", str(face_model), str(photos), "--json", "--annotate", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = {json.loads(line)["path"].split("/")[-1]: json.loads(line) for line in res.stdout.splitlines()}
    assert rows["coffee.jpg"]["faces"] == []
    face = rows["astronaut.jpg"]["faces"][0]
    assert set(face) == {"box", "score", "label", "probs"} and len(face["box"]) == 4
    drawn = Image.open(tmp_path / "astronaut.jpg")
    assert drawn.size == (512, 512)


def test_train_on_raw_photos_with_detect_faces(photos, tmp_path):
    raw = tmp_path / "raw"
    for label, flip in (("left", False), ("right", True)):
        (raw / label).mkdir(parents=True)
        for i in range(4):
            img = Image.fromarray(astronaut()).rotate(i * 4 - 6)
            (img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img).save(raw / label / f"{i}.jpg")
    args = ["train", str(raw), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn", "--no-pretrained", "--epochs", "1",
            "--size", "32", "--lr", "0.01", "--detect-faces", "-q", "--valid-pct", "0.25"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert card["faces"]["detector"] == "mtcnn"
    assert len(list((tmp_path / "run" / "faces").rglob("*.png"))) == 8
    assert Predictor(tmp_path / "run" / "model").detect


def _group_photo(astro: Image.Image, n: int = 4) -> Image.Image:
    """The astronaut's head pasted ``n`` times, at several scales, on a plain canvas."""
    canvas = Image.new("RGB", (1000, 420), (200, 205, 210))
    head = astro.crop((140, 20, 310, 220))
    for k, scale in enumerate((1.0, 0.8, 1.2, 0.9)[:n]):
        piece = head.resize((round(head.width * scale), round(head.height * scale)), Image.BICUBIC)
        canvas.paste(piece, (20 + 240 * k, 40))
    return canvas


def test_faces_then_train_then_predict_finds_every_face(tmp_path):
    """`facexp faces RAW OUT` then `facexp train OUT`: the face settings travel into model.json."""
    astro = Image.fromarray(astronaut())
    raw = tmp_path / "raw"
    for label, flip in (("left", False), ("right", True)):
        (raw / label).mkdir(parents=True)
        for i in range(4):
            img = astro.rotate(i * 4 - 6)
            (img.transpose(Image.FLIP_LEFT_RIGHT) if flip else img).save(raw / label / f"{i}.jpg")
    Image.fromarray(coffee()).save(raw / "left" / "coffee.jpg")  # no face: reported, not silently dropped
    res = runner.invoke(app, ["faces", str(raw), str(tmp_path / "crops")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "crops" / "faces.json").exists() and "coffee.jpg" in res.output
    res = runner.invoke(app, ["train", str(tmp_path / "crops"), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn",
                              "--no-pretrained", "--epochs", "1", "--size", "32", "--lr", "0.01", "-q",
                              "--valid-pct", "0.25"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert card["faces"]["detector"] == "mtcnn" and card["faces"]["size"] == 48
    data = card["training"]["data"]
    assert data["n_skipped"] == 1 and data["skipped"][0]["path"].endswith("coffee.jpg")
    assert "1 image not used" in res.stdout
    _group_photo(astro).save(tmp_path / "group.jpg")
    result = Predictor(tmp_path / "run" / "model").predict(tmp_path / "group.jpg")
    assert len(result.faces) == 4
    res = runner.invoke(app, ["predict", "--model", str(tmp_path / "run" / "model"), str(tmp_path / "group.jpg"), "--json"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)["faces"]) == 4


def test_whole_image_models_warn_about_much_larger_photos(tiny_model, photos):
    card = json.loads((tiny_model / "model.json").read_text())
    assert card["training"]["source_images"]["max_side"] == 64  # the shapes are 64 px
    with pytest.warns(UserWarning, match="much larger than the images.*--detect"):
        Predictor(tiny_model).predict(photos / "astronaut.jpg")  # 512 px > 4 x 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Predictor(tiny_model, detect=False).predict(photos / "astronaut.jpg")  # asked for: no warning
        Predictor(tiny_model).predict(Image.new("RGB", (200, 200)))  # not much larger


def test_table_names_photos_and_keeps_each_face_on_one_line_at_80_columns(face_model, photos, tmp_path):
    deep = tmp_path / "a-rather-long-folder-name" / "and-another-level-below-it"
    deep.mkdir(parents=True)
    for name in ("astronaut.jpg", "coffee.jpg"):
        (deep / name).write_bytes((photos / name).read_bytes())
    Image.fromarray(astronaut()).crop((0, 90, 512, 512)).save(deep / "cut-off.jpg")  # MTCNN: y = -63
    res = runner.invoke(app, ["predict", "--model", str(face_model), str(deep), "--annotate", str(tmp_path / "ann")],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = {line.split()[0]: line for line in lines if line.strip().endswith(("%", "no face")) or "#1" in line}
    assert set(rows) == {"astronaut.jpg", "coffee.jpg", "cut-off.jpg"}  # names, not /tmp/… prefixes
    assert re.search(r"#1 \d+,\d+,\d+,\d+ ", rows["astronaut.jpg"]) and "no face" in rows["coffee.jpg"]
    assert re.search(r"#1 \d+,0,\d+,\d+ ", rows["cut-off.jpg"])  # the box is cut to the photo


def test_boxes_are_cut_to_the_photo(face_model):
    photo = Image.fromarray(astronaut()).crop((0, 90, 512, 512))
    (face,) = Predictor(face_model).predict(photo).faces
    x, y, w, h = face.box
    assert y == 0 and h > 50 and 0 <= x and x + w <= photo.width and y + h <= photo.height


def test_annotated_copies_number_faces_and_mark_photos_without_one(face_model, photos, tmp_path):
    res = runner.invoke(app, ["predict", "--model", str(face_model), str(photos), "--annotate", str(tmp_path)])
    assert res.exit_code == 0, res.output
    coffee_in = np.asarray(Image.open(photos / "coffee.jpg").convert("RGB"), int)
    coffee_out = np.asarray(Image.open(tmp_path / "coffee.jpg"), int)
    changed = np.abs(coffee_out - coffee_in).sum(axis=2) > 60
    assert changed[:40, :120].mean() > 0.3 and changed[60:].mean() < 0.01  # a 'no face' tag top left, nothing else
    result = Predictor(face_model).predict(photos / "astronaut.jpg")
    astro = Image.open(photos / "astronaut.jpg")
    face = result.faces[0]
    numbered = np.asarray(annotate(astro, result), int)
    plain = np.asarray(draw_faces(astro, [face.box], [f"{face.label} {face.confidence:.0%}"]), int)
    assert (np.abs(numbered - plain).sum(axis=2) > 0).any()  # the tag reads '#1 label NN%'


def test_named_inputs_are_relative_to_what_was_typed(tmp_path, monkeypatch):
    for name in ("a/same.png", "a/deeper/y.png", "b/same.png", "b/deeper/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    names = [name for _, name in named_inputs([str(tmp_path / "a"), "b/same.png", "b/*/x.png"])]
    # a folder: relative to it; a file: its name; a glob: relative to its fixed part; two same.png: full paths
    assert names == ["deeper/y.png", str(tmp_path / "a" / "same.png"), "b/same.png", "deeper/x.png"]


@pytest.mark.parametrize("width, runner_up", [(120, True), (80, False)])
def test_table_fits_the_terminal_dropping_the_runner_up_first(width, runner_up):
    from rich.console import Console

    from facexp.results import FaceResult, ImageResult
    from facexp.predict.render import results_table

    probs = {"happy": 0.7, "laughing": 0.2, "sad": 0.1}
    results = [ImageResult("p", 2000, 2000, [FaceResult((1200, 33, 400, 420), 1.0, "happy", probs)])]
    name = "a-long-name-of-a-photo-straight-from-the-phone-2024-01-01.jpg"
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(results_table(results, [name], width=width))
    text = console.export_text()
    assert ("laughing 20%" in text) is runner_up
    assert "#1 1200,33,400,420" in text and "2024-01-01.jpg" in text and "…" not in text  # folded, never cut
    assert max(map(len, text.splitlines())) <= width
