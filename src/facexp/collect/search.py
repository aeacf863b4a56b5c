"""Image search through DuckDuckGo (the `ddgs` package, as the fastai course uses today)."""

from __future__ import annotations

import socket

from ..errors import CollectError
from .sources import UrlItem

PROBE_HOST = ("duckduckgo.com", 443)


def _online(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(PROBE_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def search_images(query: str, *, label: str, max_results: int = 100) -> list[UrlItem]:
    """Image URLs for ``query``; fails fast with a clear message when there is no network."""
    if not _online():
        raise CollectError(f"image search for {query!r} needs internet access and duckduckgo.com is unreachable; "
                           "collect from URL lists (facexp collect urls) or folders instead")
    try:
        from ddgs import DDGS

        results = DDGS(timeout=15).images(query, max_results=max_results)
    except Exception as exc:  # ddgs raises its own types for rate limits and timeouts
        raise CollectError(f"image search for {query!r} failed: {exc}") from None
    urls = [r.get("image") for r in results if r.get("image")]
    return [UrlItem(u, label) for u in dict.fromkeys(urls)]
