"""The limits of a collect run in one frozen object: every download is bounded by these numbers.

Defaults are polite to image hosts (a Google Images export is hundreds of URLs on one host):
at most 4 requests in flight and 10 starts per second per host, finite timeouts, 3 retries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import __version__
from ..errors import ConfigError

DEFAULT_USER_AGENT = f"facexp/{__version__} (dataset collector; python-httpx)"


@dataclass(frozen=True)
class CollectConfig:
    """Concurrency, timeouts, retries and size limits for downloading and verifying images.

    Args:
        workers: downloads (and verifications) running at once.
        per_host: requests in flight per host.
        rate: request starts per second per host; 0 means no limit.
        connect_timeout: seconds to open a connection.
        read_timeout: seconds to wait for any byte of the answer.
        max_time: seconds for one whole attempt (stops servers that trickle bytes forever).
        retries: extra attempts after a 408/429/5xx, a timeout or a reset connection.
        backoff: seconds before the first retry; doubled each time, with jitter.
        max_retry_after: a Retry-After longer than this fails the item for this run (rerun later).
        max_redirects: redirects followed per URL.
        max_bytes: largest body accepted (download or file in a zip).
        max_pixels: largest decoded image (decompression-bomb guard).
        user_agent: sent with every request.
    """

    workers: int = 16
    per_host: int = 4
    rate: float = 10.0
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_time: float = 60.0
    retries: int = 3
    backoff: float = 0.5
    max_retry_after: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        checks = [
            (self.workers >= 1, f"--workers must be at least 1; got {self.workers}"),
            (self.per_host >= 1, f"--per-host must be at least 1; got {self.per_host}"),
            (self.rate >= 0, f"--rate must be 0 (no limit) or positive; got {self.rate}"),
            (self.connect_timeout > 0, f"connect_timeout must be positive; got {self.connect_timeout}"),
            (self.read_timeout > 0, f"--timeout must be positive; got {self.read_timeout}"),
            (self.max_time >= self.read_timeout, f"max_time ({self.max_time}) must be at least the read timeout "
                                                 f"({self.read_timeout})"),
            (self.retries >= 0, f"--retries must be 0 or more; got {self.retries}"),
            (self.backoff >= 0, f"backoff must be 0 or more; got {self.backoff}"),
            (self.max_retry_after >= 0, f"max_retry_after must be 0 or more; got {self.max_retry_after}"),
            (self.max_redirects >= 0, f"max_redirects must be 0 or more; got {self.max_redirects}"),
            (self.max_bytes >= 1024, f"--max-mb must allow at least 1 KB; got {self.max_bytes} bytes"),
            (self.max_pixels >= 1, f"max_pixels must be positive; got {self.max_pixels}"),
            (bool(self.user_agent.strip()), "--user-agent must not be empty"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def to_dict(self) -> dict:
        return asdict(self)
