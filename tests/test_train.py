import json
import pickle
from unittest import mock

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facexp.bundle import load_bundle
from facexp.cli import app
from facexp.errors import ConfigError, ModelError
from facexp.train import TrainConfig, class_weights, export_onnx, train

runner = CliRunner()


def test_tiny_model_learns_the_shapes(tiny_model, shapes_dir):
    from facexp.evaluate import evaluate

    card = json.loads((tiny_model / "model.json").read_text())
    assert card["classes"] == ["circle", "square", "triangle"]
    assert card["training"]["data"]["counts"] == {"circle": 24, "square": 24, "triangle": 24}
    assert card["image"]["size"] == 32 and card["faces"] is None
    elapsed = [h["elapsed_s"] for h in card["training"]["history"]]  # when each epoch's weights existed
    assert 1 <= len(elapsed) <= 30 and elapsed == sorted(elapsed) and 0 < elapsed[-1] <= card["training"]["seconds"]
    assert {"torch", "fastai", "timm"} <= set(card["versions"])
    assert evaluate(tiny_model, shapes_dir).accuracy > 0.6  # chance is 0.33


def test_bundle_loads_without_unpickling(tiny_model):
    with mock.patch.object(pickle, "load", side_effect=AssertionError("pickle used")), \
         mock.patch.object(pickle, "loads", side_effect=AssertionError("pickle used")), \
         mock.patch.object(torch, "load", side_effect=AssertionError("torch.load used")):
        bundle = load_bundle(tiny_model)
    assert bundle.classes == ["circle", "square", "triangle"]


def test_training_is_reproducible_with_a_seed(shapes_dir, tmp_path):
    cfg = dict(arch="tiny_cnn", pretrained=False, epochs=1, size=32, bs=16, lr=1e-2, seed=7)
    a = train(shapes_dir, tmp_path / "a", TrainConfig(**cfg))
    b = train(shapes_dir, tmp_path / "b", TrainConfig(**cfg))
    def metrics(history):  # all but the wall-clock times
        return [{k: v for k, v in epoch.items() if k != "elapsed_s"} for epoch in history]

    assert metrics(a.history) == metrics(b.history) and "elapsed_s" in a.history[0]
    mixed = train(shapes_dir, tmp_path / "mixup", TrainConfig(**cfg, mixup=0.4))  # same seed, blended batches
    assert mixed.card["training"]["config"]["mixup"] == 0.4
    assert mixed.history[0]["train_loss"] != a.history[0]["train_loss"]
    assert mixed.history[0]["valid_loss"] != a.history[0]["valid_loss"]


def test_pickle_needs_explicit_trust(shapes_dir, tmp_path):
    cfg = TrainConfig(arch="tiny_cnn", pretrained=False, epochs=1, size=32, bs=16, lr=1e-2, save_pickle=True)
    bundle_dir = train(shapes_dir, tmp_path, cfg).bundle_dir
    with pytest.raises(ModelError, match="--trust-pickle"):
        load_bundle(bundle_dir / "learner.pkl")
    assert load_bundle(bundle_dir / "learner.pkl", trust_pickle=True).classes == ["circle", "square", "triangle"]


def test_onnx_matches_pytorch(tiny_model, tmp_path):
    from facexp.train.export import max_abs_difference

    path = export_onnx(tiny_model, tmp_path / "m.onnx")
    bundle = load_bundle(tiny_model)
    assert max_abs_difference(bundle.model, path, torch.randn(7, 3, 32, 32)) < 1e-4


def test_class_weights_favour_rare_classes():
    w = class_weights({"a": 100, "b": 25}, ["a", "b"])
    assert w[1] / w[0] == pytest.approx(2.0) and float(w.mean()) == pytest.approx(1.0)


