"""`facexp train` under torchrun: 2 CPU processes (gloo on loopback) through fastai's distrib_ctx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from facexp import _launch


def launch_env(**extra: str) -> dict[str, str]:
    """The environment for a launched job: one thread per process, offline, gloo on loopback."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           **extra}
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    for name in _launch.LAUNCHER_ENV:  # a test run itself started by a launcher must not leak its rank
        env.pop(name, None)
    return env


def torchrun_or_skip() -> list[str]:
    """The torchrun command (as ``python -m torch.distributed.run``), or a skip naming what is missing."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch build has no torch.distributed with the gloo backend")
    try:
        import accelerate  # noqa: F401
    except ImportError:
        pytest.skip("accelerate is not installed (fastai's distrib_ctx needs it)")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_no_launcher_env_means_one_lone_process(monkeypatch):
    for name in _launch.LAUNCHER_ENV:
        monkeypatch.delenv(name, raising=False)
    assert (_launch.world_size(), _launch.rank(), _launch.launched(), _launch.is_main()) == (1, 0, False, True)
    monkeypatch.setenv("WORLD_SIZE", "1")  # torchrun --nproc_per_node 1: still the single-process path
    assert not _launch.launched()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert _launch.launched() and not _launch.is_main()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_two_processes_train_one_model(shapes_dir, tmp_path):
    """Two processes on loopback: lr_find on rank 0, DDP epochs, one bundle, one summary, rank 0's files only."""
    out = tmp_path / "run"
    cmd = [*torchrun_or_skip(), "-m", "facexp", "train", str(shapes_dir), "--out", str(out), "--arch", "tiny_cnn",
           "--no-pretrained", "--epochs", "2", "--size", "32", "--seed", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=launch_env(), timeout=280, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    assert res.stdout.count("model: ") == 1, res.stdout  # rank 0 prints the summary, rank 1 nothing
    assert res.stderr.count("epoch 2/2") == 1, res.stderr[-3000:]  # and logs each epoch once
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    int8_kept = json.loads((out / "model" / "model.json").read_text())["training"]["int8"]["kept"]
    assert files == ["lr_find.png", *(["model/int8_ranges.json"] if int8_kept else []), "model/model.json",
                     "model/model.safetensors", "test.csv", "training.png"]

    from facexp.bundle import load_bundle
    from facexp.predict import Predictor

    bundle = load_bundle(out / "model")
    assert list(bundle.classes) == sorted(d.name for d in shapes_dir.iterdir() if d.is_dir())
    card = json.loads((out / "model" / "model.json").read_text())
    training = card["training"]
    assert training["distributed"] == {"processes": 2, "bs_per_process": training["config"]["bs"],
                                       "bs_per_step": 2 * training["config"]["bs"]}
    assert len(training["history"]) == 2 and training["config"]["lr_source"] in ("lr_find", "lr_find (clipped)", "fallback")
    # the whole validation split is scored at the end, not each process's padded slice
    assert training["n_valid"] > 0 and 0 <= card["metrics"]["valid_accuracy"] <= 1
    result = Predictor(out / "model").predict(next((shapes_dir / "circle").iterdir()))
    assert result.label in bundle.classes and abs(sum(result.probs.values()) - 1) < 1e-3
