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

from .._launch import is_main, world_size
from ..backbones import BackboneSpec, ensure_weights_available, get_backbone
from ..bundle import ModelBundle, load_bundle, read_card, save_bundle, write_card
from ..data import Manifest, has_soft_targets, looks_grayscale, make_dataloaders, read_manifest
from ..ensemble import Ensemble, networks
from ..errors import ConfigError
from ..nets import replace_submodule
from ..preprocess import ImageSettings
from .callbacks import ChannelsLast, EpochLog, FrozenBatchNormStats, KeepBest
from .classmap import match_classes
from .config import TrainConfig
from .distributed import alone, barrier, distributed, from_rank0, on_rank0_alone, setup
from .handoff import from_face_crops, run_record, split_test, valid_warnings
from .offsets import fit_class_offsets
from .resume import EpochCheckpoint, finished, fingerprint as run_fingerprint, fit_one_cycle_from, load_checkpoint, restore
from .start import AUTO, DEFAULT, IMAGENET, resolve_start
from .quantise import int8_ranges
from .soft import SoftTargetCrossEntropy, majority, soft_metrics, target_mass

log = logging.getLogger(__name__)

DEFAULT_SIZE = 96  # the shipped model's size: input side unless small data starts from ImageNet (default_size)
# Up to this many training images the small-data recipe applies: smaller batches, more epochs,
# frozen-body epochs first, then discriminative learning rates (fastai's fine_tune).
SMALL_DATA = 5000
MIN_STEPS = 200  # small data: epochs enough for about this many optimizer steps ...
MAX_EPOCHS = 25  # ... but no more epochs than this
# lr_find's suggestion is kept within these bounds; a curve too short or flat to read gives the fallback.
# The floor: on 25-100 face photos per class from ImageNet weights, lr_find's valley said 1.1e-4 and
# 6.9e-4 on two of six runs; at 1.1e-4 the loss never fell and the model ended at chance (24.7% on
# 4 classes), while a fixed 1e-3, 3e-3 and 1e-2 gave 32-48% on every one of the six (benchmarks/bench_journey.py).
LR_FLOOR, LR_CEILING, LR_FALLBACK = 1e-3, 1e-2, 2e-3
LR_FIND_STEPS = 50
LR_MIN_DROP = 0.15
# After the frozen epochs the whole network trains, the body LR_MULT times below the head.
LR_MULT = 100
# Starting from a facexp model: a gentle fixed rate, the body START_LR_MULT times below the head.
START_LR = 1e-3
START_LR_MULT = 100
RESTRICTED_MARGIN = 2  # validation images a fine-tuned member must win by over its whole restricted ensemble


@dataclass
class TrainResult:
    """What a training run produced."""

    bundle_dir: Path
    metrics: dict
    history: list[dict]
    card: dict

    def _repr_html_(self) -> str:
        """Jupyter: the kept epoch's scores, where training started, the history plot and table."""
        from .display import train_html

        return train_html(self)


def class_weights(counts: dict[str, int], classes: list[str]) -> torch.Tensor:
    """Inverse-square-root frequency weights, mean 1: rare classes count more without swamping the rest."""
    freq = np.array([counts[c] for c in classes], dtype=np.float64)
    w = (freq.sum() / (len(freq) * freq)) ** 0.5
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def make_learner(dls, cfg: TrainConfig, counts: dict[str, float], *, start: ModelBundle | None = None):
    """A fastai vision_learner for ``cfg.arch`` with facexp's loss, metrics and CPU callbacks.

    With ``cfg.init_from``, the network starts from that bundle (``start``, if already loaded):
    every matching tensor, and the head rows of the classes it knows (see ``_init_from_bundle``).

    Soft-label data (probability-vector targets) get cross-entropy against the distribution and
    accuracy / macro-F1 against its majority class (see ``facexp.train.soft``).
    """
    from fastai.vision.all import CrossEntropyLossFlat, F1Score, accuracy, vision_learner

    if cfg.init_from in (AUTO, IMAGENET, DEFAULT):  # called directly, not through train()
        cfg, _ = resolve_start(cfg, list(dls.vocab))
    spec = get_backbone(cfg.arch)
    pretrained = cfg.pretrained and cfg.init_from is None
    if pretrained:
        ensure_weights_available(spec)
    weight = class_weights(counts, list(dls.vocab)) if cfg.balance == "weighted-loss" else None
    if has_soft_targets(dls):
        loss_func, metrics = SoftTargetCrossEntropy(weight, cfg.label_smoothing), soft_metrics()
    else:
        loss_func = CrossEntropyLossFlat(weight=weight, label_smoothing=cfg.label_smoothing)
        metrics = [accuracy, F1Score(average="macro")]
    learn = vision_learner(
        dls, spec.builder, pretrained=pretrained, normalize=False, cut=spec.cut,
        loss_func=loss_func, metrics=metrics,
        cbs=[ChannelsLast(), EpochLog()],
    )
    if cfg.init_from is not None:
        learn.class_map = _init_from_bundle(learn.model, start or load_bundle(cfg.init_from), list(dls.vocab))
        learn.freeze()
    return learn


