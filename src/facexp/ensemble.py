"""Ensembles: networks of one recipe answering as one model.

Networks that err on different faces average to fewer errors; one ``nn.Module`` whose output is the
log of the members' mean probability keeps that invisible to everything downstream — the Predictor,
``evaluate`` and the ONNX export apply softmax to a model's output and get the members' average.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Ensemble(nn.Module):
    """Average the class probabilities of ``members``; the output is their log (softmax gives them back).

    ``temperature`` divides that log: averaging members trained with MixUp and label smoothing
    gives probabilities less confident than the ensemble is right, and a temperature fitted on
    held-out data (``fit_temperature``) corrects that without changing any answer.
    """

    def __init__(self, members: list[nn.Module], temperature: float = 1.0):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.temperature = temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(x).softmax(dim=1) for m in self.members]).mean(dim=0)
        return probs.clamp_min(1e-12).log() / self.temperature


def networks(model: nn.Module) -> list[nn.Module]:
    """The single networks inside ``model``: its members when it is an Ensemble, else itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` ** (1 / T), renormalised: what ``Ensemble`` outputs at that temperature."""
    z = np.log(np.clip(probs, 1e-12, None)) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.3-3, step 0.01) that minimises the log loss of ``probs`` on ``labels``."""
    rows = np.arange(len(labels))

    def log_loss(t: float) -> float:
        return float(-np.log(np.clip(apply_temperature(probs, t)[rows, labels], 1e-12, None)).mean())

    return min(np.round(np.arange(0.3, 3.0, 0.01), 2).tolist(), key=log_loss)


def average_weights(models: list[nn.Module]) -> dict[str, torch.Tensor]:
    """Uniform average of the floating-point tensors of same-shaped networks (integer buffers: the last's).

    Only meaningful for networks fine-tuned from one another or from a common start, which sit in
    one basin of the loss (Wortsman et al. 2022, "Model soups"); unrelated networks average to noise.
    """
    states = [m.state_dict() for m in models]
    return {k: torch.stack([s[k].double() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[-1].items()}
