"""Resumable training: a checkpoint after the epochs of a long run, and ``--resume`` to continue from it.

A session limit, a closed laptop or Ctrl-C can end a run of tens of minutes on a CPU. ``facexp train
... --resume`` picks it up after its last saved epoch with the rest of the same schedule (the
one-cycle learning rate continues where it was, not from its start), the optimizer's state, the
weights kept so far as the best, the early-stopping count and the history, so the card records one
run and its whole cost. The data order after a resume differs from an uninterrupted run (the
shuffles start again): the two are equivalent, not identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback

from ..errors import ConfigError
from .distributed import unwrap

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "resume.pth"  # inside the run directory
SAVE_EVERY_S = 30.0  # saved once this long has passed since the last save: every epoch of a long run, few of a short one
# TrainConfig fields that may differ between a run and its resume (they do not change what is trained)
FREE_FIELDS = ("resume", "save_pickle")


def fingerprint(rows: list, config: dict) -> str:
    """What a resumed run must share with the run it continues: its training rows and options."""
    fixed = {k: v for k, v in config.items() if k not in FREE_FIELDS}
    return hashlib.sha256(json.dumps([rows, fixed], sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_checkpoint(out: Path, expected: str) -> dict:
    """The checkpoint of an interrupted run in ``out``.

    Raises:
        ConfigError: there is none, or it belongs to a run with other data or options.
    """
    path = out / CHECKPOINT
    if not path.exists():
        raise ConfigError(f"--resume: {out} has no interrupted run to continue ({path} not found: runs save one "
                          f"after epochs once they have lasted {SAVE_EVERY_S:g} s); start it again without --resume")
    saved = torch.load(path, map_location="cpu", weights_only=False)  # written by this module, in the user's own run
    if saved["fingerprint"] != expected:
        raise ConfigError(f"--resume: the run in {out} was trained on other data or with other options (see its "
                          f"{CHECKPOINT.parent}/): give the same DATA and options, or another --out without --resume")
    done = len(saved["history"])
    log.info("resuming %s after epoch %d (%.0f s of training so far)", out, done,
             saved["history"][-1]["elapsed_s"] if done else 0.0)
    return saved


def restore(learn, keep, saved: dict) -> None:
    """Load an interrupted run's weights, optimizer state and kept-best record into ``learn`` and ``keep``."""
    unwrap(learn.model).load_state_dict(saved["model"])
    if learn.opt is None:
        learn.create_opt()
    learn.opt.load_state_dict(saved["opt"])
    keep.load(saved["keep"])


def fit_one_cycle_from(learn, n_epoch: int, lr_max, *, start_epoch: int = 0, pct_start: float = 0.25,
                       cbs: list | None = None) -> None:
    """fastai's ``fit_one_cycle`` for ``n_epoch`` epochs, run from ``start_epoch``: the epochs before it
    are not run at all, and the schedule of the rest is the one an uninterrupted run would follow.

    fastai's own ``start_epoch`` still records and reports the skipped epochs (as empty ones), which
    the callbacks here would count as epochs of the run.
    """
    from fastai.callback.schedule import ParamScheduler, combined_cos

    if learn.opt is None:
        learn.create_opt()
    learn.opt.set_hyper("lr", lr_max)
    peak = np.array([h["lr"] for h in learn.opt.hypers])
    whole = {"lr": combined_cos(pct_start, peak / 25.0, peak, peak / 1e5),
             "mom": combined_cos(pct_start, *learn.moms)}
    offset, share = start_epoch / n_epoch, (n_epoch - start_epoch) / n_epoch
    tail = {k: (lambda pct, f=f: f(offset + pct * share)) for k, f in whole.items()}
    counter = getattr(learn, "epoch_log", None)  # facexp's EpochLog numbers epochs as in the whole schedule
    if counter is not None:
        counter.skipped = start_epoch
    try:
        learn.fit(n_epoch - start_epoch, cbs=[ParamScheduler(tail), *(cbs or [])])
    finally:
        if counter is not None:
            counter.skipped = 0


class EpochCheckpoint(Callback):
    """After an epoch, once ``SAVE_EVERY_S`` have passed since the last save, write what ``--resume``
    needs to ``out/checkpoints/resume.pth`` (atomically: an interrupted save leaves the previous one)."""

    order = 96  # after KeepBest (95), so the checkpoint holds this epoch's verdict

    def __init__(self, out: Path, progress):
        self.path, self.progress, self.last = out / CHECKPOINT, progress, time.monotonic()

    def after_epoch(self):
        if hasattr(self.learn, "lr_finder") or time.monotonic() - self.last < SAVE_EVERY_S:
            return
        state = {**self.progress(), "model": unwrap(self.learn.model).state_dict(), "opt": self.learn.opt.state_dict()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".part")
        torch.save(state, partial)
        os.replace(partial, self.path)
        self.last = time.monotonic()


def finished(out: Path) -> None:
    """The run is saved as a model: its checkpoint has nothing left to resume."""
    (out / CHECKPOINT).unlink(missing_ok=True)
