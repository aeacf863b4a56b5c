"""Serving: one FastAPI app with the REST API and the web page (``facexp serve``)."""

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str):
    # FastAPI and torch load only when an app is built, so `facexp --help` stays fast.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
