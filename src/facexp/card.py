"""The model card (``model.json``) and the weights file are input: one typed schema checks them on load.

A card decides how much memory prediction takes (``image.size``, ``members``), how probabilities
are computed (``temperature``, ``mean``/``std``) and which code runs (``arch``), so a card that is
out of range must stop loading with one line naming the file and the field, never a traceback, a
NaN or a 22 GB allocation. ``validate_card`` checks every field the loaders read (other entries,
e.g. ``training`` and ``metrics``, are records and pass through); ``check_weights`` reads only the
safetensors header (a few kB) and checks that the file is whole and holds the networks the card
describes, before any tensor is read.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, field_validator

from ._plural import counted
from .errors import ConfigError, ModelError

MIN_SIZE, MAX_SIZE = 8, 1024  # network input side, pixels
MAX_MEMBERS = 64
MAX_CLASSES = 10_000
MAX_HEADER_BYTES = 100 * 1024 * 1024  # a safetensors header larger than this is not one of ours
_FINAL_LAYER = re.compile(r"^(?:members\.(\d+)\.)?1\.8\.weight$")  # fastai head: the last Linear
_MEMBER = re.compile(r"^members\.(\d+)\.")
_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "U16",
           "U32", "U64"}

Finite = Annotated[float, Field(allow_inf_nan=False)]
Stat = Annotated[list[Finite], Field(min_length=3, max_length=3)]


# The architectures facexp.nets builds without fastai (its INFERENCE_ARCHS; a test keeps the two equal).
# Named here so that reading a card needs no torch: predicting on a cached ONNX graph never imports it.
INFERENCE_ARCH_NAMES = ("efficientnet_lite0", "tiny_cnn")


class ImageCard(BaseModel):
    """``image``: how a crop becomes the network's input."""

    model_config = ConfigDict(extra="forbid", strict=True)

    size: StrictInt = Field(64, ge=MIN_SIZE, le=MAX_SIZE)
    grayscale: StrictBool = False
    mean: Stat = [0.5, 0.5, 0.5]
    std: Stat = [0.5, 0.5, 0.5]

    @field_validator("mean")
    @classmethod
    def _mean_in_range(cls, v: list[float]) -> list[float]:
        if any(not -10 <= m <= 10 for m in v):
            raise ValueError("every mean must be between -10 and 10 (pixel values are 0..1)")
        return v

    @field_validator("std")
    @classmethod
    def _std_positive(cls, v: list[float]) -> list[float]:
        if any(not 1e-3 <= s <= 10 for s in v):
            raise ValueError("every std must be between 0.001 and 10 (a std of 0 divides by zero)")
        return v


# MTCNN's three stage thresholds (P-, R-, O-net)
StageScores = Annotated[list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]], Field(min_length=3, max_length=3)]


