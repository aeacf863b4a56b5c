"""Server settings: one typed object, passed into ``create_app`` (no import-time globals).

Every limit is finite by default, so a server started with no options is already safe to leave
running on a laptop; tests build apps with other settings instead of patching globals.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from .._launch import core_share
from ..errors import ConfigError

ENV_PREFIX = "FACEXP_"
MIB = 1024 * 1024


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key_from_env(name: str | None) -> str | None:
    """The API key held by environment variable ``name`` (``--api-key-env``; the key never goes on a
    command line); None when no name is given.

    Raises:
        ConfigError: the variable is unset or empty.
    """
    if not name:
        return None
    key = os.environ.get(name)
    if not key:
        raise ConfigError(f"--api-key-env {name}: that environment variable is empty or unset; "
                          f"export {name}=<a long random string> first")
    return key


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in raw.split(",") if o.strip())


@dataclass(frozen=True)
class ServeSettings:
    """What the server may accept and from whom.

    Args:
        model: bundle directory; None serves the model shipped with facexp.
        host, port: where uvicorn binds; a non-loopback host needs ``api_key``.
        api_key: required on every request except the page, /healthz and the docs, when set.
        max_upload_bytes: largest image file; a batch may carry ``max_batch`` of them.
        max_pixels: largest decoded image (checked from the header, before decoding).
        max_batch: most images in one POST /v1/predict/batch.
        timeout_s: budget for reading the request body, and again for the prediction.
        max_concurrency: requests admitted at once per worker (one per core computes at a time, the others wait
            their turn); one more gets 503 + Retry-After.
        cors_origins: browser origins allowed to call the API; empty = CORS off.
        engine: inference engine, "onnx", "onnx-fp32" or "torch" (None: ``$FACEXP_ENGINE``, else onnx).
        header_timeout_s: a connection must send its request line and headers within this (else 408, closed).
        idle_timeout_s: an idle keep-alive connection is closed after this (uvicorn's keep-alive timeout).
        max_connections: open sockets per worker; one more is answered 503 and closed at once.
        max_video_bytes: largest clip for POST /v1/predict/video.
        max_video_s: longest clip (by its container's frame count and rate) for /v1/predict/video; its
            prediction gets ``video_timeout_s`` (twice this, at least ``timeout_s``).
        live_sessions: camera sessions (POST /v1/predict/live) followed at once per worker; the idlest goes first.
        workers: worker processes serving together; each computes one prediction per core it has to itself
            (cores // workers, at least one) at a time.
    """

    model: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = field(default=None, repr=False)
    max_upload_bytes: int = 10 * MIB
    max_pixels: int = 40_000_000
    max_batch: int = 16
    timeout_s: float = 30.0
    max_concurrency: int = 4
    cors_origins: tuple[str, ...] = ()
    engine: str | None = None
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 5.0
    max_connections: int = 128
    max_video_bytes: int = 64 * MIB
    max_video_s: float = 120.0
    live_sessions: int = 32
    workers: int = 1

    def check(self) -> None:
        """Refuse unsafe or impossible settings before the server starts.

        Raises:
            ConfigError: a public bind without an API key, or a limit that is not positive.
        """
        if not is_loopback(self.host) and not self.api_key:
            raise ConfigError(f"binding to {self.host} exposes the API beyond this machine; set an API key "
                              "with --api-key-env NAME (the key is read from that environment variable)")
        for name in ("port", "max_upload_bytes", "max_pixels", "max_batch", "max_concurrency", "timeout_s",
                     "header_timeout_s", "idle_timeout_s", "max_connections", "max_video_bytes", "max_video_s",
                     "live_sessions", "workers"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"the {name} setting must be positive; got {getattr(self, name)}")
        from ..engines import ENGINES

        if self.engine is not None and self.engine.lower() not in ENGINES:
            raise ConfigError(f"the engine setting must be one of {', '.join(ENGINES)}; got {self.engine!r}")

    def max_body_bytes(self, path: str) -> int:
        """Largest request body for ``path``: the uploads it may carry plus multipart overhead."""
        if path in ("/v1/predict", "/v1/predict/live"):
            return self.max_upload_bytes + 64 * 1024
        if path == "/v1/predict/video":
            return self.max_video_bytes + 64 * 1024
        if path == "/v1/predict/batch":
            return self.max_upload_bytes * self.max_batch + 64 * 1024
        return 64 * 1024

    @property
    def turns(self) -> int:
        """Predictions a worker computes at once (``serve.service.Turns``): one per core it has to itself."""
        return core_share(self.workers)

    @property
    def video_timeout_s(self) -> float:
        """Budget for predicting an uploaded clip: twice its longest duration, at least ``timeout_s``."""
        return max(self.timeout_s, 2 * self.max_video_s)

    def to_env(self) -> dict[str, str]:
        """FACEXP_* variables that ``from_env`` reads back (how settings reach extra workers)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[ENV_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from FACEXP_* variables (e.g. FACEXP_MAX_CONCURRENCY=8); unset ones keep defaults.

        Raises:
            ConfigError: a variable whose value does not parse.
        """
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            raw = env.get(name)
            if raw is None:
                continue
            parse = _PARSERS.get(f.name, str)
            try:
                kwargs[f.name] = parse(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a valid {parse.__name__}") from None
        return cls(**kwargs)


_PARSERS: dict[str, Callable[[str], object]] = {
    "port": int, "max_upload_bytes": int, "max_pixels": int, "max_batch": int, "max_concurrency": int,
    "timeout_s": float, "cors_origins": _origins, "header_timeout_s": float, "idle_timeout_s": float,
    "max_connections": int, "max_video_bytes": int, "max_video_s": float, "live_sessions": int, "workers": int,
}


def check_bindable(host: str, port: int) -> None:
    """Raise a ConfigError naming the fix when the server could not listen on ``host:port``.

    Without this check uvicorn starts, logs "[Errno 98] ... address already in use" after facexp has
    announced the address, and exits (`facexp serve`, `facexp clean review`). SO_REUSEADDR as uvicorn
    sets it, so a port a stopped server left in TIME_WAIT is not reported busy. Another process can
    still take the port in between (then uvicorn's own message stands).
    """
    import errno
    import socket

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: a TCP port is 1-65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"{host}:{port} is already in use (another facexp server?); stop it or pass "
                              f"--port {port + 1 if port < 65535 else 8000}") from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"--port {port}: ports below 1024 need administrator rights; use one above 1023, "
                              "e.g. --port 8000") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}; pass --host 127.0.0.1 or another "
                          "--port") from None
