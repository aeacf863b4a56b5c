"""Issue 13: training on ~100 photos per class — the small-data recipe and `--from` a facexp model."""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from facexp.bundle import load_bundle
from facexp.data import make_dataloaders, read_manifest
from facexp.preprocess import ImageSettings
from facexp.train import TrainConfig, make_learner, train
from facexp.train.callbacks import FrozenBatchNormStats, KeepBest
from facexp.train.classmap import match_classes
from facexp.backbones import get_backbone
from facexp.train.fit import (DEFAULT_SIZE, LR_CEILING, LR_FALLBACK, LR_FLOOR, _last_linear, _lr_curve_problem,
                              auto_schedule, default_size)

DEFAULT_CLASSES = ["angry", "disgust", "fear", "happy", "laughing", "neutral", "sad", "surprise"]


def test_class_names_map_to_the_default_model_s():
    mapping = match_classes(["Happy", "laugh", "Surprised", "SADS", "anger", "happiness", "confused"], DEFAULT_CLASSES)
    assert mapping == {"Happy": "happy", "laugh": "laughing", "Surprised": "surprise", "SADS": "sad",
                       "anger": "angry", "happiness": None,  # happy is taken by the exact name
                       "confused": None}
    assert match_classes(["laughs", "neutral_faces", "fearful"], DEFAULT_CLASSES) == {
        "laughs": "laughing", "neutral_faces": None, "fearful": "fear"}


def _tiny_faces(root, labels, n=6, size=32):
    rng = np.random.default_rng(0)
    for label in labels:
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / label / f"{i}.png")
    return root


def test_from_default_copies_the_head_rows_of_the_classes_it_knows(tmp_path):
    """The shipped model is an ensemble: the first member's body and its rows of known classes are copied."""
    from facexp.ensemble import networks
    from facexp.predict import default_model_dir

    default = load_bundle(default_model_dir())
    data = _tiny_faces(tmp_path / "data", ["Happy", "laugh", "confused"])
    cfg = TrainConfig(init_from=str(default.path), arch=default.arch)
    dls = make_dataloaders(read_manifest(data), ImageSettings(size=32, grayscale=True, mean=(0.5,) * 3, std=(0.5,) * 3),
                           bs=4)
    learn = make_learner(dls, cfg, {c: 6 for c in dls.vocab}, start=default)
    assert learn.class_map == {"Happy": "happy", "confused": None, "laugh": "laughing"}
    first = networks(default.model)[0]
    new_w = learn.model.state_dict()[f"{_last_linear(learn.model)}.weight"]
    old_w = first.state_dict()[f"{_last_linear(first)}.weight"]
    vocab = list(dls.vocab)
    assert torch.equal(new_w[vocab.index("Happy")], old_w[DEFAULT_CLASSES.index("happy")])
    assert torch.equal(new_w[vocab.index("laugh")], old_w[DEFAULT_CLASSES.index("laughing")])
    assert not any(torch.equal(new_w[vocab.index("confused")], row) for row in old_w)  # a new class: a new row
    body = [k for k in first.state_dict() if k.startswith("0.")]  # fastai: model[0] is the body
    assert body and all(torch.equal(learn.model.state_dict()[k], first.state_dict()[k]) for k in body[:20])


def test_from_a_model_keeps_the_starting_weights_when_fine_tuning_is_worse(shapes_dir, tmp_path):
    """A learning rate that wrecks the network: the run hands back the model it started from, and says so."""
    good = train(shapes_dir, tmp_path / "good", TrainConfig(arch="tiny_cnn", pretrained=False, epochs=30, size=32,
                                                            bs=8, lr=1e-2, seed=1, augment=False)).bundle_dir  # as conftest's tiny_model
    cfg = TrainConfig(arch="tiny_cnn", init_from=str(good), epochs=1, freeze_epochs=0, bs=16, lr=50.0, seed=3)
    result = train(shapes_dir, tmp_path / "wrecked", cfg)
    start = result.card["training"]["start"]
    # the start ties with itself restricted to the same classes: the restricted model is kept
    assert start["kept"] == "starting model restricted" and result.metrics["best_epoch"] == 0
    assert result.metrics["valid_accuracy"] == pytest.approx(start["accuracy"]) and start["accuracy"] >= 0.45
    baseline = result.card["training"]["baseline"]  # every class known: the start itself is a baseline
    assert baseline["classes"] == {"circle": "circle", "square": "square", "triangle": "triangle"}
    assert baseline["valid_accuracy"] == pytest.approx(start["accuracy"])  # the copied network answers as the model
    assert result.metrics["baseline_valid_accuracy"] == pytest.approx(baseline["valid_accuracy"])
    saved, original = load_bundle(result.bundle_dir).model.state_dict(), load_bundle(good).model.state_dict()
    assert all(torch.equal(saved[k], original[k]) for k in original if original[k].is_floating_point())


