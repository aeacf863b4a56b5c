"""Inference engines: ONNX Runtime agrees with PyTorch, the graph is cached, and prediction needs no fastai."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import astronaut, coffee
from typer.testing import CliRunner

from facexp import engines, int8, nets
from facexp.backbones import build_model
from facexp.bundle import load_bundle
from facexp.cli import app
from facexp.errors import ConfigError, ImageDecodeError
from facexp.predict import Predictor, default_model_dir
from facexp.preprocess import to_tensor

runner = CliRunner()


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(engines.CACHE_ENV, str(cache))
    return cache


@pytest.fixture(scope="module")
def astronaut_crops():
    """The real face of skimage's astronaut, found and cropped as the default model expects."""
    result, crops = Predictor(engine="torch").predict_with_crops(Image.fromarray(astronaut()))
    assert len(crops) == 1
    return crops


@pytest.mark.parametrize("arch", sorted(nets.INFERENCE_ARCHS))
def test_inference_network_is_the_training_network(arch):
    ours, fastai_built = nets.build_network(arch, 8), build_model(arch, 8, pretrained=False)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in fastai_built.state_dict().items()]
    assert repr(ours) == repr(fastai_built)
    ours.load_state_dict(fastai_built.state_dict(), strict=True)
    ours.eval(), fastai_built.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), fastai_built(x))


def test_onnx_matches_pytorch_on_a_real_face(astronaut_crops):
    ort_pred, torch_pred = Predictor(engine="onnx-fp32"), Predictor(engine="torch")
    x = to_tensor(astronaut_crops * 3, ort_pred.bundle.image).numpy()
    assert np.abs(ort_pred.engine(x) - torch_pred.engine(x)).max() < 1e-4
    assert np.abs(ort_pred.classify(astronaut_crops) - torch_pred.classify(astronaut_crops)).max() < 1e-4
    tta_ort, tta_torch = Predictor(engine="onnx-fp32", tta=True), Predictor(engine="torch", tta=True)
    assert np.abs(tta_ort.classify(astronaut_crops) - tta_torch.classify(astronaut_crops)).max() < 1e-4


def test_graph_is_exported_once_and_reused(face_model, own_cache, monkeypatch):
    first = Predictor(face_model)
    graphs = list((own_cache / "onnx").glob("*.onnx"))  # fp32, and int8 where it runs (test_int8)
    assert len(graphs) == (2 if first.engine.precision == "int8" else 1) and first.engine.graph in graphs
    assert not list((own_cache / "onnx").glob(".*"))  # no temporary file left behind

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(engines, "export_graph", no_export)
    monkeypatch.setattr(int8, "quantise", no_export)
    second = Predictor(face_model)
    assert second.engine.graph == first.engine.graph
    assert not second.bundle.model_loaded  # the PyTorch network was never built
    photo = Image.fromarray(astronaut())
    assert second.predict(photo).probs == pytest.approx(first.predict(photo).probs, abs=1e-6)


