"""int8 inference: built from shipped activation ranges, used only where it is safe, fp32 whenever it cannot be."""

import json
import logging
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage.data import astronaut

from facexp import engines, int8
from facexp.bundle import load_bundle, read_card, write_card
from facexp.errors import ModelError
from facexp.predict import Predictor, default_model_dir
from facexp.preprocess import to_array

needs_dot_products = pytest.mark.skipif(not int8.dot_product_cpu(),
                                        reason="this CPU has no int8 dot-product instructions (VNNI / dotprod)")


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(engines.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def astronaut_crops():
    result, crops = Predictor(engine="onnx-fp32").predict_with_crops(Image.fromarray(astronaut()))
    assert len(crops) == 1
    return crops


def crops_of_faces(crops: list[Image.Image]) -> list[Image.Image]:
    """The real face, shifted, mirrored, darkened: inputs across the range the network meets."""
    face = crops[0]
    w, h = face.size
    views = [face, face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), face.point(lambda v: v * 0.6)]
    views += [face.crop((dx, dy, dx + w - 6, dy + h - 6)).resize((w, h)) for dx in (0, 6) for dy in (0, 6)]
    return views


@needs_dot_products
def test_the_default_runs_int8_and_answers_like_fp32(astronaut_crops):
    quantised, full = Predictor(), Predictor(engine="onnx-fp32")
    assert (quantised.engine.precision, full.engine.precision) == ("int8", "fp32")
    assert quantised.engine.name == "onnx" and full.engine.name == "onnx-fp32"
    views = crops_of_faces(astronaut_crops)
    p8, p32 = quantised.classify(views), full.classify(views)
    assert (p8.argmax(1) == p32.argmax(1)).all()
    assert np.abs(p8 - p32).max() < 0.05


@needs_dot_products
def test_building_the_int8_graph_shows_the_user_none_of_onnx_runtimes_quantiser_warnings(own_cache, caplog):
    with caplog.at_level(logging.INFO):
        assert Predictor().engine.precision == "int8"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    # ONNX Runtime's quantiser warns on the root logger; the filter is gone once the graph is built
    logging.getLogger().warning("Axis 1 is out-of-range for weight 'w' with rank 1")
    assert "out-of-range" in caplog.text


def test_a_model_without_ranges_or_a_cpu_without_dot_products_runs_fp32(face_model, tmp_path, monkeypatch, own_cache):
    target = tmp_path / "model"
    shutil.copytree(face_model, target, ignore=shutil.ignore_patterns(int8.RANGES_FILE))
    card = read_card(target)
    card.pop("int8", None)
    write_card(target, card)
    assert Predictor(target).engine.precision == "fp32"
    monkeypatch.setattr(int8, "dot_product_cpu", lambda: False)
    assert Predictor().engine.precision == "fp32"


def test_training_measures_int8_ranges_and_keeps_them_only_if_as_accurate(face_model):
    """``facexp train`` calibrates every model it writes (conftest's tiny model is one)."""
    record = read_card(face_model)["training"]["int8"]
    if not int8.dot_product_cpu():
        assert record["kept"] is False and "dot-product" in record["why"]
        return
    valid = record["validation"]["valid"]
    n = valid["n"]
    assert record["kept"] == (round(valid["int8"] * n) >= round(valid["fp32"] * n) - max(0.01 * n, 1))
    assert (face_model / int8.RANGES_FILE).is_file() == record["kept"] == ("int8" in read_card(face_model))
    assert Predictor(face_model, detect=False).engine.precision == ("int8" if record["kept"] else "fp32")


def crops_for(bundle, scale: float = 1.0) -> np.ndarray:
    photos = [Image.fromarray(astronaut()).rotate(a).resize((96, 96)) for a in range(0, 360, 10)]
    return to_array(photos, bundle.image) * np.float32(scale)


@pytest.fixture
def model_copy(face_model, tmp_path):
    """A copy of the tiny model to change, its bundle, and 36 rotations of a real face as its input."""
    target = tmp_path / "model"
    shutil.copytree(face_model, target)
    bundle = load_bundle(target)
    return target, bundle, crops_for(bundle)


@needs_dot_products
def test_calibrate_bundle_keeps_ranges_that_agree_and_drops_ranges_that_lose_accuracy(model_copy, own_cache, capfd):
    target, _, x = model_copy
    truth = Predictor(target, detect=False, engine="onnx-fp32").engine(x).argmax(1)  # fp32 is right on all of them
    capfd.readouterr()
    record = int8.calibrate_bundle(target, x, {"rotations": (x, truth)}, "36 rotations of the astronaut")
    assert capfd.readouterr().out == ""  # ONNX Runtime's calibrator prints its progress: not on the user's stdout
    assert record["kept"] and record["validation"]["rotations"]["fp32"] == 1.0
    assert (target / int8.RANGES_FILE).stat().st_mode & 0o044 == 0o044  # readable by others, as package data
    assert read_card(target)["int8"]["calibration"] == "36 rotations of the astronaut"
    quantised = Predictor(target, detect=False)
    assert quantised.engine.precision == "int8"
    assert (quantised.engine(x).argmax(1) == truth).mean() == record["validation"]["rotations"]["int8"]

    # ranges measured on inputs 1,000 times too large leave a few levels for real activations: dropped
    record = int8.calibrate_bundle(target, x * 1000, {"rotations": (x, truth)}, "wrong scale")
    assert not record["kept"] and record["validation"]["rotations"]["int8"] < 0.9
    assert not (target / int8.RANGES_FILE).exists() and "int8" not in read_card(target)
    assert Predictor(target, detect=False).engine.precision == "fp32"


