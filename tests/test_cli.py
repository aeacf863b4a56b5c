import json

import pytest
from typer.testing import CliRunner

from facexp.cli import app

runner = CliRunner()


def test_predict_json_one_object_per_image(tiny_model, shapes_dir):
    res = runner.invoke(app, ["predict", "--model", str(tiny_model), str(shapes_dir / "circle"), "--json", "--no-detect"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 24
    first = lines[0]
    assert set(first) >= {"path", "label", "probs", "faces"}
    assert sum(first["probs"].values()) == pytest.approx(1, abs=1e-3)
    assert first["faces"][0]["box"] == [0, 0, 64, 64]


def test_predict_classes_subset_renormalises(tiny_model, shapes_dir):
    img = str(next((shapes_dir / "square").glob("*.png")))
    res = runner.invoke(app, ["predict", "--model", str(tiny_model), img, "--json", "--no-detect", "--classes", "circle,square"])
    out = json.loads(res.stdout)
    assert set(out["probs"]) == {"circle", "square"} and sum(out["probs"].values()) == pytest.approx(1, abs=1e-3)


def test_predict_reports_bad_files_and_continues(tiny_model, shapes_dir, tmp_path):
    good = next((shapes_dir / "circle").glob("*.png"))
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    res = runner.invoke(app, ["predict", "--model", str(tiny_model), str(good), str(bad), "--json", "--no-detect"])
    assert res.exit_code == 3
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows[0]["label"] and "bad.jpg" in rows[1]["error"]


@pytest.mark.parametrize("args, code, message", [
    (["train", "does/not/exist"], 3, "no such file or folder"),
    (["train", "{shapes}", "--arch", "resnet343", "--no-pretrained"], 2, "Did you mean"),
    (["predict", "--model", "{model}", "missing.jpg"], 3, "missing.jpg"),
    (["evaluate", "not_a_model", "{shapes}"], 4, "not a facexp model directory"),
    (["evaluate", "{model}"], 3, "no test data given"),
    (["evaluate", "default"], 3, "pass DATA"),
    (["train", "{shapes}", "--test", "no/such/test.csv", "--arch", "tiny_cnn"], 3, "no/such/test.csv"),
    (["train", "{shapes}", "--test-pct", "1.5", "--arch", "tiny_cnn"], 2, "--test-pct"),
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


def test_a_broken_faces_json_is_named(shapes_dir, tmp_path):
    import shutil

    data = tmp_path / "crops"
    shutil.copytree(shapes_dir, data)
    (data / "faces.json").write_text("{not json")
    res = runner.invoke(app, ["train", str(data), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn"])
    assert res.exit_code == 3 and "Traceback" not in res.output
    assert f"{data / 'faces.json'}: not a readable faces.json" in res.output


# --- issue 17: the model argument is unambiguous -------------------------------------------------


def test_a_folder_with_only_a_pickle_is_not_read_as_images(tiny_model, shapes_dir, tmp_path):
    import shutil

    run = tmp_path / "run"
    run.mkdir()
    (run / "learner.pkl").write_bytes(b"not really a pickle")
    shutil.copy(next((shapes_dir / "circle").glob("*.png")), run / "lr_find.png")  # a run folder holds PNGs too
    image = str(next((shapes_dir / "square").glob("*.png")))
    for args in (["predict", str(run), image], ["predict", "--model", str(run), image]):
        res = runner.invoke(app, args + ["--json"])
        assert res.exit_code == 4 and res.stdout == "", res.output
        assert "learner.pkl but no model.json" in res.output and "--trust-pickle" in res.output
        assert "Traceback" not in res.output


def test_a_training_run_points_to_its_model(tiny_model, shapes_dir):
    image = str(next((shapes_dir / "square").glob("*.png")))
    res = runner.invoke(app, ["predict", "--model", str(tiny_model.parent), image])
    assert res.exit_code == 4 and f"--model {tiny_model}" in res.output


def test_a_pickle_needs_trust_in_predict_and_evaluate(tiny_model, shapes_dir, tmp_path):
    bad = tmp_path / "learner.pkl"
    bad.write_bytes(b"\x80\x04garbage")
    image = str(next((shapes_dir / "square").glob("*.png")))
    for args in (["predict", "--model", str(bad), image], ["evaluate", str(bad), str(shapes_dir)]):
        res = runner.invoke(app, args)
        assert res.exit_code == 4 and "pass --trust-pickle" in res.output, res.output
        res = runner.invoke(app, args + ["--trust-pickle"])  # the flag reaches the loader: now it tries, and says why not
        assert res.exit_code == 4 and "not a loadable fastai learner" in res.output, res.output
        assert "Traceback" not in res.output


def test_model_option_default_and_deprecated_positional(tiny_model, shapes_dir):
    image = str(next((shapes_dir / "square").glob("*.png")))
    res = runner.invoke(app, ["predict", str(tiny_model), image, "--json", "--no-detect"])
    assert res.exit_code == 0, res.output
    assert "deprecated; use --model" in res.stderr and json.loads(res.stdout)["label"]
    res = runner.invoke(app, ["predict", "--model", str(tiny_model), image, "--json", "--no-detect"])
    assert res.exit_code == 0 and "deprecated" not in res.stderr
    assert set(json.loads(res.stdout)["probs"]) == {"circle", "square", "triangle"}
