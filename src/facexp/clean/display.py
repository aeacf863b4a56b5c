"""A CleanReport in a notebook: the suspects as a grid, most suspicious first, each with its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._display import MAX_CARDS, bar, card, esc, grid, img_tag, thumbnail, wrap

if TYPE_CHECKING:
    from .find import CleanReport

CARD_SIDE = 128


def suspects_html(report: CleanReport, limit: int = MAX_CARDS) -> str:
    """Counts per reason, then up to ``limit`` suspects: image, given → suggested label, score, reason."""
    counts = ", ".join(f"{n} {reason}" for reason, n in report.counts().items()) or "none"
    head = (f"<div><b>{len(report.suspects)} suspects</b> among {report.n_images} images ({esc(counts)}) &middot; "
            f"method {esc(report.method)} &middot; {report.seconds:.0f} s</div>"
            f'<div style="color:#555">All of them: {esc(str(report.csv_path))}; decide with '
            f"<code>facexp clean review {esc(str(report.dataset_dir))}</code>, then "
            f"<code>facexp clean apply</code> (or <code>facexp.clean.apply_decisions</code>).</div>")
    cards = []
    for s in report.suspects[:limit]:
        change = f"{esc(s.given)} → <b>{esc(s.suggested)}</b>" if s.suggested and s.suggested != s.given else esc(s.given)
        caption = (f"{change}<br>{bar(s.score, f'{s.score:.2f}', colour='#d62728', width=50)}<br>{esc(s.reason)}<br>"
                   f'<span style="color:#555">{esc(s.path)}</span>')
        picture = img_tag(thumbnail(report.dataset_dir / s.path, CARD_SIDE), s.path)
        cards.append(card(picture, caption, width=CARD_SIDE + 8))
    more = f" in {report.csv_path.name}"
    return wrap(head + grid(cards, n_total=len(report.suspects), shown=min(limit, len(report.suspects)), more=more))
