"""The evaluation report: a self-contained HTML page (images inlined) plus metrics.json."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .metrics import EvalReport
from .plots import plot_confusion, plot_per_class, plot_reliability, plot_top_losses


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def write_report(report: EvalReport, out_dir: Path, *, title: str = "facexp evaluation", extra: dict | None = None,
                 explained: list[tuple[str, Image.Image]] | None = None) -> Path:
    """Render PNGs, ``metrics.json`` and ``report.html`` into ``out_dir``; returns the HTML path.

    Warnings (near chance, few classes answered) come first, before any number a reader might
    trust; then the class balance, which says what accuracy a constant answer would get.
    ``explained`` holds (caption, Grad-CAM overlay) pairs for the top losses.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = {
        "confusion counts": plot_confusion(report, out_dir / "confusion.png", normalize=False),
        "confusion row-normalised": plot_confusion(report, out_dir / "confusion_normalised.png", normalize=True),
        "per-class metrics": plot_per_class(report, out_dir / "per_class.png"),
        "reliability": plot_reliability(report, out_dir / "reliability.png"),
        "top losses": plot_top_losses(report, out_dir / "top_losses.png"),
    }
    metrics = {**report.to_dict(), **(extra or {})}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{m['precision']:.3f}</td><td>{m['recall']:.3f}</td>"
        f"<td>{m['f1']:.3f}</td><td>{m['support']}</td></tr>" for c, m in report.per_class().items())
    confused = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{n}</td></tr>"
                       for a, b, n in report.most_confused())
    warned = "".join(f'<p class="warning">&#9888; {html.escape(w)}</p>' for w in report.warnings())
    counts = np.bincount(report.y_true, minlength=len(report.classes))
    total = max(int(counts.sum()), 1)
    balance = ", ".join(f"{html.escape(c)} {n} ({n / total:.0%})" for c, n in zip(report.classes, counts))
    top = int(counts.argmax())
    lo, hi = report.accuracy_interval
    cams = []
    for k, (caption, image) in enumerate(explained or [], 1):
        image.save(out_dir / f"gradcam_{k}.png")
        cams.append(f'<figure>{_img(out_dir / f"gradcam_{k}.png")}<figcaption>{html.escape(caption)}</figcaption></figure>')
    explained_html = ("<h2>Grad-CAM of the top losses</h2><p>Where the network looked for the class it answered: "
                      "on the face, the image is hard or mislabelled; elsewhere, the model learnt something besides "
                      f'the expression.</p><div class="cams">{"".join(cams)}</div>') if cams else ""
    extra_rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                         for k, v in (extra or {}).items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}td:first-child{{text-align:left}}img{{max-width:100%;margin:.5em}}
.big{{font-size:1.4em}}figure{{display:inline-block;width:200px;margin:.5em;font-size:.8em;vertical-align:top}}figure img{{width:100%;margin:0}}.warning{{background:#fff3cd;border:1px solid #e0a800;padding:.6em 1em;font-weight:bold}}</style></head><body>
<h1>{html.escape(title)}</h1>
{warned}
<p class="big">accuracy <b id="accuracy">{report.accuracy:.4f}</b> <span id="interval" title="Wilson's 95% interval: the range the accuracy could well be in, given how few images measured it">(95% interval {lo:.2f}-{hi:.2f})</span> &middot; macro-F1 <b id="macro-f1">{report.macro_f1:.4f}</b>
&middot; ECE <b>{report.calibration()['ece']:.4f}</b> &middot; n = {len(report.y_true)}</p>
<p id="balance">Class balance of the data evaluated: {balance}. Always answering {html.escape(report.classes[top])}
would score {counts[top] / total:.1%}.</p>
<table>{extra_rows}</table>
<h2>Per class</h2><table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{rows}</table>
<h2>Confusion matrix</h2>{_img(pngs['confusion counts'])}{_img(pngs['confusion row-normalised'])}
{_img(pngs['per-class metrics'])}
<h2>Most confused (actual, predicted, count)</h2><table>{confused}</table>
<h2>Top losses</h2><p>The examples the model is most confidently wrong about: often label errors worth reviewing.</p>
{_img(pngs['top losses'])}
{explained_html}
<h2>Calibration</h2>{_img(pngs['reliability'])}
</body></html>"""
    out = out_dir / "report.html"
    out.write_text(page)
    return out
