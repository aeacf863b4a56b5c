"""facexp: from face photos to a trained, explained facial-expression classifier.

The public surface is small; everything else is internal:

    >>> from facexp import Predictor  # doctest: +SKIP
    >>> Predictor().predict("photo.jpg").label  # doctest: +SKIP
"""

from .errors import ConfigError, DataError, FacexpError, ImageDecodeError, ModelError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "FacexpError", "ImageDecodeError", "ModelError", "Predictor", "evaluate",
           "load_bundle", "train"]


def __getattr__(name: str):
    """Import heavy stages on first use, so `import facexp` and `facexp --help` stay fast."""
    if name == "Predictor":
        from .predict import Predictor

        return Predictor
    if name == "train":
        from .train import train

        return train
    if name == "evaluate":
        from .evaluate import evaluate

        return evaluate
    if name == "load_bundle":
        from .bundle import load_bundle

        return load_bundle
    raise AttributeError(name)
