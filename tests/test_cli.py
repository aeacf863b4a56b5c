import json
import re

import pytest
import torch
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


def test_predict_with_only_unreadable_files_prints_no_empty_table(tiny_model, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("nope")
    res = runner.invoke(app, ["predict", "--model", str(tiny_model), str(bad), "--no-detect"])
    assert res.exit_code == 3 and "skipped" in res.output and "bad.jpg" in res.output
    assert "expression" not in res.output  # the table's header


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
    """Piped (not a terminal), as in a log: lr_find named as such, one facexp line per epoch, no
    fastai table rows as raw Python lists, and a training.png that shows its one epoch."""
    import numpy as np
    from PIL import Image

    res = runner.invoke(app, ["train", str(shapes_dir), "--out", str(tmp_path), "--arch", "tiny_cnn", "--no-pretrained",
                              "--epochs", "1", "--size", "32"])
    assert res.exit_code == 0, res.output
    assert "valid accuracy" in res.stdout
    assert "lr_find: trying learning rates over" in res.stderr and "epoch 1/1  train_loss" in res.stderr
    assert not re.search(r"^\[\d", res.output, re.M) and "Epoch 1/" not in res.output
    assert "Better model found" not in res.output
    plot = np.asarray(Image.open(tmp_path / "training.png").convert("RGB"), int)
    assert (np.abs(plot - [31, 119, 180]).sum(axis=2) < 30).sum() > 20  # the epoch's marker (matplotlib blue)
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


def _all_commands():
    """(name, command) for every verb and sub-verb of `facexp`."""
    import typer
    from typer._click import Context

    root = typer.main.get_command(app)
    todo = [("facexp", root, Context(root))]
    while todo:
        name, command, ctx = todo.pop(0)
        yield name, command, ctx
        for sub in getattr(command, "list_commands", lambda ctx: [])(ctx):
            child = command.get_command(ctx, sub)
            todo.append((f"{name} {sub}", child, Context(child, parent=ctx)))


def test_version_and_verbs_in_journey_order():
    from facexp import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"facexp {__version__}"
    listed = [line.split()[1] for line in runner.invoke(app, ["--help"], env={"COLUMNS": "100"}).stdout.splitlines()
              if line.startswith("│ ") and len(line.split()) > 1 and not line.split()[1].startswith("-")
              and line[2] != " "]
    journey = ["snippet", "collect", "dedup", "faces", "clean", "train", "evaluate", "predict", "export", "serve"]
    assert [v for v in listed if v in journey] == [v for v in journey if v in listed]
    assert set(journey) - {"clean"} <= set(listed)


def test_help_has_no_type_noise_and_every_option_says_what_it_does():
    for name, command, ctx in _all_commands():
        undocumented = [p.opts[0] for p in command.params if p.param_type_name == "option" and not p.help]
        assert not undocumented, f"{name}: options without help: {undocumented}"
        res = runner.invoke(app, [*name.split()[1:], "--help"], env={"COLUMNS": "100"})
        assert res.exit_code == 0, res.output
        usage = next(line for line in res.stdout.splitlines() if "Usage:" in line)
        assert "<bool>" not in res.stdout and "<list" not in res.stdout and "{" not in usage, \
            f"{name} --help:\n{res.stdout}"


def _plus_one(x: torch.Tensor) -> torch.Tensor:
    return x + 1


def test_library_deprecation_notes_are_not_shown_to_users():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        assert runner.invoke(app, ["models"]).exit_code == 0
        torch.jit.script(_plus_one)  # fastai's layers do this on import: FutureWarning in torch 2.14
    assert not [w for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))]
