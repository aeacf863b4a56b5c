"""Robust downloads: bounded, retried, verified, atomic, resumable — every failure recorded.

fastai's ``download_images`` uses 8 threads, a 4 s timeout, no retries and swallows errors; here
each URL ends as ``ok`` (a decodable image stored under its content hash) or ``failed`` with a
reason, and the manifest is updated one item at a time so a killed run resumes where it stopped.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
import urllib.parse
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from .. import __version__
from .._progress import track
from ..errors import ImageDecodeError, ImageTooLarge
from .dedup import mark_exact_duplicates
from .manifest import ManifestDB
from .sources import UrlItem
from .store import remove_partials, store_image


@dataclass(frozen=True)
class CollectConfig:
    """Finite limits for every download; the defaults are polite to image hosts."""

    workers: int = 16
    per_host: int = 4  # requests in flight per host
    per_host_rate: float = 10.0  # requests per second per host; 0 = no limit
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    retries: int = 3
    backoff: float = 0.5  # seconds before the first retry, doubled each time
    max_retry_after: float = 30.0  # longer Retry-After: give up on the item for this run
    max_redirects: int = 5
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    user_agent: str = f"facexp/{__version__} (dataset collector; +https://pypi.org/project/facexp)"


class DownloadFailed(Exception):
    """One URL could not be turned into an image; ``reason`` is short and groupable."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class _HostGate:
    """Per-host concurrency and rate limits."""

    def __init__(self, per_host: int, rate: float):
        self._sems: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(per_host))
        self._next: dict[str, float] = defaultdict(float)
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._lock = threading.Lock()

    def __call__(self, url: str):
        host = urllib.parse.urlsplit(url).netloc
        gate = self

        class _Slot:
            def __enter__(self):
                with gate._lock:
                    sem = gate._sems[host]
                sem.acquire()
                if gate._interval:
                    with gate._lock:
                        start = max(time.monotonic(), gate._next[host])
                        gate._next[host] = start + gate._interval
                    time.sleep(max(0.0, start - time.monotonic()))
                self.sem = sem

            def __exit__(self, *exc):
                self.sem.release()

        return _Slot()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def fetch(client: httpx.Client, url: str, cfg: CollectConfig, gate: _HostGate) -> bytes:
    """The body of ``url`` within the limits, retrying 429/5xx/timeouts/resets with backoff."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    delay = cfg.backoff
    for attempt in range(cfg.retries + 1):
        wait = None
        try:
            with gate(url), client.stream("GET", url) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    wait = _retry_after(response)
                    if wait is not None and wait > cfg.max_retry_after:
                        raise DownloadFailed(f"http {response.status_code}", f"Retry-After {wait:.0f}s is too long")
                    error = DownloadFailed(f"http {response.status_code}")
                elif response.status_code >= 400:
                    raise DownloadFailed(f"http {response.status_code}")
                else:
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > cfg.max_bytes:
                        raise DownloadFailed("too_large", f"{int(declared):,} bytes")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > cfg.max_bytes:
                            raise DownloadFailed("too_large", f"over {cfg.max_bytes:,} bytes")
                    return bytes(body)
        except httpx.TooManyRedirects:
            raise DownloadFailed("redirects", f"more than {cfg.max_redirects}") from None
        except httpx.TimeoutException:
            error = DownloadFailed("timeout")
        except (httpx.TransportError, httpx.DecodingError) as exc:
            error = DownloadFailed("connection", type(exc).__name__)
        except httpx.InvalidURL as exc:
            raise DownloadFailed("bad_url", str(exc)) from None
        if attempt < cfg.retries:
            time.sleep(min(wait if wait is not None else delay, cfg.max_retry_after))
            delay *= 2
    raise error


def decode_data_uri(uri: str) -> bytes:
    """Bytes of a ``data:image/...;base64,...`` URI (Google Images exports thumbnails this way)."""
    header, _, payload = uri.partition(",")
    if ";base64" not in header:
        return urllib.parse.unquote_to_bytes(payload)
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DownloadFailed("bad_data_uri", str(exc)) from None


def source_key(url: str) -> str:
    """What the manifest stores as the source: the URL, or a short digest for data: URIs."""
    if url.startswith("data:"):
        import hashlib

        return "data:sha256:" + hashlib.sha256(url.encode()).hexdigest()
    return url


def download_one(client: httpx.Client, url: str, label: str, dataset_dir: Path, cfg: CollectConfig, gate: _HostGate):
    """Fetch, verify and store one URL; returns a StoredImage or raises DownloadFailed."""
    data = fetch(client, url, cfg, gate)
    try:
        return store_image(data, dataset_dir, label, name=url[:80], max_pixels=cfg.max_pixels)
    except ImageTooLarge as exc:
        raise DownloadFailed("too_large", str(exc)) from None
    except ImageDecodeError:
        kind = "html" if data.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")) else "not_image"
        raise DownloadFailed(kind, "the body does not decode as an image") from None


def make_client(cfg: CollectConfig, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout), follow_redirects=True,
                        max_redirects=cfg.max_redirects, headers={"User-Agent": cfg.user_agent}, transport=transport,
                        limits=httpx.Limits(max_connections=cfg.workers, max_keepalive_connections=cfg.workers))


def download_all(items: list[UrlItem], dataset_dir: str | Path, *, cfg: CollectConfig | None = None,
                 transport: httpx.BaseTransport | None = None) -> ManifestDB:
    """Register ``items`` in the dataset's manifest and fetch every one not yet done.

    Safe to rerun: items already ``ok`` (or marked duplicate/conflict) are skipped, failed and
    unfinished ones are tried again, leftovers of a killed run are removed first.
    """
    cfg = cfg or CollectConfig()
    dataset_dir = Path(dataset_dir)
    db = ManifestDB(dataset_dir)
    remove_partials(dataset_dir)
    sources = {source_key(i.url): i.url for i in items}
    db.add_many([(source_key(i.url), i.label) for i in items])
    todo = [it for it in db.items(statuses=("pending", "failed")) if it.source in sources]
    gate = _HostGate(cfg.per_host, cfg.per_host_rate)
    with make_client(cfg, transport) as client, ThreadPoolExecutor(cfg.workers) as pool:
        futures = {pool.submit(download_one, client, sources[it.source], it.label, dataset_dir, cfg, gate): it
                   for it in todo}
        try:
            for future in track(as_completed(futures), "downloading", total=len(futures)):
                item = futures[future]
                try:
                    s = future.result()
                except DownloadFailed as exc:
                    db.update(item.id, count_attempt=True, status="failed", reason=str(exc)[:300])
                    continue
                db.update(item.id, count_attempt=True, status="ok", reason=None, sha256=s.sha256, phash=s.phash,
                          width=s.width, height=s.height, format=s.format, path=s.path)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    mark_exact_duplicates(db)
    db.export_csv()
    return db

