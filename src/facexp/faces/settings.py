"""Face settings: recorded in model.json so training crops and prediction crops are made alike."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .._settings import JsonSettings
from ..errors import ConfigError


@dataclass(frozen=True)
class FaceSettings(JsonSettings):
    """How faces are found and cropped.

    ``margin`` is added around the detector's box on each side, as a fraction of the box's larger
    side. MTCNN's box runs from the brows to the chin; FER2013 crops show the whole face from the
    hairline to below the chin with a little background, which a margin of 0.1 reproduces (chosen
    by comparing crops of the shared photos at margins 0, 0.05, 0.1 and 0.15 with FER2013 images
    side by side).
    ``size`` 48 matches FER2013's own resolution, so a photo's face is as sharp as the training
    crops were before both are resized to the network's input.
    """

    _what = "face settings"

    detector: str = "mtcnn"
    margin: float = 0.1
    size: int = 48
    min_score: float = 0.9
    min_face: int = 20  # pixels, on the image as detected (after ``max_side`` downscaling)
    max_side: int = 640  # larger images are downscaled for detection only; boxes map back
    align: bool = True

    def __post_init__(self):
        if not 0 <= self.margin <= 2:
            raise ConfigError(f"face margin must be between 0 and 2; got {self.margin}")
        if self.size < 8:
            raise ConfigError(f"face crop size must be at least 8; got {self.size}")
        if not 0 <= self.min_score <= 1:
            raise ConfigError(f"face min_score must be between 0 and 1; got {self.min_score}")

    def digest(self) -> str:
        """Short hash, so cached crops are reused only for identical settings."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
