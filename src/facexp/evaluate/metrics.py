"""Evaluation numbers, computed apart from how they are shown (fastai's Interpretation split)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ..probs import restrict


@dataclass
class EvalReport:
    """Everything `facexp evaluate` measures on one labelled set."""

    classes: list[str]
    y_true: np.ndarray  # class indices
    probs: np.ndarray  # (n, n_classes)
    paths: list[str] = field(default_factory=list)
    # Grad-CAM overlays (PIL images of the crop's network size) of the top losses: row index → overlay
    gradcams: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def y_pred(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.y_pred == self.y_true).mean())

    @property
    def accuracy_interval(self) -> tuple[float, float]:
        """The 95% range the accuracy could well be in, given how few images measured it."""
        from ..checks import accuracy_interval

        return accuracy_interval(int((self.y_pred == self.y_true).sum()), len(self.y_true))

    def confusion(self, normalize: bool = False) -> np.ndarray:
        """Rows: true class; columns: predicted class; row-normalised when asked."""
        cm = confusion_matrix(self.y_true, self.y_pred, labels=range(len(self.classes)))
        if normalize:
            return cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
        return cm

    def per_class(self) -> dict[str, dict[str, float]]:
        p, r, f, s = precision_recall_fscore_support(self.y_true, self.y_pred, labels=range(len(self.classes)),
                                                     zero_division=0)
        return {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                for i, c in enumerate(self.classes)}

    @property
    def macro_f1(self) -> float:
        present = [m["f1"] for m in self.per_class().values() if m["support"] > 0]
        return float(np.mean(present)) if present else 0.0

    def most_confused(self, k: int = 10) -> list[tuple[str, str, int]]:
        """(true, predicted, count) for the largest off-diagonal cells."""
        cm = self.confusion()
        cells = [(self.classes[i], self.classes[j], int(cm[i, j]))
                 for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] > 0]
        return sorted(cells, key=lambda c: -c[2])[:k]

    def losses(self) -> np.ndarray:
        return -np.log(np.clip(self.probs[np.arange(len(self.y_true)), self.y_true], 1e-12, None))

    def top_losses(self, k: int = 16) -> list[int]:
        """Indices of the k examples the model got most confidently wrong (label-error candidates)."""
        return [int(i) for i in np.argsort(-self.losses())[:k]]

    def calibration(self, n_bins: int = 10) -> dict:
        """Reliability-diagram bins and the expected calibration error (ECE)."""
        conf = self.probs.max(axis=1)
        correct = (self.y_pred == self.y_true).astype(float)
        edges = np.linspace(0, 1, n_bins + 1)
        bins, ece = [], 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            mask = (conf > lo) & (conf <= hi)
            if mask.any():
                acc, avg_conf = float(correct[mask].mean()), float(conf[mask].mean())
                ece += mask.mean() * abs(acc - avg_conf)
                bins.append({"lo": float(lo), "hi": float(hi), "count": int(mask.sum()), "accuracy": acc,
                             "confidence": avg_conf})
        return {"ece": float(ece), "bins": bins}

    def warnings(self) -> list[str]:
        """Plain warnings when accuracy is near chance or only one or two classes are ever answered."""
        from ..checks import prediction_warnings

        return prediction_warnings(self.classes, self.y_true, self.y_pred)

    def _repr_html_(self) -> str:
        """Jupyter: headline numbers, confusion matrix, per-class table and the top losses with Grad-CAM."""
        from .display import report_html

        return report_html(self)

    def to_dict(self) -> dict:
        return {"n": int(len(self.y_true)), "accuracy": self.accuracy, "accuracy_interval": list(self.accuracy_interval),
                "macro_f1": self.macro_f1,
                "warnings": self.warnings(), "classes": self.classes, "per_class": self.per_class(),
                "confusion": self.confusion().tolist(),
                "most_confused": [list(c) for c in self.most_confused()],
                "calibration": self.calibration(),
                "top_losses": [{"path": self.paths[i] if self.paths else None,
                                "true": self.classes[self.y_true[i]], "pred": self.classes[self.y_pred[i]],
                                "loss": float(self.losses()[i])} for i in self.top_losses()]}


def fold_classes(report: EvalReport, mapping: dict[str, str]) -> EvalReport:
    """Merge classes by summing their probabilities (e.g. laughing → happy for the 7 FER classes)."""
    new_classes = list(dict.fromkeys(mapping.get(c, c) for c in report.classes))
    index = [new_classes.index(mapping.get(c, c)) for c in report.classes]
    probs = np.zeros((len(report.probs), len(new_classes)))
    for old, new in enumerate(index):
        probs[:, new] += report.probs[:, old]
    return EvalReport(new_classes, np.array([index[i] for i in report.y_true]), probs, report.paths)


def restrict_classes(report: EvalReport, subset: list[str]) -> EvalReport:
    """Keep examples of ``subset`` and renormalise probabilities over it (the original 4-class task)."""
    idx = [report.classes.index(c) for c in subset]
    keep = np.isin(report.y_true, idx)
    probs = restrict(report.probs[keep], report.classes, subset)
    remap = {old: new for new, old in enumerate(idx)}
    paths = [p for p, k in zip(report.paths, keep) if k] if report.paths else []
    return EvalReport(list(subset), np.array([remap[i] for i in report.y_true[keep]]), probs, paths)
