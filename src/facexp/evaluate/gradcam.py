"""Grad-CAM: where in a face crop the network looked for the expression it chose.

fastai models are ``Sequential(body, head)``; the body's output is the last convolutional feature
map, so the heat map is the ReLU of that map weighted by the class score's mean gradient per
channel (Selvaraju et al., 2017), upsampled to the crop. An ensemble's map is the sum of its
members' maps: where any of them looked.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..bundle import ModelBundle
from ..ensemble import networks
from ..preprocess import prepare, to_tensor


def gradcam(bundle: ModelBundle, crop: Image.Image, class_index: int) -> np.ndarray:
    """Heat map in [0, 1] with the crop's network-input size (size x size)."""
    x = to_tensor([crop], bundle.image)
    cam = sum(_network_cam(net, x, class_index) for net in networks(bundle.model))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam.detach().numpy()
    return cam / cam.max() if cam.max() > 0 else cam


def _network_cam(net: torch.nn.Module, x: torch.Tensor, class_index: int) -> torch.Tensor:
    body, head = net[0], net[1]
    with torch.enable_grad():
        features = body(x).detach().requires_grad_(True)
        score = head(features)[0, class_index]
        (grad,) = torch.autograd.grad(score, features)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * features).sum(dim=1, keepdim=True))


def overlay(bundle: ModelBundle, crop: Image.Image, heat: np.ndarray, alpha: float = 0.45) -> Image.Image:
    """The crop as the network saw it, with the heat map in a red-yellow colour ramp on top."""
    import matplotlib

    base = np.asarray(prepare(crop, bundle.image), dtype=np.float32) / 255.0
    colour = matplotlib.colormaps["jet"](heat)[..., :3]
    mixed = (1 - alpha) * base + alpha * colour
    return Image.fromarray((mixed * 255).clip(0, 255).astype(np.uint8))
