"""The facexp server: REST API under /v1, the web page at /, health and metrics.

The safety rules are assembled here and each lives in one module: body size, body-read deadline
and API key (constant-time compare) in ``guard``; pixel limit and decompression-bomb guard in
``facexp.imageio`` (checked from the header, before decoding); concurrency limit (503 +
Retry-After) and prediction timeout (504) in ``service``; no file paths in answers in
``answers``. CORS is added only for listed origins. Nothing here fetches a URL. The model is
loaded once per worker, from safetensors, never from a pickle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..predict import Predictor
from .errors import install_error_handlers
from .guard import DOCS_ASSETS, Guard
from .memory import tune_allocator
from .routes import health, model, page, predict
from .routes.page import STATIC_DIR
from .service import Service
from .settings import ServeSettings

DESCRIPTION = ("Facial-expression recognition: every face's box, expression and probabilities. Errors are "
               '`{"error": {"code", "message"}}`; a photo with no face is a normal answer with `count` 0.')


def create_app(settings: ServeSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """Build the ASGI app.

    Args:
        settings: limits, API key, CORS origins and which model to load (defaults: ``ServeSettings()``).
        predictor: a ready Predictor (tests, embedding); otherwise ``settings.model`` is loaded once,
            when the app starts.

    Raises:
        ConfigError: unsafe settings, e.g. a non-loopback host without an API key.
    """
    settings = settings or ServeSettings()
    settings.check()
    tune_allocator()  # large uploads' buffers are unmapped when freed (see serve.memory)
    service = Service(settings, predictor)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(lambda: service.predictor)  # load before the first request, not during it
        yield

    # FastAPI's /docs and /redoc load their scripts from a CDN (a blank page offline); these are served from the package
    # the multipart parser stops at max_batch files (more: 413 too_many) instead of spooling up to 1,000
    app = FastAPIOffline(title="facexp", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                         static_url=DOCS_ASSETS, form_limits={"max_files": settings.max_batch, "max_fields": 16})
    app.state.service = service
    install_error_handlers(app)
    routers = (predict.router, model.router, health.router, page.router)
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    known_paths = frozenset(route.path for router in routers for route in router.routes)
    app.add_middleware(Guard, settings=settings, metrics=service.metrics, known_paths=known_paths,
                       admit=service.admit, busy_message=service.busy_message())
    if settings.cors_origins:  # added last = outermost, so preflights and 401s carry CORS headers
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Authorization"])
    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers (``--workers N``): settings come from FACEXP_* variables."""
    return create_app(ServeSettings.from_env())
