"""Clean: find likely wrong labels, duplicates and non-faces; review them in a web page; apply the fixes.

    find_issues(dataset)        rank suspects: confident learning on out-of-sample probabilities, plus
                                duplicates, conflicts and outliers → DATASET/clean_suspects.csv
    review.create_review_app    the review page: keep / relabel / set aside, with undo
    apply_decisions(dataset)    move relabelled files (or rewrite manifest.csv); train reads the result

Names are imported on first use, so ``facexp --help`` does not load the model stack.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"ApplyReport": "apply", "apply_decisions": "apply", "CleanReport": "find", "find_issues": "find",
            "Suspect": "rank", "cross_val_probs": "rank", "label_issues": "rank", "merge_reasons": "rank",
            "rank_suspects": "rank", "QUARANTINE_DIR": "store", "CleanStore": "store"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
