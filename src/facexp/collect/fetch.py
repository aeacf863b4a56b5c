"""Getting the bytes of one URL politely and within limits, or a short reason why not.

Per-host concurrency and rate limits, connect/read timeouts plus a deadline per attempt (a
server that trickles one byte a second never trips a read timeout), retries with jittered
exponential backoff on 408/429/5xx, timeouts and reset connections, Retry-After honoured (and
applied to the whole host), redirects capped, bodies capped while streaming. Content-Type is
ignored: whether the body is an image is decided by decoding it (see ``verify``).
"""

from __future__ import annotations

import random
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import httpx

from ..errors import CollectError
from .config import CollectConfig
from .sources import decode_data_uri

ACCEPT = "image/webp,image/png,image/jpeg,image/*;q=0.8,*/*;q=0.5"


class DownloadFailed(CollectError):
    """One URL gave no image; ``reason`` is short and groupable ("http 404", "timeout", "html", ...).

    ``attempts`` is how many requests were made for it (what the manifest's ``attempts`` counts).
    """

    def __init__(self, reason: str, detail: str = "", *, attempts: int = 1):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.attempts = attempts


NAME_RESOLUTION = "dns"  # reason of a failed host-name lookup: never retried (see ``is_name_resolution_error``)
_GAI_TEXT = re.compile(r"name resolution|name or service not known|nodename nor servname|no address associated|"
                       r"getaddrinfo failed|\[Errno -[235]\]", re.I)


def is_name_resolution_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a failed DNS lookup, not a refused or reset connection.

    Retrying those is pointless within a run: without a network every lookup fails the same way,
    and a name that does not exist will not exist in two seconds either.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, socket.gaierror) or _GAI_TEXT.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class _Retryable(Exception):
    def __init__(self, reason: str, detail: str = "", wait: float | None = None):
        super().__init__(reason)
        self.reason, self.detail, self.wait = reason, detail, wait


class HostLimiter:
    """At most ``per_host`` requests in flight and ``rate`` request starts per second, per host."""

    def __init__(self, per_host: int, rate: float):
        self._per_host = per_host
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._lock = threading.Lock()
        self._slots: dict[str, threading.Semaphore] = {}
        self._next_start: dict[str, float] = {}

    @contextmanager
    def slot(self, host: str, stop: threading.Event | None = None) -> Iterator[None]:
        """Wait for a free slot and the host's next start time, then hold the slot."""
        with self._lock:
            sem = self._slots.setdefault(host, threading.Semaphore(self._per_host))
        sem.acquire()
        try:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start.get(host, 0.0))
                self._next_start[host] = start + self._interval
            if start > now:
                _sleep(start - now, stop)
            yield
        finally:
            sem.release()

    def pause(self, host: str, seconds: float) -> None:
        """The host asked us to wait (429 + Retry-After): no request to it starts before then."""
        with self._lock:
            self._next_start[host] = max(self._next_start.get(host, 0.0), time.monotonic() + seconds)


def _sleep(seconds: float, stop: threading.Event | None) -> None:
    if stop is None:
        time.sleep(seconds)
    elif stop.wait(seconds):
        raise DownloadFailed("interrupted")


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.lower()


def make_client(config: CollectConfig, *, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """An ``httpx.Client`` with the config's timeouts, redirect cap, connection pool and user agent."""
    timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout, pool=config.max_time)
    return httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=config.max_redirects,
                        headers={"User-Agent": config.user_agent, "Accept": ACCEPT}, transport=transport,
                        limits=httpx.Limits(max_connections=config.workers, max_keepalive_connections=config.workers))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _get(client: httpx.Client, url: str, config: CollectConfig, stop: threading.Event | None) -> bytes:
    started = time.monotonic()
    with client.stream("GET", url) as response:
        status = response.status_code
        if status in (408, 429) or status >= 500:
            raise _Retryable(f"http {status}", response.reason_phrase, _retry_after(response))
        if status >= 300:
            raise DownloadFailed(f"http {status}", response.reason_phrase)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > config.max_bytes:
            raise DownloadFailed("too_large", f"{int(declared):,} bytes announced, the limit is {config.max_bytes:,}")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > config.max_bytes:
                raise DownloadFailed("too_large", f"more than {config.max_bytes:,} bytes")
            if time.monotonic() - started > config.max_time:
                raise _Retryable("timeout", f"the body took more than {config.max_time:g}s")
            if stop is not None and stop.is_set():
                raise DownloadFailed("interrupted")
    if not body:
        raise DownloadFailed("empty", "the server answered with no bytes")
    return bytes(body)


