"""PNG renderers for an EvalReport (headless, Agg)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..imageio import open_image  # noqa: E402
from .metrics import EvalReport  # noqa: E402


def plot_confusion(report: EvalReport, path: Path, *, normalize: bool) -> Path:
    cm = report.confusion(normalize=normalize)
    n = len(report.classes)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * n, 0.8 + 0.7 * n))
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else max(1, cm.max()))
    ax.set_xticks(range(n), report.classes, rotation=45, ha="right")
    ax.set_yticks(range(n), report.classes)
    ax.set(xlabel="predicted", ylabel="actual", title="row-normalised" if normalize else "counts")
    threshold = (1 if normalize else cm.max()) / 2
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]:.2f}" if normalize else str(int(cm[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if cm[i, j] > threshold else "black")
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)
    return path


def plot_reliability(report: EvalReport, path: Path) -> Path:
    cal = report.calibration()
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    centers = [(b["lo"] + b["hi"]) / 2 for b in cal["bins"]]
    ax.bar(centers, [b["accuracy"] for b in cal["bins"]], width=0.09, alpha=0.7, label="accuracy")
    ax.plot([b["confidence"] for b in cal["bins"]], [b["accuracy"] for b in cal["bins"]], "o-", color="C1", label="model")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"ECE {cal['ece']:.3f}")
    ax.legend(loc="upper left"); fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)
    return path


def plot_per_class(report: EvalReport, path: Path) -> Path:
    per = report.per_class()
    x = np.arange(len(report.classes))
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(x), 3))
    for k, metric in enumerate(("precision", "recall", "f1")):
        ax.bar(x + (k - 1) * 0.27, [per[c][metric] for c in report.classes], width=0.27, label=metric)
    ax.set_xticks(x, report.classes, rotation=45, ha="right"); ax.set(ylim=(0, 1)); ax.legend(ncol=3, fontsize=8)
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)
    return path


def plot_top_losses(report: EvalReport, path: Path, k: int = 16) -> Path:
    idx = report.top_losses(k)
    cols = 4
    rows = max(1, (len(idx) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.2, rows * 2.5))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for ax, i in zip(np.atleast_1d(axes).ravel(), idx):
        if report.paths:
            ax.imshow(open_image(report.paths[i]))
        true, pred = report.classes[report.y_true[i]], report.classes[report.y_pred[i]]
        ax.set_title(f"{pred} / {true}\n{report.losses()[i]:.2f} / {report.probs[i, report.y_true[i]]:.2f}", fontsize=8)
    fig.suptitle("top losses: predicted / actual, loss / prob of actual", fontsize=9)
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)
    return path
