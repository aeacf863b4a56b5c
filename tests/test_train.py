import json
import pickle
from unittest import mock

import pytest
import torch

from facexp.bundle import load_bundle
from facexp.errors import ConfigError, ModelError
from facexp.train import TrainConfig, class_weights, export_onnx, train


def test_tiny_model_learns_the_shapes(tiny_model, shapes_dir):
    from facexp.evaluate import evaluate

    card = json.loads((tiny_model / "model.json").read_text())
    assert card["classes"] == ["circle", "square", "triangle"]
    assert card["training"]["data"]["counts"] == {"circle": 24, "square": 24, "triangle": 24}
    assert card["image"]["size"] == 32 and card["faces"] is None
    elapsed = [h["elapsed_s"] for h in card["training"]["history"]]  # when each epoch's weights existed
    assert len(elapsed) == 4 and elapsed == sorted(elapsed) and 0 < elapsed[-1] <= card["training"]["seconds"]
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
    assert previous["seconds"] == tiny_card["seconds"] and previous["config"]["epochs"] == 4


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=0), "--epochs"), (dict(valid_pct=1.5), "--valid-pct"), (dict(balance="magic"), "--balance"),
    (dict(mixup=-1), "--mixup"),
])
def test_bad_options_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)
