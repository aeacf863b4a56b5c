"""Bulk downloads into a dataset: every URL ends ``ok`` or ``failed`` with a reason, and a rerun resumes.

fastai's ``download_images`` (8 threads, 4 s timeout, no retry, errors swallowed) is what this
replaces. Workers fetch, decode, hash and write each image (temp file + rename, content-hash
name); only the main thread writes the manifest, one committed row per finished item. So at
any instant (SIGKILL included) the manifest is consistent: an image whose row was not yet
written is simply fetched again by the rerun and lands on the same file name, never twice.
A URL exported under several classes is fetched once and stored in each class folder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx

from .._plural import counted
from .._progress import track
from ..errors import CollectError, DataError
from ._lock import dataset_lock
from .config import CollectConfig
from .dedup import check_files, settle
from .fetch import NAME_RESOLUTION, DownloadFailed, HostLimiter, fetch_counted, make_client
from .manifest import ManifestDB
from .report import CollectReport, build_report
from .sources import UrlItem, UrlList, check_label, read_url_list, source_key
from .verify import ImageInfo, Rejected, inspect_image, remove_partials, store_image

log = logging.getLogger(__name__)


OFFLINE_AFTER = 3  # failed name lookups, before any answer from any server, that mean "no network"
_NOT_NETWORK_EVIDENCE = {NAME_RESOLUTION, "connection", "timeout", "interrupted", "bad_url", "bad_data_uri"}


@dataclass(frozen=True)
class Downloaded:
    """One image fetched, verified and stored: its facts, its path per requested label, requests made."""

    info: ImageInfo
    paths: dict[str, str]
    attempts: int = 1


class NoNetwork(CollectError):
    """Host names do not resolve and no server has answered: the machine is offline; items stay pending."""


def download_one(url: str, dataset_dir: str | os.PathLike, *, labels: Sequence[str], client: httpx.Client,
                 config: CollectConfig, limiter: HostLimiter | None = None,
                 stop: threading.Event | None = None) -> Downloaded:
    """Fetch ``url``, prove it decodes as an image, hash it, and store it under each of ``labels``.

    Raises:
        DownloadFailed: the fetch failed or the body is not a usable image (``reason`` says which).
        CollectError: the image cannot be written to the dataset folder.
    """
    data, attempts = fetch_counted(url, client=client, config=config, limiter=limiter, stop=stop)
    try:
        info = inspect_image(data, name=url if len(url) <= 120 else url[:117] + "...", max_pixels=config.max_pixels)
    except Rejected as exc:
        raise DownloadFailed(exc.reason, str(exc), attempts=attempts) from None
    root = Path(dataset_dir)
    try:
        return Downloaded(info, {label: store_image(data, root, label, info) for label in labels}, attempts)
    except OSError as exc:  # disk full, permissions: every item would fail, so the run stops
        raise CollectError(f"{root}: cannot write images ({exc.strerror or exc}); free some space or "
                           "choose another --out, then rerun") from None


def _todo(db: ManifestDB, items: Sequence[UrlItem]) -> dict[str, list[tuple[int, str]]]:
    """URL → [(item id, label)] of this run's items that are not done (new, failed, or file missing)."""
    urls = {source_key(i.url): i.url for i in items}
    wanted = {(source_key(i.url), i.label) for i in items}
    todo: dict[str, list[tuple[int, str]]] = {}
    for record in db.records(statuses=("pending", "failed")):
        if (record.source, record.label) in wanted:
            todo.setdefault(urls[record.source], []).append((record.id, record.label))
    return todo


