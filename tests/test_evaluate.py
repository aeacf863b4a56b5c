import json

import numpy as np
import pytest

from facexp.evaluate import EvalReport, evaluate, fold_classes, restrict_classes


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


def test_gradcam_highlights_the_shape(tiny_model, shapes_dir):
    from PIL import Image

    from facexp.bundle import load_bundle
    from facexp.evaluate import gradcam, overlay

    bundle = load_bundle(tiny_model)
    crop = Image.open(next((shapes_dir / "circle").glob("*.png")))
    heat = gradcam(bundle, crop, 0)
    assert heat.shape == (32, 32) and 0 <= heat.min() and heat.max() <= 1
    assert overlay(bundle, crop, heat).size == (32, 32)
