"""Server settings: one typed object, passed into ``create_app`` (no import-time globals)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields

from ..errors import ConfigError

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    """Limits are finite by default; CORS is off unless origins are listed."""

    model: str | None = None  # bundle directory; None = the shipped default model
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_batch: int = 16
    timeout_s: float = 30.0
    max_concurrency: int = 4  # requests inferring at once per worker; more get 503 + Retry-After
    cors_origins: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Refuse unsafe combinations before the server starts."""
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(f"binding to {self.host} exposes the API beyond this machine; set an API key "
                              "with --api-key-env NAME (the key is read from that environment variable)")
        if self.max_concurrency < 1 or self.max_upload_bytes < 1 or self.timeout_s <= 0:
            raise ConfigError("max_concurrency, max_upload_bytes and timeout_s must be positive")

    def to_env(self) -> dict[str, str]:
        """FACEXP_* variables that ``from_env`` reads back (how settings reach extra workers)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f"FACEXP_{f.name.upper()}"] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        for f in fields(cls):
            raw = env.get(f"FACEXP_{f.name.upper()}")
            if raw is None:
                continue
            if f.name == "cors_origins":
                kwargs[f.name] = tuple(o for o in raw.split(",") if o)
            elif f.name in ("port", "max_upload_bytes", "max_pixels", "max_batch", "max_concurrency"):
                kwargs[f.name] = int(raw)
            elif f.name == "timeout_s":
                kwargs[f.name] = float(raw)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)
