import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexp.evaluate import EvalReport, evaluate, fold_classes, restrict_classes, write_report


def small_report():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    return EvalReport(["happy", "laughing", "sad"], np.array([0, 1, 1, 2]), probs)


def test_metrics_by_hand():
    r = small_report()
    assert r.accuracy == pytest.approx(0.75)
    assert r.confusion().tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert r.per_class()["happy"]["precision"] == pytest.approx(0.5)
    assert r.per_class()["laughing"]["recall"] == pytest.approx(0.5)
    assert r.most_confused() == [("laughing", "happy", 1)]
    assert r.top_losses(1) == [2]
    # ECE: bins of confidence 0.6 (2 items, acc 0.5), 0.7 (acc 1), 0.8 (acc 1)
    expected = 0.5 * abs(0.5 - 0.6) + 0.25 * abs(1 - 0.7) + 0.25 * abs(1 - 0.8)
    assert r.calibration()["ece"] == pytest.approx(expected)


def test_accuracy_comes_with_the_range_so_few_images_allow():
    from facexp.checks import accuracy_interval, interval_text

    # Wilson's 95% interval, values from its formula worked by hand
    assert accuracy_interval(12, 16) == pytest.approx((0.505, 0.898), abs=1e-3)
    assert accuracy_interval(750, 1000) == pytest.approx((0.722, 0.776), abs=1e-3)
    assert accuracy_interval(0, 10)[0] == 0 and accuracy_interval(10, 10)[1] == 1  # sound at the ends, inside [0, 1]
    assert accuracy_interval(0, 0) == (0.0, 1.0)
    assert interval_text(0.75, 16) == "95% interval 0.51-0.90"
    r = small_report()  # 3 of 4 right
    assert r.accuracy_interval == accuracy_interval(3, 4) and r.to_dict()["accuracy_interval"] == list(r.accuracy_interval)
    assert "95% interval 0.30-0.95" in r._repr_html_()


def test_fold_and_restrict():
    folded = fold_classes(small_report(), {"laughing": "happy"})
    assert folded.classes == ["happy", "sad"] and folded.accuracy == 1.0
    sub = restrict_classes(small_report(), ["laughing", "sad"])
    assert len(sub.y_true) == 3 and np.allclose(sub.probs.sum(axis=1), 1)


def test_report_files(tiny_model, shapes_dir, tmp_path):
    report = evaluate(tiny_model, shapes_dir, out=tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html and "http" not in html.split("<body>")[1]  # self-contained
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(report.accuracy)
    assert np.array(metrics["confusion"]).sum() == 72
    for png in ("confusion.png", "confusion_normalised.png", "reliability.png", "top_losses.png", "per_class.png"):
        assert (tmp_path / png).stat().st_size > 1000
    # the top losses explained: a Grad-CAM per image, captioned with the answer and the label
    worst = report.top_losses(1)[0]
    caption = (f"{Path(report.paths[worst]).name}: answered {report.classes[report.y_pred[worst]]}, "
               f"labelled {report.classes[report.y_true[worst]]}")
    assert "Grad-CAM of the top losses" in html and caption in html
    cam = np.asarray(Image.open(tmp_path / "gradcam_1.png").convert("RGB"), int)
    assert cam.shape[:2] == (32, 32) and cam.std() > 5  # a heat map over the crop, not a blank
    # the class balance of the data: 24 of each shape
    assert "circle 24 (33%), square 24 (33%), triangle 24 (33%)" in html and "would score 33.3%" in html
    lo, hi = report.accuracy_interval
    assert f"(95% interval {lo:.2f}-{hi:.2f})" in html and lo <= report.accuracy <= hi


def test_gradcam_highlights_the_shape(tiny_model, shapes_dir):
    from PIL import Image

    from facexp.bundle import load_bundle
    from facexp.evaluate import gradcam, overlay

    bundle = load_bundle(tiny_model)
    crop = Image.open(next((shapes_dir / "circle").glob("*.png")))
    heat = gradcam(bundle, crop, 0)
    assert heat.shape == (32, 32) and 0 <= heat.min() and heat.max() <= 1
    assert overlay(bundle, crop, heat).size == (32, 32)


def test_evaluate_a_run_uses_its_test_split(shapes_dir, tmp_path):
    from typer.testing import CliRunner

    from facexp.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", str(shapes_dir), "--out", str(run), "--arch", "tiny_cnn", "--no-pretrained",
                              "--epochs", "1", "--size", "32", "--lr", "0.01", "-q"])
    assert res.exit_code == 0, res.output
    assert f"test split: 6 images in {run / 'test.csv'}" in res.stdout
    assert f"on {json.loads((run / 'model' / 'model.json').read_text())['training']['n_valid']} images (95% interval " \
        in res.stdout
    card = json.loads((run / "model" / "model.json").read_text())["training"]
    assert card["n_train"] + card["n_valid"] == 66 and card["test"]["n"] == 6  # never trained or validated on
    if "validation" in card["int8"]:  # measured where int8 runs (test_int8)
        assert f"int8: {'kept' if card['int8']['kept'] else 'not kept'} (valid accuracy" in res.stdout
    for target in (run, run / "model"):  # the run or its model directory
        res = runner.invoke(app, ["evaluate", str(target)])
        assert res.exit_code == 0, res.output
        assert "test split" in res.stdout and "n=6" in res.stdout and "95% interval" in res.stdout
        assert json.loads((run / "report" / "metrics.json").read_text())["n"] == 6
    assert len(evaluate(run).y_true) == 6  # the API too
    res = runner.invoke(app, ["evaluate", str(run / "model"), str(shapes_dir), "--out", str(tmp_path / "r")])  # old form
    assert res.exit_code == 0 and "n=72" in res.stdout