def download_all(items: Iterable[UrlItem], dataset_dir: str | os.PathLike, *, config: CollectConfig | None = None,
                 client: httpx.Client | None = None) -> CollectReport:
    """Download every item not yet done into ``dataset_dir/<label>/`` and record it in the manifest.

    Safe to rerun and to interrupt: items already stored are skipped, failed or unfinished ones
    are tried again, temp files of a killed run are removed first. Ends by marking exact
    duplicates and label conflicts (and near ones, if ``facexp dedup`` set a threshold) and by
    writing ``manifest.csv``.

    Args:
        items: what to fetch; the same (URL, label) twice is one item.
        dataset_dir: the dataset folder (created if needed).
        config: limits; default ``CollectConfig()``.
        client: an ``httpx.Client`` to use instead of ``make_client(config)`` (tests, proxies).

    Returns:
        The outcome of each of ``items`` and the counts for the summary.

    Raises:
        CollectError: another run is writing the same dataset.
        NoNetwork: the first ``OFFLINE_AFTER`` finished items all failed to resolve their host and
            no server answered anything: the run stops at once, every unfinished item stays as it
            was (pending), and a rerun when online resumes.
        KeyboardInterrupt: after recording what finished; rerun to resume.
    """
    config = config or CollectConfig()
    items = list(dict.fromkeys(items))
    for label in {i.label for i in items}:
        check_label(label, "download_all")
    root = Path(dataset_dir)
    with dataset_lock(root), ManifestDB(root) as db:
        if n := remove_partials(root):
            log.info("removed %s left by an interrupted run", counted(n, "partial file"))
        db.add_items((source_key(i.url), i.label, i.origin) for i in items)
        check_files(db)
        todo = _todo(db, items)
        n_items = sum(len(v) for v in todo.values())
        if n_items < len(items):
            log.info("resuming: %d of %d items already done", len(items) - n_items, len(items))
        try:
            own_client = client is None
            client = client or make_client(config)
            try:
                left = _run(todo, root, db, config, client)
            finally:
                if own_client:
                    client.close()
        finally:
            settle(db)
        if left is not None:
            n_left, detail = left
            raise NoNetwork(f"no network: host names do not resolve ({detail}) and no server has answered; "
                            f"{n_left} URLs left pending; rerun when online (the same command resumes)")
        wanted = {(source_key(i.url), i.label) for i in items}
        return build_report(db, [r for r in db.records() if (r.source, r.label) in wanted])


def _run(todo: dict[str, list[tuple[int, str]]], root: Path, db: ManifestDB, config: CollectConfig,
         client: httpx.Client) -> tuple[int, str] | None:
    """Fetch with ``config.workers`` threads; record results in this thread as they finish.

    Returns None, or (items left unrecorded, a sample error) when the network turned out to be
    unreachable: name lookups failed before any server answered (see ``OFFLINE_AFTER``).
    """
    limiter = HostLimiter(config.per_host, config.rate)
    stop = threading.Event()
    pending_urls = iter(todo.items())
    running: dict[Future, list[tuple[int, str]]] = {}
    urls_of: dict[Future, str] = {}
    counts = {"ok": 0, "failed": 0}
    net = {"answered": False, "offline": None}  # offline: a sample DNS error once the network is known to be down
    held: list[tuple[list[tuple[int, str]], DownloadFailed]] = []  # DNS failures, recorded once the network answers

    class _Offline(Exception):
        pass

    def submit(pool: ThreadPoolExecutor) -> None:
        # A bounded window of futures: memory stays flat for huge lists and Ctrl-C cancels quickly.
        while len(running) < 4 * config.workers:
            entry = next(pending_urls, None)
            if entry is None:
                return
            url, targets = entry
            future = pool.submit(download_one, url, root, labels=[label for _, label in targets], client=client,
                                 config=config, limiter=limiter, stop=stop)
            running[future] = targets
            urls_of[future] = url

    def fail(targets: list[tuple[int, str]], exc: DownloadFailed) -> None:
        for item_id, _ in targets:
            db.record_failure(item_id, exc.reason, exc.detail, attempts=exc.attempts)
        counts["failed"] += len(targets)

    def answered() -> None:
        if not net["answered"]:
            net["answered"] = True
            for targets, exc in held:  # the network works: those names really do not resolve
                fail(targets, exc)
            held.clear()

    def record(future: Future) -> None:
        targets, url = running.pop(future), urls_of.pop(future, "")
        try:
            result = future.result()
        except DownloadFailed as exc:
            if exc.reason == "interrupted" or (exc.reason == NAME_RESOLUTION and net["offline"]):
                return  # left as it was: pending (or failed by an earlier run), so a rerun tries again
            if exc.reason == NAME_RESOLUTION and not net["answered"]:
                held.append((targets, exc))
                if len(held) >= OFFLINE_AFTER:
                    net["offline"] = exc.detail
                    raise _Offline
                return
            if exc.reason not in _NOT_NETWORK_EVIDENCE:
                answered()
            fail(targets, exc)
            return
        if not url.startswith("data:"):
            answered()
        info = result.info
        for item_id, label in targets:
            db.record_ok(item_id, path=result.paths[label], sha256=info.sha256, phash=info.phash, width=info.width,
                         height=info.height, format=info.format, n_bytes=info.n_bytes, attempts=result.attempts)
        counts["ok"] += len(targets)

    total = sum(len(t) for t in todo.values())
    pool = ThreadPoolExecutor(config.workers, thread_name_prefix="facexp-collect")
    status = lambda: f"{counts['ok']} ok, {counts['failed']} failed"  # noqa: E731
    try:
        submit(pool)
        for _ in track(_finished(running, pool, submit, record), "downloading", total=total, status=status):
            pass
    except BaseException as exc:
        # Ctrl-C or no network: make waits and transfers in the workers give up, keep what
        # finishes within a second, and return without waiting for reads stuck in a socket (they
        # end by timeout).
        stop.set()
        wait(list(running), timeout=1.0)
        for future in [f for f in running if f.done() and not f.cancelled()]:
            if future.exception() is None or isinstance(future.exception(), DownloadFailed):
                try:
                    record(future)
                except _Offline:
                    pass
        pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(exc, _Offline):
            return total - counts["ok"] - counts["failed"], net["offline"]
        raise
    pool.shutdown(wait=True)
    for targets, exc in held:  # too few to say the network is down: they are failures like any other
        fail(targets, exc)
    return None


