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

    def before_fit(self):
        self._fit_start, self.elapsed = time.time(), []

    def before_epoch(self):
        self._start = time.time()

    def after_epoch(self):
        names = self.recorder.metric_names[1:-1]
        values = self.recorder.values[-1] if self.recorder.values else []
        parts = [f"{n} {v:.4f}" for n, v in zip(names, values)]
        now = time.time()
        self.elapsed.append(round(now - self._fit_start, 1))
        log.info("epoch %d/%d  %s  (%.0fs)", self.epoch + 1, self.n_epoch, "  ".join(parts), now - self._start)
