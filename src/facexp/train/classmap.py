"""Match a user's class names to a starting model's, so `--from` keeps what that model knows.

People name folders ``Happy``, ``smiles``, ``laugh`` or ``surprised``; the default model says
``happy``, ``laughing`` and ``surprise``. A name matches after case and separators are folded,
a plural ``s``/``es`` is dropped, or through ``ALIASES``. Each starting class is used at most once.
"""

from __future__ import annotations

import re

# Folded spelling -> a class name of the shipped model (or another model using the same names).
ALIASES = {
    "laugh": "laughing", "laughter": "laughing", "laughs": "laughing",
    "happiness": "happy", "joy": "happy", "joyful": "happy", "smile": "happy", "smiling": "happy",
    "surprised": "surprise", "shock": "surprise", "shocked": "surprise", "astonished": "surprise",
    "anger": "angry", "mad": "angry", "annoyed": "angry",
    "sadness": "sad", "unhappy": "sad",
    "disgusted": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear",
    "neutrality": "neutral", "calm": "neutral", "none": "neutral",
}


def fold(name: str) -> str:
    """Lower case, separators removed: ``"Very_Happy "`` -> ``"veryhappy"``."""
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


def match_class(name: str, known: list[str]) -> str | None:
    """The class of ``known`` that ``name`` means, or None (case, plurals and ``ALIASES`` are folded)."""
    by_fold = {fold(k): k for k in known}
    key = fold(name)
    candidates = [key]
    for suffix in ("es", "s"):
        if key.endswith(suffix) and len(key) > len(suffix) + 2:
            candidates.append(key[: -len(suffix)])
    for candidate in candidates:
        if candidate in by_fold:
            return by_fold[candidate]
        alias = ALIASES.get(candidate)
        if alias is not None and fold(alias) in by_fold:
            return by_fold[fold(alias)]
    return None


def match_classes(names: list[str], known: list[str]) -> dict[str, str | None]:
    """Map each of ``names`` to a distinct class of ``known`` (None: a new class).

    Exact matches (after folding) are taken first, so ``happy`` and ``smile`` in one dataset give
    ``happy`` to ``happy`` and make ``smile`` a new class rather than a second copy of it.
    """
    mapping: dict[str, str | None] = {n: None for n in names}
    taken: set[str] = set()
    by_fold = {fold(k): k for k in known}
    for n in names:  # exact (folded) names first
        if fold(n) in by_fold and by_fold[fold(n)] not in taken:
            mapping[n] = by_fold[fold(n)]
            taken.add(mapping[n])
    for n in names:
        if mapping[n] is None:
            match = match_class(n, known)
            if match is not None and match not in taken:
                mapping[n] = match
                taken.add(match)
    return mapping
