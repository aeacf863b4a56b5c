"""Sanity checks on a model's answers, shared by the training summary and the evaluation report.

A run can finish "successfully" with a model that has learnt nothing: it guesses at chance, or
answers one or two classes for everything. These checks say so in plain words. And on the small
sets of a ~100-photos-per-class journey one image moves accuracy by several points, so the
accuracy people read comes with the range it could well be in (``accuracy_interval``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

NEAR_CHANCE = 0.10  # accuracy within this of chance is "near chance"


def chance_level(y_true: Sequence[int], n_classes: int) -> float:
    """The better of guessing uniformly and always answering the most common class."""
    if not len(y_true):
        return 1.0 / max(n_classes, 1)
    most_common = Counter(int(y) for y in y_true).most_common(1)[0][1]
    return max(1.0 / max(n_classes, 1), most_common / len(y_true))


def accuracy_interval(n_right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95% interval for an accuracy of ``n_right`` of ``n``: on 16 test images 12 right reads
    0.75 but could well be anything from 0.51 to 0.90; on 1,000, 750 right is 0.72-0.78. (Wilson's
    rather than the normal approximation: it stays inside [0, 1] and is sound at 0 or all right.)"""
    if n <= 0:
        return 0.0, 1.0
    p = n_right / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def interval_text(accuracy: float, n: int) -> str:
    """"95% interval 0.51-0.90" for an accuracy measured on ``n`` images."""
    lo, hi = accuracy_interval(round(accuracy * n), n)
    return f"95% interval {lo:.2f}-{hi:.2f}"


def prediction_warnings(classes: Sequence[str], y_true: Sequence[int], y_pred: Sequence[int], *,
                        where: str = "") -> list[str]:
    """Plain-language warnings when the answers look like a model that has not learnt.

    Args:
        classes: the model's classes (indices in ``y_true``/``y_pred`` refer to them).
        y_true, y_pred: true and predicted class indices of one labelled set.
        where: names the set in the messages, e.g. "on the validation split".

    Returns:
        Zero, one or two messages: accuracy near chance (within 0.10 of ``chance_level``), and
        answers from only one or two classes of three or more (one of two).
    """
    y_true, y_pred = [int(y) for y in y_true], [int(y) for y in y_pred]
    if not y_true:
        return []
    where = f" {where}" if where else ""
    out = []
    accuracy = sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)
    chance = chance_level(y_true, len(classes))
    if accuracy < chance + NEAR_CHANCE:
        out.append(f"accuracy {accuracy:.1%}{where} is near chance ({chance:.1%}: guessing, or always answering "
                   "the most common class): the model has not learnt to tell the classes apart. Check that the "
                   "images show what their labels say, add images, or train longer.")
    answered = sorted({classes[p] for p in y_pred})
    present = len({*y_true})
    if len(answered) <= min(2, len(classes) - 1) and present > len(answered):
        out.append(f"the model answers only {' and '.join(repr(c) for c in answered)} for all {len(y_pred)} "
                   f"images{where} ({len(classes)} classes): it has collapsed onto "
                   f"{'that class' if len(answered) == 1 else 'those classes'}. Usually too few images or epochs, "
                   "or labels the images do not support.")
    return out