def _finished(running: dict[Future, list[tuple[int, str]]], pool: ThreadPoolExecutor,
              submit: Callable[[ThreadPoolExecutor], None], record: Callable[[Future], None]) -> Iterator[int]:
    """Record finished downloads and keep the window full; yield once per item (the progress bar
    counts items, and one URL may be several items)."""
    while running:
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in done:
            n = len(running[future])
            record(future)
            yield from range(n)
        submit(pool)


def collect_urls(lists: Sequence[str | os.PathLike], dataset_dir: str | os.PathLike, *,
                 label: str | None = None, url_column: str = "url", label_column: str | None = None,
                 config: CollectConfig | None = None, client: httpx.Client | None = None) -> CollectReport:
    """Read URL exports and download them: ``facexp collect urls``.

    Args:
        lists: .txt exports (label = file name) and/or .csv/.tsv with a URL column.
        dataset_dir: where images and the manifest go.
        label: one class for every list, instead of the file names.
        url_column: CSV column with the URLs.
        label_column: CSV column with each row's class.
        config: download limits.
        client: optional ``httpx.Client`` (tests).

    Raises:
        DataError: a list is missing or unreadable, or none holds a URL.
        CollectError: another run is writing the same dataset.
    """
    parsed: list[UrlList] = [read_url_list(p, label=label, url_column=url_column, label_column=label_column)
                             for p in lists]
    items = [item for url_list in parsed for item in url_list.items]
    for url_list in parsed:
        if url_list.skipped:
            n, text = url_list.skipped[0]
            log.warning("%s: skipped %s: not http(s) or data:image URLs (line %d: %r)",
                        url_list.path, counted(len(url_list.skipped), "line"), n, text[:80])
    if not items:
        skipped = sum(len(u.skipped) for u in parsed)
        raise DataError(f"no image URLs in {', '.join(str(u.path) for u in parsed)} (skipped "
                        f"{counted(skipped, 'line')}: not http(s) or data:image URLs); export them with "
                        "`facexp snippet` in the browser")
    report = download_all(items, dataset_dir, config=config, client=client)
    return report.with_skipped(tuple((str(u.path), n, text) for u in parsed for n, text in u.skipped))
