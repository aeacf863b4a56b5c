"""One writer per dataset folder: two runs into the same folder would remove each other's temp files.

The lock is an OS file lock (``flock``), so a killed run releases it with its process; nothing
stale is left to clean up by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CollectError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not guarded against each other there
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".facexp.lock"


@contextmanager
def dataset_lock(dataset_dir: Path) -> Iterator[None]:
    """Hold the dataset's lock for the duration of the block.

    Raises:
        CollectError: another facexp run holds it.
    """
    dataset_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(dataset_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                raise CollectError(f"{dataset_dir} is being written by another facexp run (pid {holder}); "
                                   "wait for it to finish or stop it, then rerun") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