def test_subset_and_sampler_and_init_from(shapes_dir, tmp_path, tiny_model):
    cfg = TrainConfig(arch="tiny_cnn", epochs=1, size=32, bs=16, lr=1e-2, classes=["circle", "square"],
                      balance="sampler", init_from=str(tiny_model))
    result = train(shapes_dir, tmp_path, cfg)
    assert result.card["classes"] == ["circle", "square"]
    assert result.card["training"]["weights"].startswith("initialised from")
    tiny_card = json.loads((tiny_model / "model.json").read_text())["training"]
    previous = result.card["training"]["previous"]  # a staged run's card accounts for every stage's time
    assert previous["seconds"] == tiny_card["seconds"] and previous["config"]["epochs"] == tiny_card["config"]["epochs"] == 30


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "--epochs"), (dict(valid_pct=1.5), "--valid-pct"), (dict(balance="magic"), "--balance"),
    (dict(mixup=-1), "--mixup"),
])
def test_bad_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)


def test_a_test_split_is_held_out_per_class(shapes_dir, tmp_path):
    import pandas as pd

    from facexp.data import read_manifest
    from facexp.errors import DataError
    from facexp.train.handoff import split_test, write_test_csv

    manifest = read_manifest(shapes_dir, verify=False)
    kept, test = split_test(manifest, test_pct=0.1, seed=3)
    assert test.counts() == {"circle": 2, "square": 2, "triangle": 2}
    assert (kept.items["split"] == "test").sum() == 6 and len(kept.items) == 72
    assert split_test(manifest, test_pct=0.1, seed=3)[1].items["path"].tolist() == test.items["path"].tolist()
    rows = pd.read_csv(write_test_csv(test, tmp_path / "test.csv"))
    assert list(rows.columns) == ["path", "label", "split"] and all(p.startswith("/") for p in rows["path"])
    again, same = split_test(kept, test_pct=0.5, test=None)  # rows already marked test win
    assert same.items["path"].tolist() == test.items["path"].tolist()
    assert split_test(manifest, test_pct=0)[1] is None
    with pytest.raises(DataError, match="also in the training data"):
        split_test(manifest, test=str(tmp_path / "test.csv"))
    with pytest.raises(ConfigError, match="already marks 6 rows"):
        split_test(kept, test=str(tmp_path / "test.csv"))


def test_detect_faces_keeps_a_folder_of_face_crops(tmp_path):
    """Already-cropped images (FER-like, no face found in them) are kept whole, not dropped."""
    from helpers import make_shape

    rng = np.random.default_rng(0)
    for label in ("circle", "square"):
        (tmp_path / "crops" / label).mkdir(parents=True)
        for i in range(8):
            make_shape(label, rng, size=48).convert("L").save(tmp_path / "crops" / label / f"{i}.png")
    res = runner.invoke(app, ["train", str(tmp_path / "crops"), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn",
                              "--no-pretrained", "--epochs", "1", "--size", "32", "--lr", "0.01", "--detect-faces",
                              "-q"])
    assert res.exit_code == 0, res.output
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())["training"]
    assert card["data"]["n_images"] == 16 and card["data"]["n_skipped"] == 0
    assert card["crops"]["n_whole"] == 16 and "not used" not in res.stdout


def test_the_summary_warns_when_the_model_learnt_nothing(tmp_path):
    from PIL import Image

    for label in ("a", "b", "c"):  # the same picture under three labels: nothing to learn
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(8):
            Image.new("RGB", (32, 32), (120, 60, 200)).save(tmp_path / "data" / label / f"{label}{i}.png")
    res = runner.invoke(app, ["train", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn",
                              "--no-pretrained", "--epochs", "1", "--size", "32", "--lr", "0.01", "-q",
                              "--valid-pct", "0.4"])
    assert res.exit_code == 0, res.output
    assert "WARNING: accuracy" in res.stdout and "near chance" in res.stdout
    assert "answers only" in res.stdout
    warnings = json.loads((tmp_path / "run" / "model" / "model.json").read_text())["training"]["warnings"]
    assert len(warnings) == 2


