"""Giving memory back: a large upload's pixels must not stay in the server's RSS after its answer.

A 40-megapixel photo is ~120 MB of RGB pixels, plus copies (EXIF rotation, colour conversion, the
detector's downscale). glibc serves such buffers from per-thread heaps ("arenas") in pieces below
its adaptive mmap threshold (Pillow allocates images in 16 MB blocks), and freed heap memory is
rarely returned to the system: one large upload per threadpool thread left a server at 2 GB
idle. So the server process:

- caps glibc at ``ARENA_MAX`` arenas and fixes the mmap threshold at ``MMAP_THRESHOLD``, Pillow's
  block size: every block of a large image, and every larger array, is its own mapping, unmapped
  the moment it is freed;
- calls ``malloc_trim(0)``, returning freed heap pages to the system, after a prediction that
  left the RSS ``TRIM_SLACK`` above where the last trim left it, and once the server has been idle
  ``IDLE_TRIM_S``; glibc's own trim threshold is raised to ``TRIM_SLACK`` too, so that the heap
  is not shrunk after every photo either.

Each of those page returns is paid for by the next photo, which faults the pages in again: an
mmap threshold of 1 MB (the first setting) and glibc's 128 kB trim threshold cost a 1280 px
photo 7,400 page faults, 12 ms of CPU of ~57; trimming after every prediction cost ~10 ms.

On a C library without these calls (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 16 * 1024 * 1024  # buffers of 16 MB (Pillow's image blocks) or more get their own mapping
ARENA_MAX = 4
TRIM_SLACK = 64 * 1024 * 1024  # bytes of RSS growth since the last trim that call for the next one
IDLE_TRIM_S = 1.0  # quiet seconds after a prediction before the idle trim ...
IDLE_SLACK = 16 * 1024 * 1024  # ... which runs if the RSS grew this much since the last one
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_trimmed_at = 0  # RSS in bytes right after the last trim (races between threads only trim once more)
_idle_floor = 0  # RSS in bytes right after the last idle trim


@functools.lru_cache(maxsize=1)
def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=1)
def tune_allocator() -> bool:
    """Set the arena cap and a fixed mmap threshold for this process (once); False if not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    ok = all(libc.mallopt(option, value) for option, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_SLACK), (M_ARENA_MAX, ARENA_MAX)))
    log.debug("glibc malloc tuned: mmap threshold %d, trim threshold %d, arenas %d (%s)",
              MMAP_THRESHOLD, TRIM_SLACK, ARENA_MAX, ok)
    return ok


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def release_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim(0)``) once the RSS has grown
    ``TRIM_SLACK`` since the last time, and ``IDLE_TRIM_S`` after the last prediction of a busy spell
    (``_trim_when_idle``): a trim in the middle of a spell may find the heap full of buffers still in use."""
    libc = _glibc()
    if libc is None:
        return
    if _rss() - _trimmed_at >= TRIM_SLACK:
        _trim(libc)
    _idle_trim.restart(lambda: _trim_when_idle(libc))


def _trim(libc) -> None:
    global _trimmed_at
    libc.malloc_trim(0)
    _trimmed_at = _rss()


def _trim_when_idle(libc) -> None:
    """Trim if the RSS is ``IDLE_SLACK`` above where the last idle trim left it: after ordinary photos
    it is not (their buffers are reused), and the next photo need not fault its pages in again."""
    global _idle_floor
    rss = _rss()
    if rss - _idle_floor >= IDLE_SLACK:
        _trim(libc)
        _idle_floor = _rss()
    else:  # memory that went back by itself (freed mappings) lowers the mark growth is counted from
        _idle_floor = min(_idle_floor, rss)


class _Deferred:
    """One call ``IDLE_TRIM_S`` after the last ``restart``: each restart pushes it back."""

    def __init__(self):
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def restart(self, fn) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(IDLE_TRIM_S, fn)
            self._timer.daemon = True
            self._timer.start()


_idle_trim = _Deferred()
