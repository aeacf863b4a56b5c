import json

import pytest
from typer.testing import CliRunner

from facexp.cli import app

runner = CliRunner()


def test_predict_json_one_object_per_image(tiny_model, shapes_dir):
    res = runner.invoke(app, ["predict", str(tiny_model), str(shapes_dir / "circle"), "--json", "--no-detect"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 24
    first = lines[0]
    assert set(first) >= {"path", "label", "probs", "faces"}
    assert sum(first["probs"].values()) == pytest.approx(1, abs=1e-3)
    assert first["faces"][0]["box"] == [0, 0, 64, 64]


def test_predict_classes_subset_renormalises(tiny_model, shapes_dir):
    img = str(next((shapes_dir / "square").glob("*.png")))
    res = runner.invoke(app, ["predict", str(tiny_model), img, "--json", "--no-detect", "--classes", "circle,square"])
    out = json.loads(res.stdout)
    assert set(out["probs"]) == {"circle", "square"} and sum(out["probs"].values()) == pytest.approx(1, abs=1e-3)


def test_predict_reports_bad_files_and_continues(tiny_model, shapes_dir, tmp_path):
    good = next((shapes_dir / "circle").glob("*.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    res = runner.invoke(app, ["predict", str(tiny_model), str(good), str(bad), "--json", "--no-detect"])
    assert res.exit_code == 3
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows[0]["label"] and "bad.jpg" in rows[1]["error"]


@pytest.mark.parametrize("args, code, message", [
    (["train", "does/not/exist"], 3, "no such file or folder"),
    (["train", "{shapes}", "--arch", "resnet343", "--no-pretrained"], 2, "Did you mean"),
    (["predict", "{model}", "missing.jpg"], 3, "missing.jpg"),
    (["evaluate", "not_a_model", "{shapes}"], 4, "not a facexp model directory"),
])
def test_errors_are_one_line_not_tracebacks(tiny_model, shapes_dir, args, code, message):
    args = [a.format(shapes=shapes_dir, model=tiny_model) for a in args]
    res = runner.invoke(app, args)
    assert res.exit_code == code
    assert message in res.output and "Traceback" not in res.output


def test_train_and_export_from_the_cli(shapes_dir, tmp_path):
    res = runner.invoke(app, ["train", str(shapes_dir), "--out", str(tmp_path), "--arch", "tiny_cnn", "--no-pretrained",
                              "--epochs", "1", "--size", "32", "--lr", "0.01", "-q"])
    assert res.exit_code == 0, res.output
    assert "valid accuracy" in res.stdout
    res = runner.invoke(app, ["export", str(tmp_path / "model")])
    assert res.exit_code == 0 and (tmp_path / "model" / "model.onnx").exists()
