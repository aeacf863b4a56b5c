"""Giving memory back: a large upload's pixels must not stay in the server's RSS after its answer.

A 40-megapixel photo is ~120 MB of RGB pixels, plus copies (EXIF rotation, colour conversion, the
detector's downscale). glibc serves such buffers from per-thread heaps ("arenas") in pieces below
its adaptive mmap threshold (Pillow allocates images in 16 MB blocks), and freed heap memory is
rarely returned to the system: one large upload per threadpool thread left a server at 2 GB
idle. So the server process:

- caps glibc at ``ARENA_MAX`` arenas and fixes the mmap threshold at ``MMAP_THRESHOLD``: every
  buffer of that size or more is its own mapping, unmapped the moment it is freed;
- calls ``malloc_trim(0)``, returning freed heap pages to the system, after a prediction that
  left the RSS ``TRIM_SLACK`` above where the last trim left it. Trimming after every prediction
  cost ~10 ms of a ~60 ms 1280 px photo (its pages are faulted in again by the next one), and the
  buffers of such photos stay below the slack; a 40 MP upload does not.

On a C library without these calls (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 1024 * 1024  # buffers of 1 MB or more get their own mapping
ARENA_MAX = 4
TRIM_SLACK = 64 * 1024 * 1024  # bytes of RSS growth since the last trim that call for the next one
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_trimmed_at = 0  # RSS in bytes right after the last trim (races between threads only trim once more)


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
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_ARENA_MAX, ARENA_MAX))
    log.debug("glibc malloc tuned: mmap threshold %d, arenas %d (%s)", MMAP_THRESHOLD, ARENA_MAX, ok)
    return ok


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def release_memory() -> None:
    """Return freed heap memory to the system (glibc ``malloc_trim(0)``) once the RSS has grown
    ``TRIM_SLACK`` since the last time."""
    global _trimmed_at
    libc = _glibc()
    if libc is not None and _rss() - _trimmed_at >= TRIM_SLACK:
        libc.malloc_trim(0)
        _trimmed_at = _rss()
