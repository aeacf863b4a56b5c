"""ONNX export of a bundle, checked against PyTorch before it is written as done.

The code lives in ``facexp.engines`` (no fastai needed, so ``facexp export`` and the ONNX engine
of ``Predictor`` share it); this module keeps the names training code and recipes import.
"""

from __future__ import annotations

from ..engines import ONNX_FILE, TOLERANCE, export_onnx, max_abs_difference

__all__ = ["ONNX_FILE", "TOLERANCE", "export_onnx", "max_abs_difference"]
