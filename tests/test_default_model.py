"""The model shipped inside the package: loads safely, finds the face, answers the 4-class question."""

import json

import pytest
from PIL import Image
from skimage.data import astronaut
from typer.testing import CliRunner

from facexp.cli import app
from facexp.predict import Predictor, default_model_dir

CLASSES = ["angry", "disgust", "fear", "happy", "laughing", "neutral", "sad", "surprise"]


def test_card_and_size():
    path = default_model_dir()
    card = json.loads((path / "model.json").read_text())
    assert card["classes"] == CLASSES and card["faces"]["detector"] == "mtcnn" and card["image"]["grayscale"]
    assert (path / "model.safetensors").stat().st_size <= 20 * 1024 * 1024
    assert not list(path.glob("*.pkl"))


def test_predict_without_a_model_argument(tmp_path):
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo)
    res = CliRunner().invoke(app, ["predict", str(photo), "--json", "--classes", "happy,sad,surprise,laughing"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["faces"]) == 1
    assert set(out["probs"]) == {"happy", "sad", "surprise", "laughing"}
    assert sum(out["probs"].values()) == pytest.approx(1, abs=1e-3)


def test_the_smiling_astronaut_is_happy_or_laughing():
    result = Predictor().predict(Image.fromarray(astronaut()))
    top2 = sorted(result.probs, key=result.probs.get, reverse=True)[:2]
    assert {"happy", "laughing"} & set(top2)


def test_tta_answers_the_same_for_a_face_and_its_mirror_image():
    face = Image.fromarray(astronaut()).crop((160, 40, 280, 160))
    # fp32: in int8 a face and its mirror image round differently (1e-4 apart)
    plain, tta = Predictor(detect=False, engine="onnx-fp32"), Predictor(detect=False, tta=True, engine="onnx-fp32")
    mirrored = face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert tta.predict(face).probs == pytest.approx(tta.predict(mirrored).probs, abs=1e-5)
    assert plain.predict(face).probs != pytest.approx(plain.predict(mirrored).probs, abs=1e-5)
