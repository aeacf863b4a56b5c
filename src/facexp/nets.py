"""Networks for inference, built without fastai: the same modules, names and tensors as training's.

``backbones.build_model`` builds a model the way fastai's ``vision_learner`` does (body cut off
the ImageNet network + fastai's default head). Loading a bundle only needs that *structure*, so
here it is rebuilt from plain PyTorch (and timm for the EfficientNet body): ``create_body`` cuts
the network like ``fastai.vision.learner.create_body``, ``create_head`` stacks
``AdaptiveConcatPool2d → Flatten → BatchNorm1d → Dropout → Linear → ReLU → BatchNorm1d →
Dropout → Linear`` like ``fastai.vision.learner.create_head`` with its defaults, so state_dict
keys match and ``load_state_dict(strict=True)`` loads a trained bundle. Prediction then never
imports fastai (about 1 GB and several seconds). Architectures not listed in ``INFERENCE_ARCHS``
fall back to ``backbones.build_model`` (fastai), so any trained bundle still loads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class AdaptiveConcatPool2d(nn.Module):
    """Max- and average-pool to ``size``, concatenated on channels (fastai's, same submodule names)."""

    def __init__(self, size: int | None = None):
        super().__init__()
        self.size = size or 1
        self.ap = nn.AdaptiveAvgPool2d(self.size)
        self.mp = nn.AdaptiveMaxPool2d(self.size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


class Flatten(nn.Module):
    """(N, C, 1, 1) → (N, C), as fastai's ``Flatten``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)

    def extra_repr(self) -> str:
        return "full=False"


def _batchnorm1d(n: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(n)  # fastai's BatchNorm(n, ndim=1): weight 1, bias 1e-3 (loaded weights replace both)
    with torch.no_grad():
        bn.bias.fill_(1e-3)
        bn.weight.fill_(1.0)
    return bn


def create_head(nf: int, n_out: int, *, ps: float = 0.5) -> nn.Sequential:
    """fastai's default head (``create_head(nf, n_out)``: concat pool, one hidden layer of 512)."""
    nf *= 2  # concat pool
    sizes = [nf, 512, n_out]
    drops = [ps / 2, ps]
    layers: list[nn.Module] = [AdaptiveConcatPool2d(), Flatten()]
    for i, (n_in, n_next, p) in enumerate(zip(sizes[:-1], sizes[1:], drops)):
        layers += [_batchnorm1d(n_in), nn.Dropout(p), nn.Linear(n_in, n_next, bias=False)]
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _has_pool(m: nn.Module) -> bool:
    pools = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d, AdaptiveConcatPool2d)
    return isinstance(m, pools) or any(_has_pool(c) for c in m.children())


def create_body(model: nn.Module, cut: int | None) -> nn.Sequential:
    """The network's children up to ``cut`` (None: up to its last pooling child), as fastai cuts it."""
    children = list(model.children())
    if cut is None:
        cut = next(i for i in reversed(range(len(children))) if _has_pool(children[i]))
    return nn.Sequential(*children[:cut])


def _n_features(body: nn.Module) -> int:
    with torch.no_grad():
        return int(body.eval()(torch.zeros(1, 3, 64, 64)).shape[1])


# --- the registered backbones' architectures, without weights (training loads those in backbones.py) ---


def tf_efficientnet_lite0() -> nn.Module:
    """timm's tf_efficientnet_lite0 (the ``efficientnet_lite0`` backbone), random weights."""
    import timm

    return timm.create_model("tf_efficientnet_lite0", pretrained=False)


def tiny_cnn() -> nn.Module:
    """The ``tiny_cnn`` backbone (see ``backbones.tiny_cnn``; a test checks the two stay identical)."""

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

    return nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1))


# arch name → (network builder, where fastai cuts it, features the body outputs)
INFERENCE_ARCHS: dict[str, tuple[Callable[[], nn.Module], int | None, int]] = {
    "efficientnet_lite0": (tf_efficientnet_lite0, -2, 1280),
    "tiny_cnn": (tiny_cnn, -1, 64),
}


def build_network(arch: str, n_out: int) -> nn.Module:
    """``Sequential(body, head)`` for ``arch`` with random weights, ready for a bundle's state_dict.

    Registered architectures are built with PyTorch (+ timm) alone; any other name goes through
    ``backbones.build_model`` and so imports fastai.
    """
    if arch not in INFERENCE_ARCHS:
        from .backbones import build_model

        return build_model(arch, n_out, pretrained=False)
    builder, cut, nf = INFERENCE_ARCHS[arch]
    return nn.Sequential(create_body(builder(), cut), create_head(nf, n_out))


def replace_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` where ``model.get_submodule(name)`` was (``nn.Module.set_submodule`` needs torch 2.3+;
    the project allows 2.2)."""
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)
