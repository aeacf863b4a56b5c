import json
import warnings

import pytest
from PIL import Image
from skimage.data import astronaut, coffee
from typer.testing import CliRunner

from facexp.cli import app
from facexp.errors import ConfigError
from facexp.predict import Predictor

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
    assert "1 image(s) not used" in res.stdout
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