def test_evaluate_without_data_or_test_split_is_one_clear_line(tiny_model):
    from typer.testing import CliRunner

    from facexp.cli import app

    res = CliRunner().invoke(app, ["evaluate", str(tiny_model)])
    assert res.exit_code == 3 and "Traceback" not in res.output
    assert "no test data given and no test split" in res.output and str(tiny_model) in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_near_chance_and_collapsed_answers_are_flagged(tmp_path):
    y_true = np.array([0, 1, 2, 3] * 5)
    collapsed = EvalReport(["a", "b", "c", "d"], y_true, np.tile([0.7, 0.1, 0.1, 0.1], (20, 1)))
    warned = collapsed.warnings()
    assert len(warned) == 2 and "near chance (25.0%" in warned[0] and "answers only 'a'" in warned[1]
    good = EvalReport(["a", "b", "c", "d"], y_true, np.eye(4)[y_true])
    assert good.warnings() == []
    page = write_report(collapsed, tmp_path).read_text()
    assert 'class="warning"' in page and "near chance" in page
    assert page.index('class="warning"') < page.index('id="accuracy"')  # read before any number
    assert json.loads((tmp_path / "metrics.json").read_text())["warnings"] == warned


def test_evaluate_on_soft_labels_scores_the_majority_and_leaves_ties_out(tiny_model, shapes_dir, tmp_path):
    import pandas as pd

    columns = ["triangle", "circle", "square"]  # not the model's order: matched by name
    rng = np.random.default_rng(0)
    soft, hard = [], []
    for i, p in enumerate(sorted(shapes_dir.rglob("*.png"))):
        votes = rng.integers(0, 3, 3)
        k = columns.index(p.parent.name)
        if i % 6 == 0:  # a tie between the true class and the next one: no majority
            votes[:] = 0
            votes[k] = votes[(k + 1) % 3] = 4
        else:
            votes[k] += 4
            hard.append((str(p), p.parent.name))
        soft.append((str(p), *votes))
    pd.DataFrame(soft, columns=["path", *columns]).to_csv(tmp_path / "soft.csv", index=False)
    pd.DataFrame(hard, columns=["path", "label"]).to_csv(tmp_path / "hard.csv", index=False)
    report = evaluate(tiny_model, tmp_path / "soft.csv", out=tmp_path / "report")
    expected = evaluate(tiny_model, tmp_path / "hard.csv")
    assert len(report.y_true) == len(hard) == 60
    assert report.y_true.tolist() == expected.y_true.tolist() and report.accuracy == pytest.approx(expected.accuracy)
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["soft_labels_tied_rows_left_out"] == 12