def _fake_epoch(cb, accuracy, f1, weight):
    cb.learn.model.weight.data.fill_(weight)
    cb.learn.recorder.values.append([1.0, 1.0, accuracy, f1])
    cb.after_epoch()


def test_keep_best_keeps_the_better_of_start_and_epochs():
    model = torch.nn.Linear(1, 1, bias=False)
    recorder = SimpleNamespace(metric_names=["epoch", "train_loss", "valid_loss", "accuracy", "f1_score", "time"], values=[])
    keep = KeepBest(start=(0.8, 0.7), patience=3)
    keep.learn = SimpleNamespace(model=model, recorder=recorder, epoch=0, n_epoch=100)
    model.weight.data.fill_(0.0)
    keep.before_fit()  # copies the starting weights
    _fake_epoch(keep, 0.7, 0.9, 1.0)  # worse accuracy than the start: not kept
    assert keep.best_epoch == 0
    _fake_epoch(keep, 0.8, 0.65, 1.2)  # the start's accuracy: the fine-tuned weights are kept
    assert keep.best_epoch == 2
    _fake_epoch(keep, 0.8, 0.75, 1.5)  # the same accuracy again: the earlier epoch stays
    assert keep.best_epoch == 2
    _fake_epoch(keep, 0.85, 0.75, 2.0)  # better accuracy: kept
    assert keep.best_epoch == 4
    keep.restore(model)
    assert float(model.weight.detach()) == 2.0
    from fastai.callback.core import CancelFitException

    _fake_epoch(keep, 0.5, 0.5, 3.0)
    _fake_epoch(keep, 0.5, 0.5, 3.5)
    with pytest.raises(CancelFitException):  # patience 3: the third epoch without a new best stops
        _fake_epoch(keep, 0.5, 0.5, 4.0)
    keep.restore(model)
    assert float(model.weight.detach()) == 2.0 and keep.stopped_early

    never = KeepBest(start=(0.9, 0.9))
    never.learn = SimpleNamespace(model=model, recorder=recorder, epoch=0, n_epoch=100)
    model.weight.data.fill_(-1.0)
    never.before_fit()
    _fake_epoch(never, 0.5, 0.5, 5.0)
    never.restore(model)
    assert float(model.weight.detach()) == -1.0 and never.best_epoch == 0


@pytest.mark.parametrize("keep", [True, False])
def test_frozen_batchnorm_stats_survive_training_on_small_batches(keep):
    """Small data keeps the starting statistics (Schedule.keep_bn_stats): batches of 8 do not re-estimate them."""
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8, generator=g) * 3 + 2, torch.randint(0, 2, (32,), generator=g)
    data = list(zip(x, y))
    dls = DataLoaders.from_dsets(data[:24], data[24:], bs=8, device="cpu")
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    before = model[1].running_mean.clone(), model[1].running_var.clone()
    weight = model[0].weight.detach().clone()
    learn = Learner(dls, model, loss_func=torch.nn.CrossEntropyLoss(), cbs=[FrozenBatchNormStats()] if keep else [])
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-2)
    unchanged = torch.equal(model[1].running_mean, before[0]) and torch.equal(model[1].running_var, before[1])
    assert unchanged == keep
    assert not torch.equal(model[0].weight.detach(), weight)  # the weights still train


def test_patience_running_out_on_the_last_epoch_is_not_an_early_stop():
    model = torch.nn.Linear(1, 1, bias=False)
    recorder = SimpleNamespace(metric_names=["epoch", "train_loss", "valid_loss", "accuracy", "f1_score", "time"], values=[])
    keep = KeepBest(start=(0.9, 0.9), patience=2)
    keep.learn = SimpleNamespace(model=model, recorder=recorder, epoch=0, n_epoch=2)
    keep.before_fit()
    _fake_epoch(keep, 0.5, 0.5, 1.0)
    keep.learn.epoch = 1  # the fit's last epoch: it ends by itself, nothing is skipped
    _fake_epoch(keep, 0.5, 0.5, 1.0)
    assert keep.wait == 2 and not keep.stopped_early


