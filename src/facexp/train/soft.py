"""Loss and metrics for soft-label manifests, whose targets are class-probability vectors.

- Loss: cross-entropy against the target distribution, ``-sum_c w_c * t_c * log p_c`` averaged
  over the batch (PyTorch's ``cross_entropy`` with probability targets). ``--balance
  weighted-loss`` weights each class's share of the target by ``w_c``; label smoothing mixes the
  target with the uniform distribution, ``t * (1 - eps) + eps / C``, as for hard labels.
- MixUp: the loss has ``y_int = False``, so fastai's MixUp blends the target vectors themselves
  (a convex mix of two distributions is a distribution), no loss wrapping needed.
- Metrics: accuracy and macro-F1 against each row's majority class (the target's argmax); rows
  whose top classes tie have no majority and are left out, as ``facexp evaluate`` does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score as _sk_f1_score


class SoftTargetCrossEntropy(torch.nn.Module):
    """Cross-entropy of logits against probability targets, with class weights and label smoothing."""

    y_int = False  # tells fastai's MixUp to blend the targets rather than the losses

    def __init__(self, weight: torch.Tensor | None = None, label_smoothing: float = 0.0, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", weight)
        self.label_smoothing, self.reduction = label_smoothing, reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = logits.as_subclass(torch.Tensor), target.as_subclass(torch.Tensor).float()
        weight = None if self.weight is None else self.weight.to(logits.device)
        return F.cross_entropy(logits, target, weight=weight, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)

    def activation(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits, dim=-1)

    def decodes(self, probs: torch.Tensor) -> torch.Tensor:
        return probs.argmax(dim=-1)


def majority(preds: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted class, majority class) for the rows whose target has a single top class."""
    true = majority_class(targets)
    keep = true >= 0
    return preds.argmax(dim=-1)[keep], true[keep]


def majority_class(targets: torch.Tensor) -> torch.Tensor:
    """Each row's single top class, or -1 where classes tie for the top."""
    top = targets.max(dim=-1, keepdim=True).values
    single = (targets == top).sum(dim=-1) == 1
    return torch.where(single, targets.argmax(dim=-1), -1)


def majority_accuracy(preds: torch.Tensor, targets: torch.Tensor) -> float:
    pred, true = majority(preds, targets)
    return float((pred == true).float().mean()) if len(true) else 0.0


def majority_macro_f1(preds: torch.Tensor, targets: torch.Tensor) -> float:
    pred, true = majority(preds, targets)
    return float(_sk_f1_score(true.numpy(), pred.numpy(), average="macro", zero_division=0)) if len(true) else 0.0


def soft_metrics() -> list:
    """fastai metrics named like the hard-label ones (``accuracy``, ``f1_score``), over the whole epoch."""
    from fastai.metrics import AccumMetric

    return [AccumMetric(majority_accuracy, flatten=False, name="accuracy"),
            AccumMetric(majority_macro_f1, flatten=False, name="f1_score")]


def target_mass(dls) -> dict[str, float]:
    """Summed target probability per class over the training set (soft class frequencies)."""
    vocab = list(dls.vocab)
    mass = dls.train_ds.items[vocab].to_numpy(float).sum(axis=0)
    return dict(zip(vocab, map(float, mass)))
