"""facexp's exceptions: one tree, so the CLI can catch the base and print one line.

    FacexpError                      (exit code 1)
    ├── ConfigError(ValueError)      bad option or combination (2)
    ├── DataError(ValueError)        missing/empty data, bad manifest, unusable images (3)
    │   ├── ImageDecodeError         a file or upload that is not a decodable image
    │   │   └── ImageTooLarge        over the byte or pixel limit (decompression bombs)
    │   └── VideoDecodeError         a file or upload that is not a readable video (or holds no frame)
    │       └── VideoTooLong         more frames or seconds than the limit allows
    ├── ModelError(RuntimeError)     bad or untrusted model bundle, unknown arch (4)
    │   └── WeightsNotFound          pretrained weights are not available offline
    ├── CollectError                 downloads and search (5)
    └── MissingExtraError(ImportError)  an optional dependency is not installed (6)

Messages say what failed, which input, and what to do about it.
"""

from __future__ import annotations


class FacexpError(Exception):
    """Base class of every error facexp raises on purpose."""

    exit_code = 1


class ConfigError(FacexpError, ValueError):
    """An option or a combination of options is invalid."""

    exit_code = 2


class DataError(FacexpError, ValueError):
    """Input data is missing, empty or unusable."""

    exit_code = 3


class ImageDecodeError(DataError):
    """A file or upload could not be decoded as an image."""


class ImageTooLarge(ImageDecodeError):
    """An image exceeds the configured byte or pixel limit."""


class VideoDecodeError(DataError):
    """A file or upload could not be read as a video, or holds no frame."""


class VideoTooLong(VideoDecodeError):
    """A video would need more frames (or seconds) than the configured limit."""


class ModelError(FacexpError, RuntimeError):
    """A model bundle or architecture cannot be used."""

    exit_code = 4


class WeightsNotFound(ModelError):
    """Pretrained weights are not available on this machine."""


class CollectError(FacexpError):
    """Collecting images (download, search) failed as a whole."""

    exit_code = 5


class MissingExtraError(FacexpError, ImportError):
    """An optional dependency is missing; the message names the pip command."""

    exit_code = 6
