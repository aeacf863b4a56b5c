"""Small fastai callbacks for CPU training."""

from __future__ import annotations

import logging
import time

import torch
from fastai.callback.core import Callback

log = logging.getLogger(__name__)


class ChannelsLast(Callback):
    """Run convolutions in NHWC: measured 1.4-1.6x faster training of efficientnet_lite0 on this CPU.

    fastai's ``to_channelslast`` is CUDA-only, so this does the two conversions by hand.
    """

    order = 5

    def before_fit(self):
        self.learn.model.to(memory_format=torch.channels_last)

    def before_batch(self):
        self.learn.xb = tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in self.xb)

    def after_fit(self):
        self.learn.model.to(memory_format=torch.contiguous_format)


class EpochLog(Callback):
    """One log line per epoch, for logs and terminals where fastprogress draws no table.

    ``elapsed`` keeps the seconds from the start of the fit to the end of each epoch, so a card
    can show when its best weights were written, not only how long the whole run took.
    """

    order = 90
    skipped = 0  # epochs of this fit's schedule run before a resume: numbered on from there

    def before_fit(self):
        self._fit_start, self.elapsed = time.time(), []

    def before_epoch(self):
        self._start, self._trained = time.time(), False

    def before_train(self):
        self._trained = True

    def after_epoch(self):
        # lr_find's mock training, and a lone validation pass (learn.validate), are not epochs of the run
        if hasattr(self.learn, "lr_finder") or not getattr(self, "_trained", False):
            return
        names = self.recorder.metric_names[1:-1]
        values = self.recorder.values[-1] if self.recorder.values else []
        parts = [f"{n} {v:.4f}" for n, v in zip(names, values)]
        now = time.time()
        self.elapsed.append(round(now - self._fit_start, 1))
        log.info("epoch %d/%d  %s  (%.0fs)", self.skipped + self.epoch + 1, self.skipped + self.n_epoch, "  ".join(parts),
                 now - self._start)


class KeepBest(Callback):
    """Keep the weights of the best epoch on validation accuracy (the first of equals), across fits, in memory.

    ``start`` is the (accuracy, macro-F1) of the weights the run started from, already validated:
    an epoch must reach its accuracy to be kept, so fine-tuning a model that was already good
    never hands back a worse one (``best_epoch`` stays 0). Equal is enough against the start
    (after that, an epoch must beat the best): an epoch as good as the start on validation has
    also learnt the user's labels, and on the journey benchmark's four runs where fine-tuning
    tied the start or beat it by one validation image, the fine-tuned network scored 0.5-1.0
    points higher on test. ``patience`` stops a fit after that many epochs without a new best
    (early stopping); None never stops.
    """

    order = 95  # after Recorder and EpochLog, so a stopped epoch is still recorded and logged
    RESUMABLE = ("best", "best_epoch", "n_epochs", "wait", "state")  # what an interrupted run hands on

    def __init__(self, start: tuple[float, float] | None = None, patience: int | None = None):
        self.best, self.patience = start, patience
        self.state = None if start is None else "start"
        self.best_epoch, self.n_epochs, self.wait, self.stopped_early = 0, 0, 0, False

    def start_phase(self) -> None:
        """A new fit (frozen, then unfrozen epochs) gets the whole patience; the tail of a resumed one does not."""
        self.wait = 0

    def snapshot(self) -> dict:
        return {name: getattr(self, name) for name in self.RESUMABLE}

    def load(self, snapshot: dict) -> None:
        for name in self.RESUMABLE:
            setattr(self, name, snapshot[name])

    def before_fit(self):
        if self.state == "start":  # the starting weights, copied once the model exists
            self.state = _copy_state(self.learn.model)

    def after_epoch(self):
        if hasattr(self.learn, "lr_finder"):
            return
        names = list(self.recorder.metric_names[1:-1])
        values = dict(zip(names, self.recorder.values[-1]))
        score = (float(values["accuracy"]), float(values["f1_score"]))
        self.n_epochs += 1
        reaches_start = self.best is not None and self.best_epoch == 0 and score[0] >= self.best[0]
        if self.best is None or score[0] > self.best[0] or reaches_start:  # ties between epochs keep the earlier
            self.best, self.best_epoch, self.wait = score, self.n_epochs, 0
            self.state = _copy_state(self.learn.model)
        else:
            self.wait += 1
            last = self.learn.epoch + 1 >= self.learn.n_epoch  # nothing left to skip: the fit ends anyway
            if self.patience is not None and self.wait >= self.patience and not last:
                from fastai.callback.core import CancelFitException

                log.info("no better validation accuracy for %d epochs: stopping early", self.wait)
                self.stopped_early = True
                raise CancelFitException()

    def restore(self, model: torch.nn.Module) -> None:
        """Load the kept weights into ``model`` (the learner's; a callback forgets it after the fit)."""
        if isinstance(self.state, dict):
            model.load_state_dict(self.state)


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The network's tensors, without the ``module.`` prefix a DDP wrapper adds (restored unwrapped)."""
    from .distributed import unwrap

    return {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}


class FrozenBatchNormStats(Callback):
    """Keep every BatchNorm layer in eval mode while training: its statistics stay the starting model's.

    Fine-tuning a facexp model on a few images in batches of 8-32 would otherwise replace the
    running means and variances it learned on tens of thousands of faces with noisy estimates
    from those batches, which shifts every layer's input before any weight has changed. The same
    holds for ImageNet's statistics on small data: there, updating them let the validation loss
    climb during the frozen epochs while the training loss fell (one journey run ended at 27% on 4
    classes); kept, the same four runs scored 11 points higher on average (benchmarks/bench_journey.py).
    """

    order = 1  # after fastai's TrainEvalCallback (order -10) puts the model in train mode

    def before_train(self):
        for module in self.learn.model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
