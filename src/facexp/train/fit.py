"""Training: Manifest → fastai ``vision_learner`` → best epoch → safe model bundle.

Layered like fastai: ``make_learner`` builds the Learner from DataLoaders and a config (reach it
to customise), ``train`` runs the whole job the CLI calls.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..backbones import ensure_weights_available, get_backbone
from ..bundle import ModelBundle, load_bundle, read_card, save_bundle
from ..data import Manifest, looks_grayscale, make_dataloaders, read_manifest
from ..ensemble import networks
from ..errors import ConfigError
from ..preprocess import ImageSettings
from .callbacks import ChannelsLast, EpochLog
from .config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    bundle_dir: Path
    metrics: dict
    history: list[dict]
    card: dict


def class_weights(counts: dict[str, int], classes: list[str]) -> torch.Tensor:
    """Inverse-square-root frequency weights, mean 1: rare classes count more without swamping the rest."""
    freq = np.array([counts[c] for c in classes], dtype=np.float64)
    w = (freq.sum() / (len(freq) * freq)) ** 0.5
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def make_learner(dls, cfg: TrainConfig, counts: dict[str, int]):
    """A fastai vision_learner for ``cfg.arch`` with facexp's loss, metrics and CPU callbacks."""
    from fastai.vision.all import CrossEntropyLossFlat, F1Score, accuracy, vision_learner

    spec = get_backbone(cfg.arch)
    pretrained = cfg.pretrained and cfg.init_from is None
    if pretrained:
        ensure_weights_available(spec)
    weight = class_weights(counts, list(dls.vocab)) if cfg.balance == "weighted-loss" else None
    learn = vision_learner(
        dls, spec.builder, pretrained=pretrained, normalize=False, cut=spec.cut,
        loss_func=CrossEntropyLossFlat(weight=weight, label_smoothing=cfg.label_smoothing),
        metrics=[accuracy, F1Score(average="macro")],
        cbs=[ChannelsLast(), EpochLog()],
    )
    if cfg.init_from is not None:
        _init_from_bundle(learn.model, load_bundle(cfg.init_from))
        learn.freeze()
    return learn


def _init_from_bundle(model: torch.nn.Module, bundle: ModelBundle) -> None:
    """Copy every tensor whose name and shape match (all but the last layer when classes differ).

    An ensemble's first member is the starting network: fine-tuning trains one network, and the
    first is the one an ensemble recipe lists first (the default model's: its strongest).
    """
    target = model.state_dict()
    source = networks(bundle.model)[0].state_dict()
    copied = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if len(copied) < len(target) // 2:
        raise ConfigError(f"--from {bundle.path}: its arch {bundle.arch!r} does not match --arch; use --arch {bundle.arch}")
    model.load_state_dict(copied, strict=False)
    log.info("initialised %d/%d tensors from %s", len(copied), len(target), bundle.path)


def _previous_training(init_from: str) -> dict:
    """The starting model's own training record, so a staged run's card accounts for all of its time."""
    previous = read_card(init_from).get("training", {})
    return {key: previous[key] for key in ("config", "seconds", "history", "weights", "previous", "ingredients") if key in previous}