def _last_linear(model: torch.nn.Module) -> str:
    """The name of the final ``nn.Linear`` (the classifier whose rows are the classes)."""
    names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not names:
        raise ConfigError("the network has no nn.Linear classifier to take class rows from")
    return names[-1]


def _init_from_bundle(model: torch.nn.Module, bundle: ModelBundle, classes: list[str]) -> dict[str, str | None]:
    """Copy every body tensor whose name and shape match, and the head rows of the classes ``bundle`` knows.

    ``classes`` (the new model's) are matched to the bundle's by ``match_classes`` (case, plurals,
    aliases such as laugh/laughing); the final Linear's row (and bias) of each matched class is
    copied from the bundle's row of that class, new classes keep fresh rows. An ensemble's first
    member is the starting network: fine-tuning trains one network, and the first is the one an
    ensemble recipe lists first (the default model's: its strongest). Returns the class mapping.
    """
    target = model.state_dict()
    network = networks(bundle.model)[0]
    source = network.state_dict()
    head_t, head_s = _last_linear(model), _last_linear(network)
    head_keys = {f"{head_t}.weight", f"{head_t}.bias"}
    copied = {k: v for k, v in source.items() if k in target and k not in head_keys and target[k].shape == v.shape}
    if len(copied) < len(target) // 2:
        raise ConfigError(f"--from {bundle.path}: its arch {bundle.arch!r} does not match --arch; use --arch {bundle.arch}")
    mapping = match_classes(classes, list(bundle.classes))
    w_t, w_s = target[f"{head_t}.weight"].clone(), source.get(f"{head_s}.weight")
    if w_s is not None and w_s.shape[1:] == w_t.shape[1:] and w_s.shape[0] == len(bundle.classes):
        b_t, b_s = target.get(f"{head_t}.bias"), source.get(f"{head_s}.bias")
        b_t = None if b_t is None else b_t.clone()
        for i, name in enumerate(classes):
            if mapping[name] is not None:
                j = list(bundle.classes).index(mapping[name])
                w_t[i] = w_s[j]
                if b_t is not None and b_s is not None:
                    b_t[i] = b_s[j]
        copied[f"{head_t}.weight"] = w_t
        if b_t is not None:
            copied[f"{head_t}.bias"] = b_t
    else:
        mapping = {name: None for name in classes}
    model.load_state_dict(copied, strict=False)
    known = {k: v for k, v in mapping.items() if v is not None}
    new = [k for k, v in mapping.items() if v is None]
    log.info("initialised %d/%d tensors from %s; head rows kept for %s; new rows for %s", len(copied), len(target),
             bundle.path, ", ".join(f"{k}={v}" if k != v else k for k, v in known.items()) or "no class",
             ", ".join(new) or "no class")
    return mapping


def _previous_training(init_from: str) -> dict:
    """The starting model's own training record, so a staged run's card accounts for all of its time."""
    previous = read_card(init_from).get("training", {})
    return {key: previous[key] for key in ("config", "seconds", "history", "weights", "previous", "ingredients") if key in previous}


