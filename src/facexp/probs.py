"""Operations on class-probability arrays shared by prediction and evaluation."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, C) logits, shifted by each row's maximum so that large logits cannot overflow."""
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def restrict(probs: np.ndarray, classes: list[str], subset: list[str]) -> np.ndarray:
    """Probabilities over ``subset`` only, renormalised to sum to one (rows are images).

    This is how a model with 8 expressions answers the original 4-class question.
    """
    idx = [classes.index(c) for c in subset]
    sub = probs[:, idx]
    return sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
