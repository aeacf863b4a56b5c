"""facexp: from face photos to a trained, explained facial-expression classifier.

The public surface is small; everything else is internal:

    >>> from facexp import Predictor  # doctest: +SKIP
    >>> Predictor().predict("photo.jpg").label  # doctest: +SKIP

Each stage's calls live in its subpackage, named like the CLI verb: ``facexp.train.train``,
``facexp.evaluate.evaluate``, ``facexp.clean``... (a function ``facexp.train`` cannot exist beside
the subpackage ``facexp.train``: importing the subpackage replaces it).
"""

from .errors import ConfigError, DataError, FacexpError, ImageDecodeError, ModelError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "FacexpError", "ImageDecodeError", "ModelError", "Predictor", "load_bundle"]


def __getattr__(name: str):
    """Import heavy stages on first use, so `import facexp` and `facexp --help` stay fast."""
    if name == "Predictor":
        from .predict import Predictor

        return Predictor
    if name == "load_bundle":
        from .bundle import load_bundle

        return load_bundle
    raise AttributeError(name)