def test_lr_find_curves_that_cannot_be_read():
    assert "only 5 points" in _lr_curve_problem(np.array([1.4, 1.3, 1.5, 1.2, 1.6]), 4e-6)
    assert "fell only" in _lr_curve_problem(np.full(40, 1.38) + np.linspace(0, 0.01, 40), 1e-3)
    falling = np.concatenate([np.linspace(1.4, 0.6, 30), np.linspace(0.6, 3.0, 10)])
    assert _lr_curve_problem(falling, 1e-3) is None
    assert "far outside" in _lr_curve_problem(falling, 4e-6)


def test_lr_find_on_a_tiny_noisy_set_gives_a_sane_lr_with_a_warning(tmp_path):
    """One picture under three labels: nothing to learn, so lr_find's curve is flat noise."""
    for label in ("a", "b", "c"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (32, 32), 120).save(tmp_path / "data" / label / f"{i}.png")
    data = tmp_path / "data"
    cfg = TrainConfig(arch="tiny_cnn", pretrained=False, epochs=1, size=32, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(data, tmp_path / "run", cfg)
    config = result.card["training"]["config"]
    assert LR_FLOOR <= config["lr"] <= LR_CEILING
    lr_warnings = [w for w in caught if "lr_find" in str(w.message)]
    assert config["lr_source"] == "fallback" and config["lr"] == LR_FALLBACK and lr_warnings
    assert (tmp_path / "run" / "lr_find.png").exists()


def test_small_data_gets_small_batches_more_epochs_and_frozen_epochs_first():
    small = auto_schedule(80, TrainConfig())
    assert small.bs == 8 and small.epochs > 5 and small.freeze_epochs >= 1 and small.keep_bn_stats
    big = auto_schedule(20000, TrainConfig())
    assert (big.bs, big.epochs, big.freeze_epochs, big.keep_bn_stats) == (64, 5, 0, False)
    scratch = auto_schedule(80, TrainConfig(pretrained=False))
    assert scratch.freeze_epochs == 0 and not scratch.keep_bn_stats  # nothing to freeze, no statistics to keep
    chosen = auto_schedule(80, TrainConfig(epochs=3, bs=16, freeze_epochs=0))
    assert (chosen.bs, chosen.epochs, chosen.freeze_epochs) == (16, 3, 0)


def test_imagenet_weights_on_small_data_see_faces_at_the_size_they_were_learned_at():
    lite0, tiny = get_backbone("efficientnet_lite0"), get_backbone("tiny_cnn")
    assert default_size(400, TrainConfig(), lite0) == 224
    assert default_size(20000, TrainConfig(), lite0) == DEFAULT_SIZE < 224  # big data: affordable on a CPU
    assert default_size(400, TrainConfig(pretrained=False), lite0) == DEFAULT_SIZE
    assert default_size(400, TrainConfig(), tiny) == DEFAULT_SIZE  # no weights, no size to match


def test_cli_summary_names_the_kept_weights_and_the_baseline(shapes_dir, tmp_path, tiny_model):
    from typer.testing import CliRunner

    from facexp.cli import app

    res = CliRunner().invoke(app, ["train", str(shapes_dir), "--out", str(tmp_path / "run"), "--arch", "tiny_cnn",
                                   "--from", str(tiny_model), "--epochs", "1", "--lr", "0.01", "-q"])
    assert res.exit_code == 0, res.output
    assert "kept: " in res.stdout and "baseline: the starting model restricted with --classes" in res.stdout
    card = load_bundle(tmp_path / "run" / "model").card
    assert card["image"]["size"] == 32  # the --from model's input size
    assert card["training"]["config"]["freeze_epochs"] >= 1


def test_auto_start_uses_the_shipped_model_for_expression_classes_only():
    """`facexp train` starts from the shipped model when it knows most class names (it scored 85.8% vs
    ImageNet's 43.5% on 100 photos per class); other data, backbones or --no-pretrained start elsewhere."""
    from facexp.predict import default_model_dir
    from facexp.train.start import resolve_start

    default = str(default_model_dir())
    cfg, note = resolve_start(TrainConfig(), ["Happy", "laugh", "sad", "surprised"])
    assert cfg.init_from == default and "4 of your 4" in note and "laugh=laughing" in note
    cfg, note = resolve_start(TrainConfig(), ["happy", "sad", "thumbs_up"])  # 2 of 3 known
    assert cfg.init_from == default
    for classes, kwargs, why in [(["cat", "dog", "happy"], {}, "knows 1 of your 3"),
                                 (["happy", "sad"], {"arch": "tiny_cnn"}, "--arch tiny_cnn"),
                                 (["happy", "sad"], {"pretrained": False}, "random weights"),
                                 (["happy", "sad"], {"init_from": "imagenet"}, "ImageNet")]:
        cfg, note = resolve_start(TrainConfig(**kwargs), classes)
        assert cfg.init_from is None and why in note, (classes, kwargs, note)
    cfg, note = resolve_start(TrainConfig(init_from="default", arch="tiny_cnn"), ["cat", "dog"])
    assert cfg.init_from == default and cfg.arch == "efficientnet_lite0"
    # face crops from `facexp faces`: the shipped model's face features, whatever the class names
    cfg, note = resolve_start(TrainConfig(), ["smirk", "wink"], face_crops=True)
    assert cfg.init_from == default and "face crops" in note and "none of your 2 classes" in note
    cfg, note = resolve_start(TrainConfig(), ["happy", "smirk", "wink"], face_crops=True)  # 1 of 3 known
    assert cfg.init_from == default and "knows 1 of your 3 classes (happy)" in note
    for kwargs, why in [({"arch": "tiny_cnn"}, "--arch tiny_cnn"), ({"pretrained": False}, "random weights"),
                        ({"init_from": "imagenet"}, "ImageNet")]:
        cfg, note = resolve_start(TrainConfig(**kwargs), ["smirk", "wink"], face_crops=True)
        assert cfg.init_from is None and why in note, (kwargs, note)


def _offset_case(head: torch.nn.Module, seed: int = 0):
    """Labels that the network would give if class 2's logit were 2 higher: only a per-class shift
    can make it agree with them."""
    from fastai.vision.all import CrossEntropyLossFlat

    torch.manual_seed(seed)
    x = torch.randn(120, 8)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), head).eval()
    y = (model(x).detach() + torch.tensor([0.0, 0.0, 2.0])).argmax(dim=1)
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, len(x), 32)]
    dls = SimpleNamespace(train_ds=SimpleNamespace(items=None), vocab=["a", "b", "c"],
                          test_dl=lambda items, with_labels: batches)
    return model, x, y, dls, CrossEntropyLossFlat()


