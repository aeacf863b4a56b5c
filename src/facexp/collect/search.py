"""Image search through DuckDuckGo with the ``ddgs`` package (what the fastai course uses today).

Online only. A quick probe first, so that without a network the command fails in about a
second with a message saying what to use instead, rather than after ddgs' own retries.
"""

from __future__ import annotations

import os
import socket
import threading

import httpx

from ..errors import CollectError, ConfigError
from .config import CollectConfig
from .download import download_all
from .report import CollectReport
from .sources import UrlItem, check_label

PROBE_ADDRESS = ("duckduckgo.com", 443)
PROBE_TIMEOUT = 3.0


def _probe(address: tuple[str, int], timeout: float) -> str | None:
    """None when a TCP connection to ``address`` opens within ``timeout`` (DNS included), else why not."""
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            with socket.create_connection(address, timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(str(exc) or type(exc).__name__)

    # A daemon thread bounds the DNS lookup too (socket timeouts do not), and cannot delay exit.
    thread = threading.Thread(target=connect, daemon=True, name="facexp-probe")
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g}s"


def search_images(query: str, *, max_results: int = 100, timeout: float = 15.0) -> list[str]:
    """Image URLs DuckDuckGo finds for ``query`` (full-size images, each once, in rank order).

    Raises:
        ConfigError: empty query or ``max_results`` below 1.
        CollectError: no network, or the search failed (rate limit, timeout).
    """
    if not query.strip():
        raise ConfigError("the search query is empty; e.g. facexp collect search 'laughing face' --label laughing")
    if max_results < 1:
        raise ConfigError(f"--max must be at least 1; got {max_results}")
    problem = _probe(PROBE_ADDRESS, PROBE_TIMEOUT)
    if problem is not None:
        raise CollectError(f"image search for {query!r} needs internet access and {PROBE_ADDRESS[0]} is unreachable "
                           f"({problem}); collect from URL lists (facexp collect urls) or folders "
                           "(facexp collect folder) instead")
    try:
        from ddgs import DDGS

        results = DDGS(timeout=int(timeout)).images(query, max_results=max_results)
    except Exception as exc:  # ddgs raises its own types (rate limit, timeout) and transport errors
        raise CollectError(f"image search for {query!r} failed ({type(exc).__name__}: {exc}); "
                           "wait a minute and rerun, or use URL lists") from None
    urls = [r.get("image") for r in results or [] if isinstance(r, dict)]
    return list(dict.fromkeys(u for u in urls if isinstance(u, str) and u.startswith(("http://", "https://"))))


def collect_search(query: str, dataset_dir: str | os.PathLike, *, label: str, max_results: int = 100,
                   config: CollectConfig | None = None, client: httpx.Client | None = None) -> CollectReport:
    """Search images for ``query`` and download them as class ``label``: ``facexp collect search``.

    Raises:
        ConfigError: bad query, label or count.
        DataError: the label cannot be a folder name.
        CollectError: no network, the search failed or found nothing.
    """
    check_label(label, "--label")
    urls = search_images(query, max_results=max_results)
    if not urls:
        raise CollectError(f"image search for {query!r} found no images; try other words")
    items = [UrlItem(url, label, f"search:{query}") for url in urls]
    return download_all(items, dataset_dir, config=config, client=client)
