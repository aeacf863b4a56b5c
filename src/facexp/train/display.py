"""A TrainResult in a notebook: where the model went, how good it is, the history plot and table."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .._display import bytes_uri, esc, section, table, warnings_html, wrap
from ..checks import interval_text

if TYPE_CHECKING:
    from .fit import TrainResult


def history_png(result: TrainResult) -> bytes:
    """The run's ``training.png``, or the same plot drawn from the history when the file is gone."""
    saved = result.bundle_dir.parent / "training.png"
    if saved.is_file():
        return saved.read_bytes()
    from .fit import _plot_history

    buf = io.BytesIO()
    _plot_history(result.history, buf)
    return buf.getvalue()


def train_html(result: TrainResult) -> str:
    """Warnings first, then the kept epoch's scores, where training started, the plot and one row per epoch."""
    training = result.card.get("training", {})
    config = training.get("config", {})
    m = result.metrics
    best = m.get("best_epoch")
    start = training.get("start", {}).get("kept")
    kept = f"epoch {best} of {len(result.history)}" if best else (start or "the starting weights")
    n_valid = training.get("n_valid")
    interval = f" ({interval_text(m['valid_accuracy'], n_valid)})" if n_valid and "valid_accuracy" in m else ""
    head = (f'<div style="font-size:1.2em">valid accuracy <b>{m.get("valid_accuracy", float("nan")):.3f}</b>{interval} '
            f'&middot; macro-F1 <b>{m.get("valid_macro_f1", float("nan")):.3f}</b> &middot; kept {esc(kept)}</div>'
            f'<div style="color:#555">{esc(str(result.bundle_dir))} &middot; {esc(str(config.get("arch", "")))} '
            f'{config.get("size", "")} px &middot; {training.get("n_train", "?")} train / {training.get("n_valid", "?")} '
            f'valid images &middot; {training.get("seconds", 0):.0f} s</div>')
    if training.get("start_from"):
        head += f'<div style="color:#555">started from {esc(training["start_from"])}</div>'
    if "baseline_valid_accuracy" in m:
        head += (f'<div style="color:#555">the starting model alone: valid accuracy '
                 f'{m["baseline_valid_accuracy"]:.3f}</div>')
    plot = f'<img alt="training history" src="{bytes_uri(history_png(result))}" style="max-width:100%">'
    rows = [(k, h.get("phase", ""), *(f"{h[key]:.4f}" for key in ("train_loss", "valid_loss", "accuracy", "f1_score")),
             f"{h.get('elapsed_s', 0):.0f}") for k, h in enumerate(result.history, 1)]
    history = table(("epoch", "phase", "train loss", "valid loss", "accuracy", "macro F1", "s"), rows)
    return wrap(warnings_html(training.get("warnings", [])) + head + section("History", plot + history))