@needs_dot_products
def test_ranges_that_do_not_fit_the_export_or_are_missing_run_fp32_with_a_warning(model_copy, own_cache, caplog):
    target, bundle, x = model_copy
    ranges = target / int8.RANGES_FILE
    int8.calibrate(engines.onnx_graph(bundle), x, ranges)
    card = read_card(target)
    card["int8"] = {"ranges": int8.RANGES_FILE}
    write_card(target, card)
    assert Predictor(target, detect=False).engine.precision == "int8"

    data = json.loads(ranges.read_text())  # ranges naming another export's tensors
    data["data"] = {"other/" + name: value for name, value in data["data"].items()}
    ranges.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert Predictor(target, detect=False).engine.precision == "fp32"
    assert "no int8 graph from these ranges" in caplog.text and str(ranges) in caplog.text

    ranges.unlink()  # a damaged copy: the card names ranges that are not there
    with caplog.at_level(logging.WARNING):
        assert Predictor(target, detect=False).engine.precision == "fp32"
    assert "which are missing" in caplog.text


def test_an_int8_graph_that_answers_otherwise_is_refused():
    from onnx import TensorProto, helper

    def graph(scale: float) -> bytes:
        node = helper.make_node("Mul", ["image", "k"], ["scaled"])
        pool = helper.make_node("GlobalMaxPool", ["scaled"], ["pooled"])
        flat = helper.make_node("Flatten", ["pooled"], ["logits"])
        g = helper.make_graph([node, pool, flat], "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, 8, 8])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor("k", TensorProto.FLOAT, [1, 3, 1, 1], [scale, -scale, 0.0])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

    int8.check(graph(1.0), graph(1.0), 8)
    with pytest.raises(ModelError, match="differ from fp32"):
        int8.check(graph(1.0), graph(20.0), 8)


def test_the_card_names_a_ranges_file_beside_the_weights_never_a_path(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(default_model_dir(), target)
    card = read_card(target)
    card["int8"] = {"ranges": "../../etc/ranges.json"}
    (target / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="int8"):
        load_bundle(target)


def test_export_int8_writes_a_second_file_that_answers_like_fp32_and_refuses_a_model_without_ranges(model_copy,
                                                                                                    tmp_path):
    import onnxruntime as ort
    from typer.testing import CliRunner

    from facexp.cli import app

    runner = CliRunner()
    target, bundle, x = model_copy
    if "int8" not in read_card(target):  # training did not keep ranges for this tiny model: measure some
        int8.calibrate(engines.onnx_graph(bundle), x, target / int8.RANGES_FILE)
        write_card(target, {**read_card(target), "int8": {"ranges": int8.RANGES_FILE}})
    res = runner.invoke(app, ["export", str(target), "--int8"])
    assert res.exit_code == 0, res.output
    assert f"wrote {target / 'model.int8.onnx'}" in res.stdout
    sessions = [ort.InferenceSession(str(target / name), providers=["CPUExecutionProvider"])
                for name in ("model.onnx", "model.int8.onnx")]
    assert sessions[1].get_modelmeta().custom_metadata_map["precision"] == "int8"
    assert json.loads(sessions[1].get_modelmeta().custom_metadata_map["classes"]) == bundle.classes
    if int8.dot_product_cpu():  # elsewhere ONNX Runtime's int8 kernels may saturate
        fp32, quantised = (s.run(None, {"image": x})[0].argmax(1) for s in sessions)
        assert (fp32 == quantised).mean() >= 0.9

    card = read_card(target)
    del card["int8"]
    write_card(target, card)
    res = runner.invoke(app, ["export", str(target), "--int8", "--out", str(tmp_path / "again.onnx")])
    assert res.exit_code != 0 and "has no int8 ranges" in res.output and "Traceback" not in res.output


def test_an_onnxruntime_without_calibration_caches_runs_fp32_and_training_says_why(face_model, tmp_path, monkeypatch,
                                                                                  own_cache, caplog):
    monkeypatch.setattr(int8, "ranges_readable", lambda: False)
    monkeypatch.setattr(int8, "dot_product_cpu", lambda: True)
    target = tmp_path / "model"
    shutil.copytree(default_model_dir(), target)
    with caplog.at_level(logging.WARNING):
        assert Predictor(target).engine.precision == "fp32"
    assert "cannot read int8 ranges" in caplog.text
    with pytest.raises(ModelError, match="upgrade onnxruntime"):
        int8.calibrate_bundle(target, np.zeros((1, 3, 96, 96), np.float32), {}, "none")
