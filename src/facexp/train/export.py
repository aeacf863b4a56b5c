"""ONNX export of a bundle, checked against PyTorch before it is written as done."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..bundle import load_bundle
from ..errors import ModelError

ONNX_FILE = "model.onnx"
TOLERANCE = 1e-4


def export_onnx(model_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, check: bool = True,
                trust_pickle: bool = False, size: int | None = None) -> Path:
    """Write ``model.onnx`` (input ``image``: N x 3 x size x size, normalised; output ``logits``).

    The batch dimension is dynamic; ``size`` overrides the trained input size (for benchmarks of
    fully convolutional backbones). With ``check``, onnxruntime's output on a random batch must
    match PyTorch's to ``TOLERANCE`` or the file is removed and ModelError raised.
    """
    bundle = load_bundle(model_dir, trust_pickle=trust_pickle)
    target = Path(out) if out is not None else Path(model_dir) / ONNX_FILE
    size = size or bundle.image.size
    example = torch.randn(2, 3, size, size)
    torch.onnx.export(bundle.model, (example,), str(target), input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
    if check:
        diff = max_abs_difference(bundle.model, target, torch.randn(5, 3, size, size))
        if diff > TOLERANCE:
            target.unlink()
            raise ModelError(f"ONNX output differs from PyTorch by {diff:.2e} (> {TOLERANCE}); not exported")
    return target


def max_abs_difference(model: torch.nn.Module, onnx_path: Path, x: torch.Tensor) -> float:
    """Largest absolute logit difference between PyTorch and onnxruntime on ``x``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    got = session.run(["logits"], {"image": x.numpy()})[0]
    return float(np.abs(expected - got).max())
