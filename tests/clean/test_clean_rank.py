"""The ranking on synthetic probabilities and features: no model, no images (except the outlier checks)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage.data import astronaut

from facexp.clean.features import outlier_reasons
from facexp.clean.rank import (LABEL_ISSUE, cross_val_probs, label_issues, merge_reasons, model_probs,
                               rank_suspects, Suspect)
from facexp.errors import DataError


def noisy_probs(n: int = 300, k: int = 3, n_flip: int = 12, seed: int = 0):
    """Confident, mostly right probabilities for true labels; ``n_flip`` given labels changed."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    probs = rng.dirichlet(np.ones(k), n) * 0.3
    probs[np.arange(n), true] += 0.7
    flipped = rng.choice(n, n_flip, replace=False)
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, k, n_flip)) % k
    return given, probs, set(flipped.tolist()), true


def test_label_issues_flag_the_flipped_labels_first():
    given, probs, flipped, _ = noisy_probs()
    mask, score = label_issues(given, probs)
    flagged = set(np.flatnonzero(mask).tolist())
    assert flagged <= flipped and len(flagged) >= 0.75 * len(flipped)  # cleanlab estimates the count a little low
    top = np.argsort(-score)[:len(flipped)]
    assert set(top.tolist()) == flipped  # and the flips have the highest scores


def test_merge_reasons_ranks_by_score_then_reasons_then_path():
    given, probs, flipped, true = noisy_probs(n=40, n_flip=3, seed=1)
    mask, score = label_issues(given, probs)
    reasons = [[LABEL_ISSUE] if m else [] for m in mask]
    reasons[0] = reasons[0] + ["no face found"]
    reasons[1] = ["duplicate"]
    paths = [f"c/{i:03d}.jpg" for i in range(40)]
    suspects = merge_reasons(list(range(40)), paths, ["x"] * 40, ["y"] * 40, reasons, list(score))
    by_id = {s.item_id: s for s in suspects}
    assert by_id[0].score == max(0.97, score[0] if mask[0] else 0)  # no face found scores 0.97
    assert by_id[1].score == 0.5 and by_id[1].reasons == ("duplicate",)
    assert {s.item_id for s in suspects} == set(np.flatnonzero(mask).tolist()) | {0, 1}  # no reason: not listed
    scores = [s.score for s in suspects]
    assert scores == sorted(scores, reverse=True)
    ties = rank_suspects([Suspect(2, "b.jpg", "x", "y", 0.5, ("duplicate",)),
                          Suspect(1, "a.jpg", "x", "y", 0.5, ("duplicate",)),
                          Suspect(3, "c.jpg", "x", "y", 0.5, ("duplicate", "tiny"))])
    assert [s.path for s in ties] == ["c.jpg", "a.jpg", "b.jpg"]


def test_cross_val_probs_are_out_of_sample():
    """A flipped point keeps a low probability for its given label: an in-sample fit would learn it."""
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1, 2], 40)
    features = rng.normal(size=(120, 16)) + 3.0 * np.eye(3, 16)[true]
    given = true.copy()
    given[[0, 50, 100]] = [1, 2, 0]
    probs = cross_val_probs(features, given, n_folds=5)
    assert probs.shape == (120, 3) and np.allclose(probs.sum(axis=1), 1)
    assert (probs[[0, 50, 100], given[[0, 50, 100]]] < 1 / 3).all()
    assert (probs.argmax(axis=1)[[0, 50, 100]] == true[[0, 50, 100]]).all()


def test_cross_val_probs_needs_two_images_per_class():
    with pytest.raises(DataError, match="at least 2"):
        cross_val_probs(np.zeros((5, 4)), np.array([0, 0, 0, 0, 1]))


def test_model_probs_restrict_and_refuse_unknown_classes():
    probs = np.array([[0.1, 0.6, 0.3]])
    assert np.allclose(model_probs(probs, ["a", "b", "c"], ["c", "a"]), [[0.75, 0.25]])
    with pytest.raises(DataError, match="not classes of the model"):
        model_probs(probs, ["a", "b", "c"], ["a", "zebra"])


def test_outlier_reasons():
    rng = np.random.default_rng(0)
    assert outlier_reasons(Image.fromarray(astronaut())) == []
    assert outlier_reasons(Image.new("RGB", (300, 300), (200, 200, 200))) == ["near-uniform"]
    assert outlier_reasons(Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))) == ["tiny"]
    drawing = Image.new("RGB", (300, 300), "white")
    ImageDraw.Draw(drawing).ellipse([50, 50, 250, 250], fill="yellow", outline="black", width=8)
    assert outlier_reasons(drawing) == ["not a photo"]