@pytest.mark.parametrize("kind", ["batchnorm", "bias"])
def test_class_offsets_shift_every_logit_by_the_fitted_amount_and_lower_the_training_loss(kind):
    """fastai's head ends BatchNorm1d → Dropout → Linear(bias=False): the shift goes through the
    BatchNorm's β and must still move each logit exactly by its class's offset."""
    from facexp.train.offsets import fit_class_offsets

    torch.manual_seed(0)
    if kind == "batchnorm":
        head = torch.nn.Sequential(torch.nn.BatchNorm1d(16), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3, bias=False))
    else:
        head = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(16, 3))
    model, x, y, dls, loss_func = _offset_case(head)
    before = model(x).detach()
    offsets = fit_class_offsets(model, _last_linear(model), dls, loss_func)
    after = model(x).detach()
    shift = torch.tensor([offsets[c] for c in dls.vocab])
    assert torch.allclose(after - before, shift.expand_as(before), atol=1e-3)
    assert abs(float(shift.sum())) < 1e-3 and offsets["c"] - max(offsets["a"], offsets["b"]) > 1  # centred; class 2 raised
    assert float(loss_func(after, y)) < float(loss_func(before, y)) - 0.1
    assert (after.argmax(dim=1) == y).float().mean() > (before.argmax(dim=1) == y).float().mean() + 0.1


def test_class_offsets_leave_a_head_they_cannot_shift_exactly_unchanged():
    from facexp.train.offsets import fit_class_offsets

    torch.manual_seed(0)
    head = torch.nn.Sequential(torch.nn.BatchNorm1d(16), torch.nn.ReLU(), torch.nn.Linear(16, 3, bias=False))
    model, x, y, dls, loss_func = _offset_case(head)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert fit_class_offsets(model, _last_linear(model), dls, loss_func) is None
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
