"""An EvalReport in a notebook: warnings, headline numbers, confusion matrix, top losses with Grad-CAM.

The same content as ``report.html`` (``write_report``) in one inline block: the confusion matrix as
a shaded table (actual rows, predicted columns; shade = share of the row, as fastai's
``plot_confusion_matrix``), the top losses as the images themselves beside where the network looked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._display import card, esc, grid, img_tag, section, table, thumbnail, warnings_html, wrap
from .metrics import EvalReport

TOP_LOSSES = 8  # cards shown; the HTML report draws 16
CARD_SIDE = 160


def confusion_html(report: EvalReport) -> str:
    """Counts, each cell shaded by its share of the actual class (white text on dark cells)."""
    counts, shares = report.confusion(), report.confusion(normalize=True)
    style = "border:1px solid #ccc;padding:3px 8px;text-align:right;min-width:2.5em"
    head = "".join(f'<th style="{style}">{esc(c)}</th>' for c in report.classes)
    rows = []
    for i, actual in enumerate(report.classes):
        cells = []
        for j in range(len(report.classes)):
            share = float(shares[i, j])
            colour = f"rgba(31,119,180,{share:.2f})"
            text = "white" if share > 0.5 else "black"
            cells.append(f'<td style="{style};background:{colour};color:{text}" title="{share:.0%} of {esc(actual)}">'
                         f"{int(counts[i, j])}</td>")
        rows.append(f'<tr><th style="{style}">{esc(actual)}</th>{"".join(cells)}</tr>')
    corner = f'<th style="{style};font-weight:normal;color:#555">actual \\ predicted</th>'
    return f'<table style="border-collapse:collapse;font-size:13px"><tr>{corner}{head}</tr>{"".join(rows)}</table>'


def top_losses_html(report: EvalReport, k: int = TOP_LOSSES) -> str:
    """The ``k`` worst losses: the image, its Grad-CAM when evaluate made one, and what went wrong."""
    if not report.paths:
        return "<p>(no image paths in this report)</p>"
    losses = report.losses()
    cards = []
    for i in report.top_losses(k):
        pred, true = report.classes[report.y_pred[i]], report.classes[report.y_true[i]]
        pictures = img_tag(thumbnail(report.paths[i], CARD_SIDE), Path(report.paths[i]).name, width=CARD_SIDE // 2
                           if i in report.gradcams else CARD_SIDE)
        if i in report.gradcams:
            pictures += img_tag(report.gradcams[i], "Grad-CAM", fmt="PNG", width=CARD_SIDE // 2)
        caption = (f"<b>{esc(pred)}</b> / {esc(true)}<br>loss {losses[i]:.2f} &middot; p({esc(true)}) "
                   f"{report.probs[i, report.y_true[i]]:.2f}<br>"
                   f'<span style="color:#555">{esc(Path(report.paths[i]).name)}</span>')
        cards.append(card(f'<div style="display:flex">{pictures}</div>', caption, width=CARD_SIDE + 10))
    return grid(cards, n_total=len(cards), shown=len(cards))


def report_html(report: EvalReport) -> str:
    """Everything ``facexp evaluate`` measured, inline; warnings first, before any number a reader might trust."""
    n = len(report.y_true)
    counts = np.bincount(report.y_true, minlength=len(report.classes)) if n else np.zeros(len(report.classes), int)
    top = int(counts.argmax()) if n else 0
    lo, hi = report.accuracy_interval
    head = (f'<div style="font-size:1.2em">accuracy <b>{report.accuracy:.3f}</b> (95% interval {lo:.2f}-{hi:.2f}) '
            f"&middot; macro-F1 <b>{report.macro_f1:.3f}</b> &middot; ECE {report.calibration()['ece']:.3f} &middot; n = {n}</div>"
            f'<div style="color:#555">class balance: '
            f"{esc(', '.join(f'{c} {k}' for c, k in zip(report.classes, counts)))}; always answering "
            f"{esc(report.classes[top])} would score {counts[top] / max(n, 1):.1%}</div>")
    per_class = table(("class", "precision", "recall", "F1", "support"),
                      [(c, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}", m["support"])
                       for c, m in report.per_class().items()])
    confused = ", ".join(f"{a} → {b} ({k})" for a, b, k in report.most_confused(5)) or "none"
    side_by_side = (f'<div style="display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start">'
                    f"{section('Confusion matrix', confusion_html(report))}{section('Per class', per_class)}</div>")
    explained = "with Grad-CAM (where the network looked for the class it answered) " if report.gradcams else ""
    losses = section("Top losses", top_losses_html(report),
                     note=f"The images the model is most confidently wrong about, {explained}as predicted / actual: "
                          "often label errors worth reviewing.")
    return wrap(warnings_html(report.warnings()) + head + side_by_side
                + f"<div><b>Most confused:</b> {esc(confused)}</div>" + losses)