def _choose_lr(learn, out: Path) -> float:
    """lr_find's 'valley' suggestion, with its plot saved beside the model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_iter = max(10, min(30, len(learn.dls.train)))
    with learn.no_logging():
        suggestion = learn.lr_find(num_it=n_iter, show_plot=True)
    plt.gcf().savefig(out / "lr_find.png", dpi=90, bbox_inches="tight")
    plt.close("all")
    lr = float(suggestion.valley)
    if not np.isfinite(lr) or lr <= 0:
        lr = 1e-3
    log.info("lr_find suggests %.2e (plot: %s)", lr, out / "lr_find.png")
    return lr


def _history(learn) -> list[dict]:
    names = learn.recorder.metric_names[1:-1]
    return [{**dict(zip(names, map(float, values))), "elapsed_s": elapsed}
            for values, elapsed in zip(learn.recorder.values, learn.epoch_log.elapsed)]


def _plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = range(1, len(history) + 1)
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["valid_loss"] for h in history], label="valid")
    ax1.set(xlabel="epoch", ylabel="loss"); ax1.legend()
    ax2.plot(epochs, [h["accuracy"] for h in history], label="accuracy")
    ax2.plot(epochs, [h["f1_score"] for h in history], label="macro F1")
    ax2.set(xlabel="epoch", ylim=(0, 1)); ax2.legend()
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)


def train(data: str | os.PathLike | Manifest, out: str | os.PathLike, cfg: TrainConfig | None = None) -> TrainResult:
    """Train an expression classifier and write a model bundle to ``out/model``.

    Args:
        data: class sub-folders, a manifest CSV, or a Manifest.
        out: run directory (bundle in ``out/model``, plots and checkpoints beside it).
        cfg: options; defaults to ``TrainConfig()``.

    Raises:
        DataError, ConfigError, WeightsNotFound: with the input and the fix in the message.
    """
    from fastai.callback.mixup import MixUp
    from fastai.callback.tracker import SaveModelCallback
    from fastai.torch_core import set_seed

    cfg = cfg or TrainConfig()
    out = Path(out)
    manifest = data if isinstance(data, Manifest) else read_manifest(data)
    if cfg.classes:
        manifest = manifest.subset(cfg.classes)
    for path, reason in manifest.skipped:
        warnings.warn(f"skipped {reason}", stacklevel=2)
    spec = get_backbone(cfg.arch)  # an unknown arch fails here, before any work
    grayscale = looks_grayscale(manifest) if cfg.grayscale is None else cfg.grayscale
    settings = ImageSettings(size=cfg.size, grayscale=grayscale, mean=spec.mean, std=spec.std)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed, reproducible=True)
    dls = make_dataloaders(manifest, settings, valid_pct=cfg.valid_pct, seed=cfg.seed, bs=cfg.bs,
                           augment=cfg.augment, balance_sampler=cfg.balance == "sampler")
    train_counts = dls.train_ds.items["label"].value_counts().to_dict()
    learn = make_learner(dls, cfg, {c: int(train_counts.get(c, 1)) for c in dls.vocab})
    learn.path, learn.model_dir = out, "checkpoints"
    if not sys.stderr.isatty():  # bars become noise in logs; EpochLog still reports every epoch
        from fastai.callback.progress import ProgressCallback

        learn.remove_cb(ProgressCallback)
    learn.unfreeze()
    lr = cfg.lr if cfg.lr is not None else _choose_lr(learn, out)
    best = SaveModelCallback(monitor="accuracy", fname="best", with_opt=False)
    started = time.time()
    if cfg.freeze_epochs and (cfg.pretrained or cfg.init_from is not None):
        learn.freeze()
        learn.fit_one_cycle(cfg.freeze_epochs, lr)
    learn.unfreeze()
    learn.fit_one_cycle(cfg.epochs, lr, cbs=[best, *([MixUp(cfg.mixup)] if cfg.mixup else [])])
    seconds = time.time() - started
    history = _history(learn)
    _plot_history(history, out / "training.png")
    best_epoch = int(np.argmax([h["accuracy"] for h in history]))
    metrics = {"valid_accuracy": history[best_epoch]["accuracy"], "valid_macro_f1": history[best_epoch]["f1_score"],
               "valid_loss": history[best_epoch]["valid_loss"], "best_epoch": best_epoch + 1}
    card = {
        "arch": cfg.arch,
        "classes": list(dls.vocab),
        "image": settings.to_dict(),
        "faces": cfg.faces,
        "training": {
            "data": manifest.summary(),
            "n_train": len(dls.train_ds), "n_valid": len(dls.valid_ds),
            "config": {**cfg.to_dict(), "lr": lr, "grayscale": grayscale},
            "seconds": round(seconds, 1), "history": history,
            "weights": spec.weights if cfg.init_from is None else f"initialised from {cfg.init_from}",
            **({"previous": _previous_training(cfg.init_from)} if cfg.init_from is not None else {}),
        },
        "metrics": metrics,
    }
    bundle_dir = save_bundle(out / "model", learn.model, card)
    if cfg.save_pickle:
        learn.export(bundle_dir / "learner.pkl")
    log.info("saved %s (valid accuracy %.3f at epoch %d)", bundle_dir, metrics["valid_accuracy"], best_epoch + 1)
    return TrainResult(bundle_dir, metrics, history, card)