class FacesCard(BaseModel):
    """``faces``: how faces were found and cropped for training (defaults: ``FaceSettings``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    detector: StrictStr = "mtcnn"
    margin: Finite = Field(-0.03, ge=-0.3, le=2)
    size: StrictInt = Field(48, ge=MIN_SIZE, le=MAX_SIZE)
    min_score: Finite = Field(0.9, ge=0, le=1)
    stage_scores: StageScores = [0.4, 0.5, 0.5]
    retry_scores: Optional[StageScores] = [0.1, 0.2, 0.97]
    retry_angles: list[Finite] = Field([-25.0, 25.0], max_length=8)
    min_face: StrictInt = Field(20, ge=12, le=4096)
    max_side: StrictInt = Field(640, ge=48, le=8192)
    align: StrictBool = False
    grayscale: StrictBool = False


class Int8Card(BaseModel):
    """``int8``: the activation ranges an int8 graph is built from (``facexp.int8``); other keys are records."""

    model_config = ConfigDict(extra="allow", strict=True)

    ranges: StrictStr = Field(pattern=r"^[\w.-]+\.json$", max_length=100)  # a file beside the weights, no path


class ModelCard(BaseModel):
    """The fields of ``model.json`` that loading and prediction read; others pass through unchecked."""

    model_config = ConfigDict(extra="allow", strict=True)

    format: Literal["facexp-bundle/1"]
    name: Optional[StrictStr] = Field(None, max_length=200)
    arch: StrictStr = Field(min_length=1, max_length=200)
    classes: list[StrictStr] = Field(min_length=1, max_length=MAX_CLASSES)
    image: ImageCard
    faces: Optional[FacesCard] = None
    members: StrictInt = Field(1, ge=1, le=MAX_MEMBERS)
    temperature: Finite = Field(1.0, gt=0, le=100)
    weights_dtype: Optional[Literal["float32", "float16", "int8"]] = None
    int8: Optional[Int8Card] = None
    metrics: Optional[dict[str, Any]] = None
    training: Optional[dict[str, Any]] = None
    versions: dict[str, Any] = {}

    @field_validator("classes")
    @classmethod
    def _classes_unique(cls, v: list[str]) -> list[str]:
        blank = [c for c in v if not c.strip()]
        if blank:
            raise ValueError("every class must be a non-empty name")
        seen: set[str] = set()
        for c in v:
            if c in seen:
                raise ValueError(f"classes must be unique; {c!r} appears more than once")
            seen.add(c)
        return v

    @field_validator("arch")
    @classmethod
    def _arch_known(cls, v: str) -> str:
        if not arch_known(v):
            raise ValueError(f"unknown architecture {v!r} (not registered with facexp, torchvision or timm)")
        return v

    @field_validator("faces")
    @classmethod
    def _faces_consistent(cls, v: FacesCard | None) -> FacesCard | None:
        if v is not None:
            from .faces import FaceSettings

            try:
                FaceSettings(**v.model_dump())  # detector name and max_side vs min_face
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v


def arch_known(name: str) -> bool:
    """Whether ``name`` is an architecture facexp can build (registered, torchvision or timm)."""
    if name in INFERENCE_ARCH_NAMES:
        return True
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        return False
    import torchvision.models as tvm

    if callable(getattr(tvm, name, None)) and not name.startswith("_"):
        return True
    try:
        import timm
    except ImportError:
        return False
    return bool(timm.is_model(name))


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err: dict) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "card"
    if err["type"] == "missing":
        return f"field {field!r} is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = "" if err["type"] == "value_error" and "'" in msg else f"; got {_short(err.get('input'))}"
    return f"field {field!r}: {msg}{got}"


def validate_card(card: Any, where: str | os.PathLike) -> dict:
    """``card`` unchanged if every field the loaders read is present, typed and in range.

    Raises:
        ModelError: one line, ``<where>: field '<name>': <what is wrong>; got <value>``.
    """
    if not isinstance(card, dict):
        raise ModelError(f"{where}: the card must be a JSON object with arch, classes and image; got a "
                         f"{type(card).__name__ if not isinstance(card, list) else 'JSON list'}")
    try:
        ModelCard.model_validate(card)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ModelError(f"{where}: " + "; ".join(_describe(e) for e in errors[:3]) + more) from None
    return card


def check_weights(weights: str | os.PathLike, card: dict) -> None:
    """Check a safetensors file against its card from the header alone (no tensor is read).

    Raises:
        ModelError: empty, truncated or not safetensors; or its networks do not match the card's
            classes and members.
    """
    path = Path(weights)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            prefix = fh.read(8)
            n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
            if n < 2 or n > min(MAX_HEADER_BYTES, size - 8):
                raise ModelError(f"{path}: {'empty' if size == 0 else 'not a safetensors file, or truncated'} "
                                 f"({size:,} bytes); copy the model again or retrain")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"{path}: not a safetensors file (its header is not JSON); copy the model again or "
                         "retrain") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: not a safetensors file (its header is not a JSON object)")
    end, members, heads = 0, set(), {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (start, stop) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok = (dtype in _DTYPES and all(isinstance(d, int) and d >= 0 for d in shape)
                  and isinstance(start, int) and isinstance(stop, int) and 0 <= start <= stop)
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise ModelError(f"{path}: not a safetensors file (tensor {key!r} is described wrongly)")
        end = max(end, stop)
        if m := _MEMBER.match(key):
            members.add(int(m.group(1)))
        if (m := _FINAL_LAYER.match(key)) and len(shape) == 2:
            heads[int(m.group(1) or 0)] = shape[0]
    if 8 + n + end != size:
        raise ModelError(f"{path}: truncated or padded: the header describes {8 + n + end:,} bytes, the file has "
                         f"{size:,}; copy the model again or retrain")
    n_classes, n_members = len(card["classes"]), card.get("members", 1)
    n_weights = len(members) if members else 1
    if n_weights != n_members:
        raise ModelError(f"{path}: holds {counted(n_weights, 'network')}, but the card's field 'members' says "
                         f"{n_members}")
    wrong = sorted({out for out in heads.values() if out != n_classes})
    if wrong:
        raise ModelError(f"{path}: the networks answer {wrong[0]} classes, but the card's field 'classes' lists "
                         f"{n_classes}")


def finite_or_raise(probs, where: str) -> None:
    """Probabilities that are NaN or infinite are an error, not a result."""
    import numpy as np

    bad = ~np.isfinite(probs).all(axis=-1) if probs.ndim > 1 else ~np.isfinite(probs)
    if bad.any():
        raise ModelError(f"{where}: the network gave non-finite probabilities (NaN or inf) for {int(bad.sum())} of "
                         f"{counted(len(bad), 'face')}; its weights are probably damaged: copy the model again or retrain")


__all__ = ["ModelCard", "arch_known", "check_weights", "finite_or_raise", "validate_card"]
