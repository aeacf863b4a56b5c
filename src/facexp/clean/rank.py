"""Out-of-sample probabilities and the ranked list of suspects.

Confident learning (Northcutt et al. 2021, ``cleanlab.filter.find_label_issues``) needs, for every
image, class probabilities from a model that did not see that image's label. The cheap way used
here: the shipped model's pooled features (or a trained model's) and a logistic-regression head fitted
k times, each time on the other folds (``cross_val_probs``). ``benchmarks/bench_clean.py`` compares
it with the model's own probabilities restricted to the dataset's classes (``model_probs``).

Every image can carry several reasons; its score is the highest of theirs (0-1, higher is more
suspicious). A label issue scores ``1 - p(given label)`` out of sample; the other reasons score
by how surely the image is unusable as it stands (``REASON_SCORES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .._progress import track
from ..errors import DataError

N_FOLDS = 5
REASON_SCORES = {"no face found": 0.97, "near-uniform": 0.97, "not a photo": 0.95, "conflict": 0.9,
                 "tiny": 0.6, "duplicate": 0.5}
LABEL_ISSUE = "label issue"


@dataclass(frozen=True)
class Suspect:
    """One image worth a look: what it is labelled, what it looks like, how suspicious, and why."""

    item_id: int
    path: str  # relative to the dataset folder
    given: str
    suggested: str  # the most likely class out of sample ('' when the image has no readable face)
    score: float
    reasons: tuple[str, ...]
    detail: str = ""

    @property
    def reason(self) -> str:
        return ", ".join(self.reasons)

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons), "score": round(self.score, 4)}


def cross_val_probs(features: np.ndarray, labels: np.ndarray, *, n_folds: int = N_FOLDS, seed: int = 0,
                    l2: float = 0.3) -> np.ndarray:
    """Out-of-sample class probabilities: a logistic-regression head fitted on the other folds.

    Args:
        features: (n, d) pooled features.
        labels: (n,) class indices 0..k-1; every class needs at least 2 images.
        n_folds: folds (fewer when the smallest class is smaller).
        l2: weight decay per training image of the head (on standardised features): sklearn's
            ``C = 1 / (l2 * n_train)``, so the head is as smooth on 100 images as on 10,000. 0.3
            is C = 0.001 at 3,000 images, the best of 0.05-0.001 on planted FER2013 noise (train
            sample and test set alike; ``benchmarks/bench_clean.py``).

    Returns:
        (n, k) probabilities; row i comes from a head that never saw image i.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_classes = int(labels.max()) + 1
    folds = min(n_folds, int(np.bincount(labels, minlength=n_classes).min()))
    if folds < 2:
        raise DataError("every class needs at least 2 readable face images for cross-validation")
    probs = np.zeros((len(labels), n_classes), dtype=np.float64)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, labels))
    for train, held in track(splits, "cross-validating"):
        head = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / (l2 * len(train)), max_iter=300))
        head.fit(features[train], labels[train])
        probs[np.ix_(held, head[-1].classes_)] = head.predict_proba(features[held])
    return probs


def model_probs(probs: np.ndarray, model_classes: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """The model's own probabilities over the dataset's ``classes`` (each must be a model class).

    Raises:
        DataError: a dataset class the model does not know.
    """
    from ..probs import restrict

    unknown = [c for c in classes if c not in model_classes]
    if unknown:
        raise DataError(f"classes {unknown} are not classes of the model ({', '.join(model_classes)}); "
                        "use --method cv-head")
    return restrict(probs, list(model_classes), list(classes))


def label_issues(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confident learning: which labels look wrong, and every image's label score.

    Returns:
        (issue mask, score) where score = 1 - p(given label) (cleanlab's self-confidence).
    """
    import warnings

    with warnings.catch_warnings():  # its tqdm.auto import warns in a notebook without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        from cleanlab.filter import find_label_issues

    n_classes = probs.shape[1]
    present = np.bincount(labels, minlength=n_classes) > 0
    if present.sum() < 2:
        return np.zeros(len(labels), dtype=bool), np.zeros(len(labels))
    probs = probs / probs.sum(axis=1, keepdims=True)
    mask = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
    score = 1.0 - probs[np.arange(len(labels)), labels]
    return np.asarray(mask, dtype=bool), score


def rank_suspects(candidates: Sequence[Suspect]) -> list[Suspect]:
    """Highest score first; ties by reason count (more is worse), then path (stable, reproducible)."""
    return sorted(candidates, key=lambda s: (-s.score, -len(s.reasons), s.path))


def merge_reasons(item_ids: Sequence[int], paths: Sequence[str], given: Sequence[str], suggested: Sequence[str],
                  reasons: Sequence[Sequence[str]], label_scores: Sequence[float | None],
                  details: Sequence[str] | None = None) -> list[Suspect]:
    """Suspects of every image with at least one reason, ranked.

    Args:
        label_scores: an image's label-issue score, or None when it is not a label issue.
    """
    out = []
    for k, why in enumerate(reasons):
        score = max([REASON_SCORES.get(r, 0.5) for r in why if r != LABEL_ISSUE] +
                    [label_scores[k] or 0.0 if LABEL_ISSUE in why else 0.0])
        if why:
            out.append(Suspect(int(item_ids[k]), paths[k], given[k], suggested[k], float(score), tuple(why),
                               details[k] if details else ""))
    return rank_suspects(out)
