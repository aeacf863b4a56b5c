"""The one image → tensor recipe, shared by training (through fastai) and every inference path.

Training resizes with fastai's ``Resize(method='squish')`` (a PIL bilinear resize) and normalises
with the backbone's statistics; ``to_tensor`` does exactly the same without fastai, so a bundle's
``model.json`` alone decides how a photo is prepared and ONNX, PyTorch and the server agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ._settings import JsonSettings

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ImageSettings(JsonSettings):
    """How an image is turned into the network's input."""

    _what = "image settings"

    size: int = 64
    grayscale: bool = False  # convert to gray and back to 3 channels (FER2013 is gray)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


def _sized(img: Image.Image, settings: ImageSettings) -> Image.Image:
    """``img`` in the colour mode it is read in (``L`` for gray models, else ``RGB``) at the input size.

    A gray image is resized before it is widened to 3 channels: the bilinear filter works per
    channel, so the pixels are the same as resizing the 3 equal channels, at a third of the work.
    """
    img = img.convert("L") if settings.grayscale else img.convert("RGB")
    if img.size != (settings.size, settings.size):
        img = img.resize((settings.size, settings.size), Image.BILINEAR)
    return img


def prepare(img: Image.Image, settings: ImageSettings) -> Image.Image:
    """Colour mode and size as the network saw them in training (RGB; gray models get 3 equal channels)."""
    return _sized(img, settings).convert("RGB")


def to_array(images: list[Image.Image], settings: ImageSettings) -> np.ndarray:
    """A normalised float32 batch (N, 3, size, size) from PIL images: what every engine takes.

    Gray models stack one channel and let the normalisation broadcast it to three (the same values
    as ``prepare``'s 3 equal channels): on 64 FER crops that cut preprocessing from 12.5 ms to a
    fraction, a sixth of ``Predictor.classify``'s time.
    """
    x = np.stack([np.asarray(_sized(img, settings)) for img in images]).astype(np.float32) / np.float32(255)
    x = x[:, None] if settings.grayscale else x.transpose(0, 3, 1, 2)  # (N, C, H, W), C = 1 or 3
    mean = np.asarray(settings.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(settings.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)


def to_tensor(images: list[Image.Image], settings: ImageSettings) -> torch.Tensor:
    """``to_array`` as a torch tensor, for the PyTorch network (training checks, Grad-CAM)."""
    import torch

    return torch.from_numpy(to_array(images, settings))


def tta_views(x: torch.Tensor) -> list[torch.Tensor]:
    """The batch, mirrored, centre-zoomed ~1.09x and both: views training's flip and zoom also made.

    On FER2013's validation split the 4-view average beat the 2-view flip average by 0.7 points
    (67.8% vs 67.1% for the third stage of the default model's recipe).
    """
    import torch

    m = max(1, round(x.shape[-1] / 24))
    zoomed = torch.nn.functional.interpolate(x[..., m:-m, m:-m], size=tuple(x.shape[-2:]), mode="bilinear")
    return [x, torch.flip(x, dims=[3]), zoomed, torch.flip(zoomed, dims=[3])]
