"""A detection cache: faces found per (photo content, detection settings), in a JSON-lines file.

Keys are the photo's sha256 and the digest of the settings that change detection (detector,
min_score, min_face, max_side), never its path: renaming or moving photos keeps the cache
valid, and one cache can serve several output folders (``cache_dir``). Margin, size and
alignment are not in the key, so re-cropping with another margin needs no detection at all.
Lines are appended as photos are done, so an interrupted run resumes where it stopped; a
truncated last line is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from .settings import DETECTION_FIELDS, FaceSettings
from .types import Face

CACHE_VERSION = 1  # bump when a detector's output changes for the same settings


class DetectionCache:
    """Faces per key, read from and appended to ``path``; use as a context manager."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._faces: dict[str, list[Face]] = {}
        self._out: IO[str] | None = None
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._faces[entry["key"]] = [Face.from_dict(f) for f in entry["faces"]]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run, or written by another version

    @staticmethod
    def key(sha256: str, settings: FaceSettings) -> str:
        """The cache key of a photo's content under ``settings``."""
        return f"v{CACHE_VERSION}:{settings.digest(DETECTION_FIELDS)}:{sha256}"

    def get(self, key: str) -> list[Face] | None:
        """The faces stored under ``key`` (possibly an empty list), or None when not cached."""
        return self._faces.get(key)

    def put(self, key: str, faces: list[Face]) -> None:
        """Store ``faces`` under ``key`` and append them to the file at once."""
        self._faces[key] = faces
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "a", encoding="utf-8")
        self._out.write(json.dumps({"key": key, "faces": [f.to_dict() for f in faces]}) + "\n")
        self._out.flush()

    def __len__(self) -> int:
        return len(self._faces)

    def __enter__(self) -> DetectionCache:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
