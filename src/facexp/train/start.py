"""Where training starts: ImageNet weights, the shipped expression model, or another facexp model.

On a few hundred photos of expressions, the shipped model is by far the better start: on the
journey benchmark (100 photos per class of happy, laughing, sad and surprise, faces in larger
pictures) ImageNet weights reached 64.6% test accuracy and the shipped model 86.5% (3 seeds). Its
face features carry this, not its output rows: with the four classes renamed to names it does not
know (new rows for all) it reached 84.9/86.0/86.3% at 25/50/100 per class (3 seeds each;
ImageNet: 49.1/52.9/64.6%). So ``auto``, the default, starts from the shipped model when at least half of
the user's class names are classes it knows (case, plurals and aliases folded: ``laugh``,
``Surprised``) or when the images are face crops from ``facexp faces`` (whatever their names, a
facexp user's classes are expressions), and the backbone is its own; anything else (cats and dogs,
another ``--arch``, ``--no-pretrained``) starts from ImageNet.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from .classmap import match_classes
from .config import TrainConfig

log = logging.getLogger(__name__)

AUTO, IMAGENET, DEFAULT = "auto", "imagenet", "default"


def resolve_start(cfg: TrainConfig, classes: list[str], *, face_crops: bool = False) -> tuple[TrainConfig, str]:
    """``cfg`` with ``init_from`` as a model directory or None (ImageNet / random), and why, in words.

    ``face_crops``: the images are crops made by ``facexp faces`` (its faces.json came with them).
    """
    from ..bundle import read_card
    from ..predict.default import default_model_dir

    choice = cfg.init_from
    if choice is None or choice == IMAGENET:
        return replace(cfg, init_from=None), ("ImageNet weights" if cfg.pretrained else "random weights")
    if choice == DEFAULT:
        default = default_model_dir()
        return replace(cfg, init_from=str(default), arch=read_card(default)["arch"]), "the shipped model (--from default)"
    if choice != AUTO:
        return cfg, f"the model in {choice}"
    if not cfg.pretrained:
        return replace(cfg, init_from=None), "random weights (--no-pretrained)"
    default = default_model_dir()
    card = read_card(default)
    if cfg.arch != card["arch"]:
        return replace(cfg, init_from=None), f"ImageNet weights (--arch {cfg.arch} is not the shipped model's)"
    mapping = match_classes(classes, card["classes"])
    known = [f"{c}={m}" if c != m else c for c, m in mapping.items() if m is not None]
    if 2 * len(known) >= len(classes):
        why = f"the shipped expression model, which knows {len(known)} of your {len(classes)} classes ({', '.join(known)})"
    elif face_crops:
        rows = (f"it knows {len(known)} of your {len(classes)} classes ({', '.join(known)}); the others get new output rows"
                if known else f"none of your {len(classes)} classes is one of its own: each gets a new output row")
        why = f"the shipped expression model's face features, as your images are face crops from `facexp faces` ({rows})"
    else:
        return replace(cfg, init_from=None), (f"ImageNet weights (the shipped model knows {len(known)} of your "
                                              f"{len(classes)} classes; --from default starts from it anyway)")
    return replace(cfg, init_from=str(default)), f"{why}; --from imagenet starts from ImageNet weights instead"
