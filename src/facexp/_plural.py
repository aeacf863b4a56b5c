"""Counts in messages read as English: "1 face", "4 faces", "2 people", never "face(s)"."""

from __future__ import annotations

IRREGULAR = {"person": "people"}


def plural(noun: str) -> str:
    last = noun.rsplit(" ", 1)[-1]
    if last in IRREGULAR:
        return noun[: len(noun) - len(last)] + IRREGULAR[last]
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1 (the count formatted with thousands separators)."""
    return f"{n:,} {noun if n == 1 else plural(noun)}"
