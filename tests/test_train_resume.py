"""An interrupted `facexp train` continues with --resume: the rest of the same schedule, one history."""

import dataclasses

import numpy as np
import pytest
import torch

from facexp.errors import ConfigError
from facexp.train import TrainConfig, train
from facexp.train import resume


def _learner():
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner

    torch.manual_seed(0)
    x = torch.randn(64, 4)
    data = list(zip(x, (x[:, 0] > 0).long()))
    return Learner(DataLoaders.from_dsets(data, data, bs=16), torch.nn.Linear(4, 2), loss_func=torch.nn.CrossEntropyLoss())


def test_a_one_cycle_fit_run_from_an_epoch_follows_the_rest_of_the_same_schedule():
    whole = _learner()
    whole.fit_one_cycle(6, 1e-2)
    tail = _learner()
    resume.fit_one_cycle_from(tail, 6, 1e-2, start_epoch=4)
    lrs, tail_lrs = np.array(whole.recorder.lrs), np.array(tail.recorder.lrs)
    assert len(tail_lrs) == len(lrs) // 3 and len(tail.recorder.values) == 2  # the 4 skipped epochs are not recorded
    assert np.allclose(tail_lrs, lrs[-len(tail_lrs):])


def _shapes_config(**kw):
    options = dict(arch="tiny_cnn", pretrained=False, epochs=6, size=32, bs=8, lr=1e-2, seed=1, balance="none",
                   label_smoothing=0.0, augment=False)
    return TrainConfig(**{**options, **kw})


def test_an_interrupted_run_resumes_after_its_last_saved_epoch(shapes_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(resume, "SAVE_EVERY_S", 0.0)  # a checkpoint after every epoch, however short
    save = resume.EpochCheckpoint.after_epoch
    saved = []

    def save_then_stop(self):  # Ctrl-C right after the third epoch was saved
        save(self)
        saved.append(self.learn.epoch)
        if len(saved) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(resume.EpochCheckpoint, "after_epoch", save_then_stop)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(shapes_dir, out, _shapes_config())
    checkpoint = torch.load(out / resume.CHECKPOINT, weights_only=False)
    assert len(checkpoint["history"]) == 3 and not (out / "model").exists()

    with pytest.raises(ConfigError, match="other data or with other options"):
        train(shapes_dir, out, _shapes_config(resume=True, seed=2))
    monkeypatch.setattr(resume.EpochCheckpoint, "after_epoch", save)
    result = train(shapes_dir, out, _shapes_config(resume=True))
    history = result.history
    assert len(history) == 6 and history[:3] == checkpoint["history"]  # one run: the saved epochs, then the rest
    assert history[3]["elapsed_s"] > history[2]["elapsed_s"]
    assert result.card["training"]["resumed"] is True and result.card["training"]["seconds"] >= history[2]["elapsed_s"]
    assert not (out / resume.CHECKPOINT).exists()  # saved as a model: nothing left to resume
    with pytest.raises(ConfigError, match="no interrupted run"):
        train(shapes_dir, out, _shapes_config(resume=True))


def test_resume_is_not_part_of_what_must_match():
    rows = [["a.png", "happy"]]
    config = dataclasses.asdict(_shapes_config())
    assert resume.fingerprint(rows, config) == resume.fingerprint(rows, {**config, "resume": True})
    assert resume.fingerprint(rows, config) != resume.fingerprint(rows, {**config, "epochs": 7})
    assert resume.fingerprint(rows, config) != resume.fingerprint([["a.png", "sad"]], config)


def test_a_resumed_fit_keeps_its_early_stopping_count():
    """Two epochs without a better one before the interruption, patience 3: the next bad epoch stops
    the resumed fit, as it would have stopped the whole one; a new phase starts the count again."""
    from types import SimpleNamespace

    from fastai.callback.core import CancelFitException

    from facexp.train.callbacks import KeepBest

    model = torch.nn.Linear(1, 1)
    recorder = SimpleNamespace(metric_names=["epoch", "train_loss", "valid_loss", "accuracy", "f1_score", "time"], values=[])
    before = KeepBest(patience=3)
    before.learn = SimpleNamespace(model=model, recorder=recorder, epoch=0, n_epoch=100)
    for accuracy in (0.8, 0.7, 0.7):
        recorder.values.append([1.0, 1.0, accuracy, accuracy])
        before.after_epoch()
    resumed = KeepBest(patience=3)
    resumed.learn = before.learn
    resumed.load(before.snapshot())
    resumed.before_fit()
    assert (resumed.best_epoch, resumed.wait) == (1, 2)
    recorder.values.append([1.0, 1.0, 0.7, 0.7])
    with pytest.raises(CancelFitException):
        resumed.after_epoch()
    resumed.start_phase()
    assert resumed.wait == 0
