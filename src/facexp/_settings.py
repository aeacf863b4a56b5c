"""A base for the small frozen settings objects stored in model.json."""

from __future__ import annotations

from dataclasses import asdict
from typing import TypeVar

from .errors import ConfigError

T = TypeVar("T", bound="JsonSettings")


class JsonSettings:
    """Round-trips a frozen dataclass through JSON; unknown keys are an error naming the known ones."""

    _what = "settings"

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        known = set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown {cls._what} {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