def test_soft_label_manifest_trains_on_the_distribution(tmp_path):
    from facexp.evaluate import evaluate
    from helpers import make_colour_soft_manifest

    csv = make_colour_soft_manifest(tmp_path / "data")  # columns red, green, blue: not alphabetical
    cfg = TrainConfig(arch="tiny_cnn", pretrained=False, epochs=8, size=16, bs=8, lr=3e-3, seed=1, augment=False)
    result = train(csv, tmp_path / "run", cfg)
    card = json.loads((result.bundle_dir / "model.json").read_text())
    assert card["classes"] == ["red", "green", "blue"]  # the class columns, in order
    assert card["training"]["data"]["counts"] == {"red": 16, "green": 16, "blue": 16}  # majority counts
    assert card["training"]["data"]["soft_labels"] is True
    history = result.history
    best = history[result.metrics["best_epoch"] - 1]
    assert best["valid_loss"] < history[0]["valid_loss"] and min(h["train_loss"] for h in history) < history[0]["train_loss"]
    assert result.metrics["valid_accuracy"] >= 0.75  # chance is 0.33
    assert evaluate(result.bundle_dir, csv).accuracy >= 0.75


def test_soft_labels_with_mixup_sampler_and_init_from(tmp_path):
    from fastai.callback.core import Callback
    from fastai.callback.mixup import MixUp

    from facexp.data import make_dataloaders, read_manifest
    from facexp.preprocess import ImageSettings
    from facexp.train import make_learner
    from facexp.train.soft import SoftTargetCrossEntropy
    from helpers import make_colour_soft_manifest

    csv = make_colour_soft_manifest(tmp_path / "data", n=24)
    dls = make_dataloaders(read_manifest(csv), ImageSettings(size=16, grayscale=False, mean=(0.5,) * 3, std=(0.5,) * 3),
                           bs=6, augment=False)
    learn = make_learner(dls, TrainConfig(arch="tiny_cnn", pretrained=False), {c: 1.0 for c in dls.vocab})

    class Spy(Callback):
        order = 99  # after MixUp

        def before_batch(self):
            if self.training:
                self.seen = (self.y.clone(), self.learn.loss_func)

    spy = Spy()
    learn.fit(1, 1e-3, cbs=[MixUp(0.4), spy])
    mixed, loss_func = spy.seen
    assert isinstance(loss_func, SoftTargetCrossEntropy)  # MixUp blends the targets, not two losses
    assert torch.allclose(mixed.sum(dim=1), torch.ones(len(mixed))) and not torch.all((mixed == 0) | (mixed >= 0.1))

    cfg = dict(arch="tiny_cnn", pretrained=False, epochs=1, size=16, bs=6, lr=3e-3, augment=False)
    first = train(csv, tmp_path / "a", TrainConfig(**cfg, test_pct=0.25))
    test_csv = (tmp_path / "a" / "test.csv").read_text().splitlines()  # the test split keeps the distributions
    assert test_csv[0] == "path,split,red,green,blue" and len(test_csv) == 1 + 6
    from facexp.evaluate import evaluate

    assert len(evaluate(tmp_path / "a").y_true) == 6
    again = train(csv, tmp_path / "b", TrainConfig(**cfg, mixup=0.4, balance="sampler",
                                                   init_from=str(first.bundle_dir)))
    assert again.card["classes"] == ["red", "green", "blue"] and again.card["training"]["config"]["mixup"] == 0.4
    assert all(np.isfinite(h["train_loss"]) for h in again.history)
    assert 0 <= again.metrics["baseline_valid_accuracy"] <= 1  # the starting model scored on majority classes


def test_soft_target_loss_and_majority_metrics_by_hand():
    from facexp.train.soft import SoftTargetCrossEntropy, majority_accuracy, majority_macro_f1

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    target = torch.tensor([[0.7, 0.3, 0.0], [0.5, 0.5, 0.0], [0.0, 0.2, 0.8]])
    weight, eps = torch.tensor([1.0, 2.0, 0.5]), 0.1
    smoothed = target * (1 - eps) + eps / 3
    expected = -(weight * smoothed * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert SoftTargetCrossEntropy(weight, eps)(logits, target) == pytest.approx(float(expected))
    # row 2 ties (0.5/0.5): left out; rows 1 and 3 are right
    assert majority_accuracy(logits, target) == 1.0 and majority_macro_f1(logits, target) == 1.0
    assert majority_accuracy(torch.tensor([[0.0, 1.0, 0.0]] * 3), target) == 0.0
