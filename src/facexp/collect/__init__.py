"""Collect: Google Images exports, URL lists, image search and folders → a verified, de-duplicated dataset.

Everything lands in one dataset folder: images in ``<label>/<sha256[:16]>.<ext>`` (original
bytes, EXIF kept), ``manifest.sqlite`` (every item: source, label, hashes, size, format, status,
reason, timestamps; the single truth) and ``manifest.csv`` (``path,label`` of the usable images,
what ``facexp train`` reads). Every operation can be rerun and interrupted at any point.

    >>> from facexp.collect import collect_urls, dedup  # doctest: +SKIP
    >>> collect_urls(["happy.txt", "sad.txt"], "data/raw").summary_line()  # doctest: +SKIP
    '152 ok, 6 failed, 1 duplicates, 2 label conflicts → data/raw/manifest.csv (152 usable images ...)'
    >>> dedup("data/raw", threshold=4, apply=True).summary_line()  # doctest: +SKIP
"""

from .config import CollectConfig
from .dedup import dedup, find_near_pairs, mark_duplicates
from .download import Downloaded, collect_urls, download_all, download_one
from .fetch import DownloadFailed, HostLimiter, fetch, make_client
from .folder import collect_folder
from .manifest import MANIFEST_CSV, MANIFEST_DB, ItemRecord, ManifestDB
from .report import CollectReport, DedupReport
from .search import collect_search, search_images
from .sources import UrlItem, UrlList, browser_snippet, decode_data_uri, read_url_list
from .verify import ImageInfo, inspect_image

__all__ = [
    "MANIFEST_CSV", "MANIFEST_DB", "CollectConfig", "CollectReport", "DedupReport", "DownloadFailed", "Downloaded",
    "HostLimiter", "ImageInfo", "ItemRecord", "ManifestDB", "UrlItem", "UrlList", "browser_snippet",
    "collect_folder", "collect_search", "collect_urls", "decode_data_uri", "dedup", "download_all", "download_one",
    "fetch", "find_near_pairs", "inspect_image", "make_client", "mark_duplicates", "read_url_list", "search_images",
]