@dataclass(frozen=True)
class Schedule:
    """How a run trains: batch size, frozen and unfrozen epochs, early-stopping patience."""

    bs: int
    epochs: int
    freeze_epochs: int
    patience: int
    keep_bn_stats: bool  # BatchNorm layers keep the starting model's statistics (FrozenBatchNormStats)


def count_training_rows(manifest: Manifest, valid_pct: float) -> int:
    """About how many images the training split will hold (before the DataLoaders exist)."""
    items = manifest.items
    if "split" in items.columns and (items["split"] == "valid").any():
        return int((items["split"] == "train").sum())
    n = int((items["split"] != "test").sum()) if "split" in items.columns else len(items)
    return max(1, round(n * (1 - valid_pct)))


def auto_schedule(n_train: int, cfg: TrainConfig) -> Schedule:
    """The schedule for ``n_train`` training images; options set in ``cfg`` win.

    Up to ``SMALL_DATA`` images: batches of n/8 (8 to 64) so an epoch has several steps, enough
    epochs for about ``MIN_STEPS`` steps (5 to ``MAX_EPOCHS``), and a fifth of that number of
    frozen-body epochs first (fastai's fine_tune); bigger data: batches of 64, 5 epochs, no
    frozen epochs (whole-network one-cycle). A run from a facexp model always has frozen epochs.
    Early stopping waits half the unfrozen epochs (at least 5) for a better validation accuracy.
    Runs from a facexp model, and from ImageNet weights on small data, keep the BatchNorm
    statistics they start with (a network trained from scratch has none worth keeping).
    """
    small = n_train <= SMALL_DATA
    bs = cfg.bs or (int(min(64, max(8, 2 ** int(np.log2(max(n_train, 8) / 8))))) if small else 64)
    steps = max(1, -(-n_train // bs))
    epochs = cfg.epochs or (int(np.clip(-(-MIN_STEPS // steps), 5, MAX_EPOCHS)) if small else 5)
    from_model = cfg.init_from not in (None, AUTO, IMAGENET)  # train() has resolved "auto" by now
    can_freeze = cfg.pretrained or from_model
    if cfg.freeze_epochs is not None:
        freeze = cfg.freeze_epochs if can_freeze else 0
    else:
        freeze = max(1, epochs // 5) if can_freeze and (small or from_model) else 0
    patience = cfg.patience or max(5, epochs // 2)
    keep_bn_stats = from_model or (small and cfg.pretrained)
    return Schedule(bs=bs, epochs=epochs, freeze_epochs=freeze, patience=patience, keep_bn_stats=keep_bn_stats)


def default_size(n_train: int, cfg: TrainConfig, spec: BackboneSpec) -> int:
    """The input side when neither ``--size`` nor a starting facexp model sets it.

    Pretrained weights on small data: the side they were learned at (224 for ImageNet), because
    their features are tuned to objects of that scale and small data cannot re-tune them. On the
    journey's 100 photos per class (benchmarks/bench_journey.py, seeds 0 and 2), ImageNet starts
    scored 65.25% at 224 px, 61.6% at 160 and 58.5% at 96, at about 4x the time of 96 px. Otherwise
    ``DEFAULT_SIZE``, which keeps runs on thousands of images affordable on a CPU.
    """
    if cfg.pretrained and spec.weights_size and n_train <= SMALL_DATA:
        return spec.weights_size
    return DEFAULT_SIZE


def _choose_lr(learn, out: Path) -> tuple[float, str]:
    """lr_find's 'valley' suggestion within [LR_FLOOR, LR_CEILING], with its plot saved beside the model.

    A curve with too few points, or whose loss never clearly falls, says nothing about the
    learning rate (on ~100 images a 5-point curve once suggested 4e-6): then ``LR_FALLBACK`` is
    used, with a warning. Returns the rate and how it was chosen.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log.info("lr_find: trying learning rates over %d steps", LR_FIND_STEPS)
    with learn.no_logging(), learn.no_bar():  # a bar would call its steps "Epoch 1/11", as if training had begun
        suggestion = learn.lr_find(num_it=LR_FIND_STEPS, show_plot=True)
    if is_main():
        plt.gcf().savefig(out / "lr_find.png", dpi=90, bbox_inches="tight")
    plt.close("all")
    losses = np.asarray([float(v) for v in learn.recorder.losses], dtype=float)
    lr, source = float(suggestion.valley), "lr_find"
    problem = _lr_curve_problem(losses, lr)
    if problem is not None:
        message = (f"lr_find's curve cannot be read ({problem}); using lr {LR_FALLBACK:.0e}. "
                   "Pass --lr to choose one (plot: " + str(out / "lr_find.png") + ")")
        warnings.warn(message, stacklevel=3)
        return LR_FALLBACK, "fallback"
    if not LR_FLOOR <= lr <= LR_CEILING:
        clipped = float(np.clip(lr, LR_FLOOR, LR_CEILING))
        log.info("lr_find suggests %.2e; using %.0e (kept within [%.0e, %.0e])", lr, clipped, LR_FLOOR, LR_CEILING)
        return clipped, "lr_find (clipped)"
    log.info("lr_find: %d steps, suggests %.2e (plot: %s)", len(losses), lr, out / "lr_find.png")
    return lr, source


def _lr_curve_problem(losses: np.ndarray, lr: float) -> str | None:
    """Why an lr_find curve (its smoothed losses) is unreadable, or None when it is fine.

    Read like fastai's suggestion, without the first tenth and the last 5 points: fewer than 20
    points, or a loss that never falls ``LR_MIN_DROP`` below where it started (a flat or jagged
    curve: nothing learnable, too few images), or a suggestion 10x outside [LR_FLOOR, LR_CEILING].
    """
    finite = losses[np.isfinite(losses)]
    region = finite[len(finite) // 10: -5] if len(finite) > 10 else finite
    if len(region) < 20:
        return f"only {len(region)} points"
    if not np.isfinite(lr) or lr <= 0:
        return "no suggestion"
    head = float(np.median(region[:5]))
    drop = (head - float(region.min())) / max(head, 1e-8)
    if drop < LR_MIN_DROP:
        return f"the loss fell only {drop:.0%}"
    if not LR_FLOOR / 10 <= lr <= LR_CEILING * 10:
        return f"its suggestion {lr:.1e} is far outside [{LR_FLOOR:.0e}, {LR_CEILING:.0e}]"
    return None


def _history(learn, *, phase: str = "", offset_s: float = 0.0) -> list[dict]:
    names = learn.recorder.metric_names[1:-1]
    return [{**dict(zip(names, map(float, values))), "elapsed_s": round(offset_s + elapsed, 1),
             **({"phase": phase} if phase else {})}
            for values, elapsed in zip(learn.recorder.values, learn.epoch_log.elapsed)]


def _validate(learn) -> dict:
    """Validation loss, accuracy and macro-F1 of the model as it is."""
    with learn.removed_cbs(learn.epoch_log):  # a validation pass is not an epoch of the run
        values = learn.validate()
    return dict(zip(["valid_loss", *[m.name for m in learn.metrics]], map(float, values)))


def _baseline(start: ModelBundle, dls, mapping: dict[str, str | None]) -> dict | None:
    """The starting model itself, answering only among the mapped classes, on the validation split.

    When every class is one the starting model knows, that model restricted with ``--classes``
    is already a classifier for this data: the baseline a trained model should beat.
    """
    vocab = list(dls.vocab)
    if any(mapping.get(c) is None for c in vocab):
        return None
    columns = [list(start.classes).index(mapping[c]) for c in vocab]
    accuracy, macro_f1 = _valid_scores(start.model, dls, columns)
    return {"model": str(start.path), "classes": {c: mapping[c] for c in vocab},
            "valid_accuracy": accuracy, "valid_macro_f1": macro_f1,
            "note": f"the starting model restricted with --classes {','.join(mapping[c] for c in vocab)}"}


def _valid_scores(model: torch.nn.Module, dls, columns: list[int] | None = None) -> tuple[float, float]:
    """Accuracy and macro-F1 of ``model`` (its outputs ``columns``, if given) on the validation split."""
    from sklearn.metrics import f1_score

    model = model.eval()
    preds, targets = [], []
    with torch.inference_mode():
        for xb, yb in dls.valid:
            scores, yb = model(torch.as_tensor(xb)), torch.as_tensor(yb)
            scores = scores if columns is None else scores[:, columns]
            if yb.dim() > 1:  # soft labels: against the majority class, ties left out (as the metrics do)
                pred, true = majority(scores, yb)
            else:
                pred, true = scores.argmax(dim=1), yb
            preds.append(pred)
            targets.append(true)
    y_pred, y_true = torch.cat(preds).numpy(), torch.cat(targets).numpy()
    return float((y_pred == y_true).mean()), float(f1_score(y_true, y_pred, average="macro"))


def restrict_model(bundle: ModelBundle, classes: list[str]) -> torch.nn.Module:
    """A copy of ``bundle``'s network (every member of an ensemble) answering only among ``classes``.

    Each network's final Linear keeps the rows of ``classes`` (its own names, in that order), so
    the copy can be saved and loaded as a bundle with those classes.
    """
    import copy

    rows = [list(bundle.classes).index(c) for c in classes]
    members = []
    for network in networks(bundle.model):
        network = copy.deepcopy(network)
        name = _last_linear(network)
        old = network.get_submodule(name)
        new = torch.nn.Linear(old.in_features, len(rows), bias=old.bias is not None)
        with torch.no_grad():
            new.weight.copy_(old.weight[rows])
            if old.bias is not None:
                new.bias.copy_(old.bias[rows])
        replace_submodule(network, name, new)
        members.append(network)
    if isinstance(bundle.model, Ensemble):
        return Ensemble(members, bundle.model.temperature)
    return members[0]


def _fit(learn, cfg: TrainConfig, plan: Schedule, out: Path, start: ModelBundle | None,
         resumed: dict | None, fingerprint: str) -> dict:
    """Train with ``plan``; returns the lr, the history, the kept epoch and its validation scores.

    From a facexp model the run starts by validating that model (head rows mapped): fine-tuning
    keeps its weights only if some epoch beats it on validation (accuracy, then macro-F1).
    ``resumed`` (``facexp.train.resume``) continues an interrupted run after its last saved epoch.
    """
    from fastai.callback.mixup import MixUp

    extra = [MixUp(cfg.mixup)] if cfg.mixup else []
    if plan.keep_bn_stats:  # small batches must not overwrite the statistics the model learned
        extra.append(FrozenBatchNormStats())
    if plan.freeze_epochs:
        learn.freeze()
    else:
        learn.unfreeze()
    if resumed is not None:
        lr, lr_source = resumed["lr"], resumed["lr_source"]
    elif cfg.lr is not None:
        lr, lr_source = cfg.lr, "--lr"
    elif start is not None:
        lr, lr_source = START_LR, "gentle fixed rate from a facexp model"
    else:  # under a launcher: rank 0 alone, as a lone run would; the others wait for its answer
        lr, lr_source = from_rank0(on_rank0_alone(lambda: _choose_lr(learn, out)))
    with distributed(learn):  # fastai's distrib_ctx under a launcher; as is otherwise
        return _fit_epochs(learn, plan, start, extra, lr, lr_source, out, resumed, fingerprint)


def _fit_epochs(learn, plan: Schedule, start: ModelBundle | None, extra: list, lr: float, lr_source: str,
                out: Path, resumed: dict | None, fingerprint: str) -> dict:
    """``_fit`` once the learning rate is chosen: the frozen then the unfrozen one-cycle fits."""
    if resumed is not None:  # the start was validated and its offsets fitted before the interruption
        before, offsets = resumed["before"], resumed["offsets"]
    else:
        before, offsets = (_validate(learn) if start is not None else None), None
        if before is not None:
            log.info("starting weights: valid accuracy %.4f, macro-F1 %.4f", before["accuracy"], before["f1_score"])
            offsets = fit_class_offsets(learn.model, _last_linear(learn.model), learn.dls, learn.loss_func)
            if offsets is not None:
                shifted = _validate(learn)
                log.info("class offsets fitted to the training images (%s): valid accuracy %.4f",
                         ", ".join(f"{c} {v:+.2f}" for c, v in offsets.items()), shifted["accuracy"])
    keep = KeepBest(start=None if before is None else (before["accuracy"], before["f1_score"]), patience=plan.patience)
    if resumed is not None:
        restore(learn, keep, resumed)
    history: list[dict] = list(resumed["history"]) if resumed is not None else []
    # fastai's fine_tune: half the rate for the unfrozen network, the body lr_mult times lower
    lr_mult = START_LR_MULT if start is not None else LR_MULT
    phases = [("frozen", plan.freeze_epochs, lr, 0.99), ("unfrozen", plan.epochs, slice(lr / 2 / lr_mult, lr / 2), 0.25)
              ] if plan.freeze_epochs else [("", plan.epochs, lr, 0.25)]
    started = time.time() - (history[-1]["elapsed_s"] if history else 0.0)
    for phase, n_epochs, rate, pct_start in phases:
        done = sum(1 for h in history if h.get("phase", "") == phase)
        if done >= n_epochs or keep.stopped_early:
            continue
        (learn.freeze if phase == "frozen" else learn.unfreeze)()
        if not done:
            keep.start_phase()
        so_far, offset = list(history), history[-1]["elapsed_s"] if history else 0.0

        def progress(phase=phase, so_far=so_far, offset=offset) -> dict:
            return {"fingerprint": fingerprint, "lr": lr, "lr_source": lr_source, "before": before, "offsets": offsets,
                    "history": so_far + _history(learn, phase=phase, offset_s=offset),
                    "keep": keep.snapshot()}

        checkpoint = [EpochCheckpoint(out, progress)] if is_main() else []
        fit_one_cycle_from(learn, n_epochs, rate, start_epoch=done, pct_start=pct_start, cbs=[keep, *checkpoint, *extra])
        history += _history(learn, phase=phase, offset_s=offset)
    seconds = time.time() - started
    keep.restore(learn.model)
    if keep.best_epoch:
        chosen = history[keep.best_epoch - 1]
        scores = {"valid_accuracy": chosen["accuracy"], "valid_macro_f1": chosen["f1_score"],
                  "valid_loss": chosen["valid_loss"], "best_epoch": keep.best_epoch}
    else:
        scores = {"valid_accuracy": before["accuracy"], "valid_macro_f1": before["f1_score"],
                  "valid_loss": before["valid_loss"], "best_epoch": 0}
    kept = None
    if before is not None:
        best_tuned = max(history, key=lambda h: (h["accuracy"], h["f1_score"])) if history else None
        if keep.best_epoch:
            kept = "fine-tuned"
            log.info("kept the fine-tuned weights (epoch %d: valid accuracy %.4f; the starting weights: %.4f)",
                     keep.best_epoch, scores["valid_accuracy"], before["accuracy"])
        else:
            kept = "starting weights"
            message = (f"kept the starting weights: fine-tuning reached valid accuracy "
                       f"{best_tuned['accuracy'] if best_tuned else float('nan'):.4f}, below the start's "
                       f"{before['accuracy']:.4f}")
            log.warning(message)
    return {"lr": lr, "lr_source": lr_source, "history": history, "seconds": seconds, "scores": scores,
            "before": before, "offsets": offsets, "kept": kept, "stopped_early": keep.stopped_early,
            "resumed": resumed is not None}


def _plot_history(history: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, each point marked and the last values in the legend: a line
    needs two epochs, and a one-epoch run would otherwise give empty axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    epochs = range(1, len(history) + 1)
    panels = ((axes[0], "loss", (("train_loss", "train"), ("valid_loss", "valid"))),
              (axes[1], "score", (("accuracy", "accuracy"), ("f1_score", "macro F1"))))
    for ax, ylabel, series in panels:
        for key, name in series:
            values = [h[key] for h in history]
            ax.plot(epochs, values, marker="o", label=f"{name} ({values[-1]:.3f})" if values else name)
        ax.set(xlabel="epoch", ylabel=ylabel, xlim=(0.5, len(history) + 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.legend()
    axes[1].set_ylim(0, 1)
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
    from fastai.torch_core import set_seed

    cfg = cfg or TrainConfig()
    out = Path(out)
    setup()  # under torchrun / accelerate launch: join the process group (see facexp.train.distributed)
    manifest = data if isinstance(data, Manifest) else read_manifest(data)
    if cfg.classes:
        manifest = manifest.subset(cfg.classes)
    for path, reason in manifest.skipped:
        warnings.warn(f"skipped {reason}", stacklevel=2)
    manifest, crop_faces, crops = from_face_crops(manifest)  # crops from `facexp faces`: its settings, its drops
    manifest, test = split_test(manifest, test_pct=cfg.test_pct, test=cfg.test, seed=cfg.seed)
    cfg, start_note = resolve_start(cfg, manifest.classes, face_crops=crop_faces is not None)
    log.info("start: %s", start_note)
    spec = get_backbone(cfg.arch)  # an unknown arch fails here, before any work
    start = load_bundle(cfg.init_from) if cfg.init_from is not None else None
    if cfg.grayscale is not None:
        grayscale = cfg.grayscale
    else:  # from a facexp model: the colour mode it learned in
        grayscale = start.image.grayscale if start is not None else looks_grayscale(manifest)
    n_train = count_training_rows(manifest, cfg.valid_pct)
    size = cfg.size or (start.image.size if start is not None else default_size(n_train, cfg, spec))
    plan = auto_schedule(n_train, cfg)
    log.info("schedule: %d px, batch size %d, %d frozen + %d epochs, early-stopping patience %d",
             size, plan.bs, plan.freeze_epochs, plan.epochs, plan.patience)
    settings = ImageSettings(size=size, grayscale=grayscale, mean=spec.mean, std=spec.std)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(cfg.seed, reproducible=True)
    dls = make_dataloaders(manifest, settings, valid_pct=cfg.valid_pct, seed=cfg.seed, bs=plan.bs,
                           augment=cfg.augment, balance_sampler=cfg.balance == "sampler")
    if has_soft_targets(dls):  # soft labels: a class's frequency is its summed target probability
        counts = {c: max(mass, 1.0) for c, mass in target_mass(dls).items()}
    else:
        train_counts = dls.train_ds.items["label"].value_counts().to_dict()
        counts = {c: int(train_counts.get(c, 1)) for c in dls.vocab}
    learn = make_learner(dls, cfg, counts, start=start)
    learn.path, learn.model_dir = out, "checkpoints"
    from fastcore.basics import noop

    learn.logger = noop  # EpochLog's line per epoch replaces fastai's table (a raw Python list when piped)
    if not sys.stderr.isatty():  # bars become noise in logs
        from fastai.callback.progress import ProgressCallback

        learn.remove_cb(ProgressCallback)
    key = run_fingerprint(manifest.items.astype(str).values.tolist(), cfg.to_dict())
    resumed = load_checkpoint(out, key) if cfg.resume else None
    fitted = _fit(learn, cfg, plan, out, start, resumed, key)
    if not is_main():  # rank 0 writes the one set of outputs; the others hand back what it wrote
        barrier()
        return _written_result(out)
    n_processes = world_size()
    with alone():  # under a launcher rank 0 finishes as a lone run: fastai must not wait for the others
        lr, seconds, history = fitted["lr"], fitted["seconds"], fitted["history"]
        _plot_history(history, out / "training.png")
        metrics = dict(fitted["scores"])  # best_epoch 0: the starting weights were kept
        if n_processes > 1 and metrics["best_epoch"]:  # epoch scores were averaged over padded per-process slices
            exact = _validate(learn)
            metrics.update(valid_accuracy=exact["accuracy"], valid_macro_f1=exact["f1_score"],
                           valid_loss=exact["valid_loss"])
        baseline = _baseline(start, dls, learn.class_map) if start is not None else None
        if baseline is not None:
            metrics["baseline_valid_accuracy"] = baseline["valid_accuracy"]
            metrics["baseline_valid_macro_f1"] = baseline["valid_macro_f1"]
            log.info("baseline: %s scores valid accuracy %.4f (this model: %.4f)", baseline["note"],
                     baseline["valid_accuracy"], metrics["valid_accuracy"])
        model, dtype = learn.model, "float32"
        if baseline is not None:  # keep the better of the fine-tuned network and the starting model restricted
            restricted = restrict_model(start, [learn.class_map[c] for c in dls.vocab])
            scores = _valid_scores(restricted, dls)
            n_valid = len(dls.valid_ds)
            # From an ensemble, the restricted model is all of it while fine-tuning trains one member, so
            # the ensemble wins unless the member gets at least RESTRICTED_MARGIN more validation images
            # right: on tens of images one image is noise (measured with the 4-network default of
            # 2026-11-28: a member kept for one more right answer out of 38 scored 1.75 points below the
            # restricted ensemble on test). From one network, a tie is enough (see KeepBest).
            margin = RESTRICTED_MARGIN / max(n_valid, 1) if isinstance(start.model, Ensemble) else 0.0
            if fitted["kept"] != "fine-tuned" or metrics["valid_accuracy"] < scores[0] + margin - 1e-6:
                log.warning("kept the starting model restricted to these classes: valid accuracy %.4f, the fine-tuned "
                            "network's %.4f", scores[0], metrics["valid_accuracy"])
                model, dtype = restricted, start.card.get("weights_dtype", "float32")
                fitted["kept"] = "starting model restricted"
                metrics.update(valid_accuracy=scores[0], valid_macro_f1=scores[1], best_epoch=0)
                metrics.pop("valid_loss", None)
        predicted, warned = valid_warnings(learn)  # predicted-class counts, near-chance / collapse warnings
        card = {
            "name": out.resolve().name,
            "arch": cfg.arch,
            "classes": list(dls.vocab),
            "image": settings.to_dict(),
            "faces": cfg.faces if cfg.faces is not None else crop_faces,
            "training": {
                "data": manifest.summary(),
                "n_train": len(dls.train_ds), "n_valid": len(dls.valid_ds),
                "config": {**cfg.to_dict(), "lr": lr, "lr_source": fitted["lr_source"], "grayscale": grayscale,
                           "size": size, "bs": plan.bs, "epochs": plan.epochs, "freeze_epochs": plan.freeze_epochs,
                           "patience": plan.patience, "keep_bn_stats": plan.keep_bn_stats},
                "seconds": round(seconds, 1), "history": history,
                **({"distributed": {"processes": n_processes, "bs_per_process": plan.bs,
                                    "bs_per_step": plan.bs * n_processes}} if n_processes > 1 else {}),
                **({"stopped_early": True} if fitted["stopped_early"] else {}),
                **({"resumed": True} if fitted["resumed"] else {}),
                **({"start": {**fitted["before"], "kept": fitted["kept"], "classes": learn.class_map,
                              "class_offsets": fitted["offsets"]}} if start is not None else {}),
                **({"baseline": baseline} if baseline is not None else {}),
                "weights": spec.weights if cfg.init_from is None else f"initialised from {cfg.init_from}",
                "start_from": start_note,
                **({"previous": _previous_training(cfg.init_from)} if cfg.init_from is not None else {}),
                **run_record(out, manifest, test, crops), "valid_predicted": predicted, "warnings": warned,
            },
            "metrics": metrics,
        }
        bundle_dir = save_bundle(out / "model", model, card, dtype=dtype)
        card["training"]["int8"] = int8_ranges(bundle_dir, dls)
        card = {**read_card(bundle_dir), "training": card["training"]}  # with the int8 entry if the ranges were kept
        write_card(bundle_dir, card)
        if cfg.save_pickle:
            learn.export(bundle_dir / "learner.pkl")
        log.info("saved %s (valid accuracy %.3f at epoch %d)", bundle_dir, metrics["valid_accuracy"], metrics["best_epoch"])
        finished(out)
    barrier()  # under a launcher: the other ranks wait for the bundle
    return TrainResult(bundle_dir, metrics, history, card)


def _written_result(out: Path) -> TrainResult:
    """The TrainResult of the bundle rank 0 wrote to ``out/model`` (what the other ranks return)."""
    card = read_card(out / "model")
    return TrainResult(out / "model", card["metrics"], card["training"]["history"], card)
