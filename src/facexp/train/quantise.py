"""int8 ranges for a trained model, measured on its own training images, so that it predicts as fast as the
shipped one (``facexp.int8``: ~1.65x the crops per second on CPUs with int8 dot products).

The ranges are kept only if the int8 graph is as accurate as fp32 on the validation split
(``calibrate_bundle``); the card's training record says what was measured either way. Training never fails
because of this step: a model it cannot calibrate runs in fp32, with a warning saying why.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import FacexpError
from ..int8 import calibrate_bundle, dot_product_cpu
from .soft import majority_class

log = logging.getLogger(__name__)

CALIBRATION_IMAGES = 256  # training images (as augmented for training) the ranges are measured on


def int8_ranges(folder: Path, dls) -> dict:
    """Calibrate the bundle saved in ``folder`` on ``dls``' training batches and check it on its validation split.

    Returns the record for the card's ``training.int8``.
    """
    if not dot_product_cpu():
        return {"kept": False, "why": "this CPU has no int8 dot-product instructions, where int8 would not run"}
    seen, batches = 0, []
    for xb, _ in dls.train:
        batches.append(_array(xb))
        seen += len(xb)
        if seen >= CALIBRATION_IMAGES:
            break
    images, truth = [], []
    for xb, yb in dls.valid:
        images.append(_array(xb))
        truth.append(_truth(torch.as_tensor(yb)))
    try:
        record = calibrate_bundle(folder, np.concatenate(batches)[:CALIBRATION_IMAGES],
                                  {"valid": (np.concatenate(images), np.concatenate(truth))},
                                  f"{min(seen, CALIBRATION_IMAGES)} training images as augmented for training")
    except (FacexpError, ValueError, RuntimeError, OSError, ImportError) as exc:  # ORT raises RuntimeError subclasses
        log.warning("int8 ranges not measured (%s: %s); the model runs in fp32", type(exc).__name__, exc)
        return {"kept": False, "why": f"{type(exc).__name__}: {exc}"}
    valid = record["validation"]["valid"]
    log.info("int8 ranges %s: validation accuracy %.4f in int8, %.4f in fp32 (%.1f%% of answers the same)",
             "kept" if record["kept"] else "not kept", valid["int8"], valid["fp32"], 100 * valid["agree"])
    return record


def _array(xb) -> np.ndarray:
    return np.ascontiguousarray(torch.as_tensor(xb).float().cpu().numpy())


def _truth(yb: torch.Tensor) -> np.ndarray:
    """Class indices; soft targets give their majority class (-1 for a tie, left out)."""
    return (yb if yb.dim() == 1 else majority_class(yb)).cpu().numpy()