def fetch(url: str, *, client: httpx.Client, config: CollectConfig, limiter: HostLimiter | None = None,
          stop: threading.Event | None = None) -> bytes:
    """The body of ``url`` (or the bytes of a ``data:`` URI) within the config's limits.

    See ``fetch_counted``, which also says how many requests it took.
    """
    return fetch_counted(url, client=client, config=config, limiter=limiter, stop=stop)[0]


def fetch_counted(url: str, *, client: httpx.Client, config: CollectConfig, limiter: HostLimiter | None = None,
                  stop: threading.Event | None = None) -> tuple[bytes, int]:
    """The body of ``url`` (or the bytes of a ``data:`` URI) and the number of requests it took.

    Args:
        url: http(s) URL or ``data:`` URI.
        client: made by ``make_client`` (tests pass one with an ``httpx.MockTransport``).
        config: timeouts, retries, size limit.
        limiter: shared per-host limits of a bulk run.
        stop: set it to make waits and transfers give up at once (Ctrl-C).

    Raises:
        DownloadFailed: with a short ``reason`` once the retries are used up or the failure is final
            (``dns`` at once: a failed name lookup is not retried), and ``attempts`` made.
    """
    if url.startswith("data:"):
        try:
            data = decode_data_uri(url)
        except ValueError as exc:
            raise DownloadFailed("bad_data_uri", str(exc)) from None
        if len(data) > config.max_bytes:
            raise DownloadFailed("too_large", f"{len(data):,} bytes, the limit is {config.max_bytes:,}")
        return data, 1
    host = host_of(url)
    limiter = limiter or HostLimiter(config.per_host, config.rate)
    delay = config.backoff
    last = _Retryable("connection")
    for attempt in range(config.retries + 1):
        if stop is not None and stop.is_set():
            raise DownloadFailed("interrupted", attempts=attempt)
        n = attempt + 1
        try:
            with limiter.slot(host, stop):
                return _get(client, url, config, stop), n
        except DownloadFailed as exc:
            exc.attempts = n
            raise
        except _Retryable as exc:
            last = exc
        except httpx.TooManyRedirects:
            raise DownloadFailed("too_many_redirects", f"more than {config.max_redirects}", attempts=n) from None
        except httpx.TimeoutException as exc:
            last = _Retryable("timeout", type(exc).__name__)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise DownloadFailed("bad_url", str(exc), attempts=n) from None
        except httpx.DecodingError as exc:
            raise DownloadFailed("bad_encoding", str(exc), attempts=n) from None
        except httpx.TransportError as exc:
            if is_name_resolution_error(exc):
                raise DownloadFailed(NAME_RESOLUTION, f"{host}: name resolution failed ({type(exc).__name__}: "
                                     f"{exc})", attempts=n) from None
            last = _Retryable("connection", f"{type(exc).__name__}: {exc}")
        if last.wait is not None and last.wait > config.max_retry_after:
            raise DownloadFailed(last.reason, f"the server asks to wait {last.wait:.0f}s; rerun later", attempts=n)
        if attempt < config.retries:
            if last.wait is not None:
                limiter.pause(host, last.wait)
            _sleep(last.wait if last.wait is not None else delay * random.uniform(0.5, 1.5), stop)
            delay *= 2
    raise DownloadFailed(last.reason, f"{last.detail + '; ' if last.detail else ''}{config.retries + 1} attempts",
                         attempts=config.retries + 1)
