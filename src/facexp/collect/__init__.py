"""Collect: URL lists, image search and folders → verified, de-duplicated images + a manifest."""

from .dedup import DedupReport, dedup, mark_exact_duplicates
from .download import CollectConfig, DownloadFailed, download_all, fetch
from .folder import collect_folder
from .manifest import ManifestDB
from .search import search_images
from .sources import UrlItem, read_url_list

__all__ = ["CollectConfig", "DedupReport", "DownloadFailed", "ManifestDB", "UrlItem", "collect_folder", "dedup",
           "download_all", "fetch", "mark_exact_duplicates", "read_url_list", "search_images"]
