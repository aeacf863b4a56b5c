"""Face detectors registered by name (timm-style), so there is one place to list, pick and test them.

A detector is a function ``detect(images, settings) -> faces per image``: ``images`` are RGB
uint8 arrays (H, W, 3), already downscaled to ``settings.max_side`` when the spec asks for it,
and the faces are in their coordinates. ``detect_faces`` does the rest for every detector: the
downscale and the mapping back, the ``min_score`` filter and the largest-first order.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError
from .types import Face

if TYPE_CHECKING:
    from .settings import FaceSettings

DetectFn = Callable[[list[np.ndarray], "FaceSettings"], list[list[Face]]]


@dataclass(frozen=True)
class DetectorSpec:
    """A registered detector and what callers need to know about it.

    Attributes:
        name: the registry name (``FaceSettings.detector``).
        detect: the batch detection function.
        landmarks: whether its faces carry the five landmarks (needed for eye alignment).
        downscale: run on copies no longer than ``settings.max_side`` (False: full resolution).
        box_is_crop: the box is already the crop (no margin, no squaring, no rotation).
        weights: where its weights come from (all offline).
        license: the weights' license.
    """

    name: str
    detect: DetectFn
    landmarks: bool
    downscale: bool = True
    box_is_crop: bool = False
    weights: str = ""
    license: str = ""


_REGISTRY: dict[str, DetectorSpec] = {}


def register_detector(name: str, *, landmarks: bool, downscale: bool = True, box_is_crop: bool = False,
                      weights: str = "", license: str = "") -> Callable[[DetectFn], DetectFn]:
    """Decorator adding a detection function to the registry under ``name``.

    Raises:
        ConfigError: ``name`` is already registered (two backends would silently shadow each other).
    """

    def add(fn: DetectFn) -> DetectFn:
        if name in _REGISTRY:
            raise ConfigError(f"face detector {name!r} is registered twice ({_REGISTRY[name].detect.__module__} "
                              f"and {fn.__module__}); pick another name")
        _REGISTRY[name] = DetectorSpec(name, fn, landmarks, downscale, box_is_crop, weights, license)
        return fn

    return add


def list_detectors() -> list[str]:
    """Names of every registered detector, sorted."""
    return sorted(_REGISTRY)


def get_detector(name: str) -> DetectorSpec:
    """The spec registered as ``name``.

    Raises:
        ConfigError: unknown name; the message lists close matches and every choice.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise ConfigError(f"unknown face detector {name!r}.{hint} Choices: {', '.join(list_detectors())}") from None
