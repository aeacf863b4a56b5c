"""Ensembles: networks of one recipe answering as one model.

Networks that err on different faces average to fewer errors; one ``nn.Module`` whose output is the
log of the members' mean probability keeps that invisible to everything downstream — the Predictor,
``evaluate`` and the ONNX export apply softmax to a model's output and get the members' average.
"""

from __future__ import annotations

import torch
from torch import nn


class Ensemble(nn.Module):
    """Average the class probabilities of ``members``; the output is their log (softmax gives them back)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(x).softmax(dim=1) for m in self.members]).mean(dim=0)
        return probs.clamp_min(1e-12).log()


def networks(model: nn.Module) -> list[nn.Module]:
    """The single networks inside ``model``: its members when it is an Ensemble, else itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


def average_weights(models: list[nn.Module]) -> dict[str, torch.Tensor]:
    """Uniform average of the floating-point tensors of same-shaped networks (integer buffers: the last's).

    Only meaningful for networks fine-tuned from one another or from a common start, which sit in
    one basin of the loss (Wortsman et al. 2022, "Model soups"); unrelated networks average to noise.
    """
    states = [m.state_dict() for m in models]
    return {k: torch.stack([s[k].double() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
            for k, v in states[-1].items()}