def test_changed_weights_or_card_get_a_new_graph(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    key = engines.graph_key(load_bundle(copy, lazy=True))
    card = json.loads((copy / "model.json").read_text())
    card["temperature"] = 0.5
    (copy / "model.json").write_text(json.dumps(card))
    assert engines.graph_key(load_bundle(copy, lazy=True)) != key
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    card["temperature"] = 1.0
    (copy / "model.json").write_text(json.dumps(card))
    assert engines.graph_key(load_bundle(copy, lazy=True)) != key


def test_unwritable_cache_keeps_the_graph_in_memory(tiny_model, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(engines.CACHE_ENV, str(blocker))
    predictor = Predictor(tiny_model, detect=False)
    assert isinstance(predictor.engine.graph, bytes)
    assert predictor.predict(Image.fromarray(coffee())).faces


def test_engine_choice_and_refusal(face_model, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo)
    answers = {}
    for engine in ("onnx", "torch"):
        res = runner.invoke(app, ["predict", str(face_model), str(photo), "--json", "--engine", engine])
        assert res.exit_code == 0, res.output
        answers[engine] = json.loads(res.stdout)["faces"][0]["probs"]
    assert answers["torch"] == pytest.approx(answers["onnx"], abs=1e-3)
    assert Predictor(face_model, engine="torch").engine.name == "torch"
    with pytest.raises(ConfigError, match="engine parameter must be one of onnx, onnx-fp32, torch"):
        Predictor(face_model, engine="tensorrt")


def test_predict_batch_equals_one_at_a_time_and_keeps_bad_files(face_model, tmp_path):
    photo, empty, bad = tmp_path / "a.jpg", tmp_path / "c.jpg", tmp_path / "bad.jpg"
    Image.fromarray(astronaut()).save(photo)
    Image.fromarray(coffee()).save(empty)
    bad.write_bytes(b"not an image")
    predictor = Predictor(face_model)
    batch = predictor.predict_batch([photo, bad, empty, photo])
    assert isinstance(batch[1], ImageDecodeError)
    assert batch[2].faces == [] and batch[0].probs == pytest.approx(predictor.predict(photo).probs, abs=1e-5)
    assert batch[3].probs == pytest.approx(batch[0].probs, abs=1e-5)
    assert [r.path for r in predictor.predict_iter([photo, empty, photo], batch_size=2)] == [str(photo), str(empty),
                                                                                             str(photo)]
    with pytest.raises(ImageDecodeError):
        list(predictor.predict_iter([photo, bad]))


def test_prediction_paths_do_not_import_fastai(face_model, tmp_path):
    """`from facexp import Predictor`, `facexp predict`, `facexp serve` and `facexp export` run without fastai;
    with the graphs (classifier and face detector) already cached, not even torch is imported: a cold
    `facexp predict photo.jpg` then starts in well under a second instead of 2-3."""
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo)
    Predictor().predict(str(photo))  # make sure the default model's and the detector's graphs are in the cache
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(astronaut()).save(photo)
    script = textwrap.dedent(f"""
        import io, sys
        from facexp import Predictor
        assert Predictor().predict({str(photo)!r}).faces
        from facexp.cli import app
        app(["predict", {str(photo)!r}, "--json"], standalone_mode=False)
        print("torch:", "torch" in sys.modules)
        from fastapi.testclient import TestClient
        from facexp.serve.app import create_app
        from facexp.serve.settings import ServeSettings
        with TestClient(create_app(ServeSettings())) as client:
            res = client.post("/v1/predict", files={{"file": ("a.jpg", open({str(photo)!r}, "rb").read())}})
            assert res.status_code == 200 and res.json()["count"] == 1, res.text
        print("heavy:", sorted(m for m in ("fastai", "timm") if m in sys.modules))
        app(["export", {str(face_model)!r}, "--out", {str(tmp_path / "m.onnx")!r}], standalone_mode=False)
        print("after export:", "fastai" in sys.modules)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "torch: False" in out.stdout, out.stdout[-2000:]
    assert "heavy: []" in out.stdout and "after export: False" in out.stdout, out.stdout[-2000:]


def test_export_prints_its_check_and_the_onnx_file_alone_says_how_to_use_it(face_model, tmp_path, monkeypatch):
    """`facexp export default` like the other verbs; classes, input and face settings in metadata_props,
    read here with ONNX Runtime alone, as a program in another language would."""
    import onnxruntime as ort

    import facexp.predict

    monkeypatch.setattr(facexp.predict, "default_model_dir", lambda: face_model)  # the shipped one takes 10 s
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["export", "default"])
    assert res.exit_code == 0, res.output
    assert re.search(r"largest logit difference \d\.\de-\d\d \(limit 1e-04\)", res.stdout)
    session = ort.InferenceSession(str(tmp_path / "default.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    card = json.loads((face_model / "model.json").read_text())
    assert json.loads(meta["classes"]) == card["classes"] and int(meta["input_size"]) == card["image"]["size"]
    assert json.loads(meta["mean"]) == pytest.approx(card["image"]["mean"]) and meta["colour_mode"] in ("rgb", "gray")
    assert json.loads(meta["faces"])["detector"] == "mtcnn"  # the card's {} written out in full
    assert float(meta["check_max_abs_diff"]) < 1e-4


@pytest.mark.parametrize("size", [96, 57])
def test_tensorflow_same_padding_exports_as_conv_pads_not_pad_nodes(size):
    """timm's TF-style convolutions pad from the input size at run time; exported for a fixed size they
    become single Convs with asymmetric pads (no Pad node, which ONNX Runtime runs slowly) and agree
    with PyTorch, odd sizes included."""
    import io

    import onnx
    from timm.layers import Conv2dSame

    torch.manual_seed(0)
    model = torch.nn.Sequential(Conv2dSame(3, 8, 3, stride=2), torch.nn.ReLU(), Conv2dSame(8, 8, 5, stride=2, groups=8),
                                Conv2dSame(8, 4, 3, stride=1, bias=False), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten()).eval()
    buf = io.BytesIO()
    engines.export_graph(model, buf, size)
    ops = {node.op_type for node in onnx.load_from_string(buf.getvalue()).graph.node}
    assert "Pad" not in ops and "Conv" in ops
    x = torch.randn(3, 3, size, size)
    with torch.no_grad():
        want = model(x).numpy()
    got = engines.ort_session(buf.getvalue()).run(None, {"image": x.numpy()})[0]
    assert np.abs(got - want).max() < 1e-5
    assert isinstance(model[0], Conv2dSame)  # the model itself is left as it was
