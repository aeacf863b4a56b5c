"""``facexp clean review``: the suspects in a local web page; every decision is stored as it is made.

The server is ``facexp serve``'s: the same ``ServeSettings`` (loopback unless an API key is set),
``Guard`` (API key on everything but the page, small request bodies, metrics), JSON errors and
uvicorn connection limits. Two rules more, because this page changes files: a POST must be JSON
(a cross-site form cannot send that without a CORS preflight, which this server never grants),
and its ``Origin``, when sent, must be this server; and the ``Host`` header must name this server,
so a DNS-rebinding page cannot reach it. Images are read only by the item id of a listed suspect,
never by a path from the request.

    GET  /               the page (static HTML/JS/CSS from the package)
    GET  /api/state      classes, suspects in rank order, each with its decision
    GET  /api/image/ID   a suspect's picture, as a JPEG thumbnail
    POST /api/decide     {"item_id", "action": keep|relabel|aside, "label"?}
    POST /api/undo       take back the latest decision
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ..errors import DataError, ImageDecodeError
from ..serve.errors import ApiError, install_error_handlers
from ..serve.guard import Guard
from ..serve.metrics import Metrics
from ..serve.routes.page import CSP
from ..serve.settings import ServeSettings, is_loopback
from .store import CleanStore

STATIC_DIR = Path(__file__).resolve().parent / "static"
THUMB_SIDE = 224


class Decision(BaseModel):
    item_id: int
    action: Literal["keep", "relabel", "aside"]
    label: str | None = None


def _check_request(request: Request, settings: ServeSettings) -> None:
    """POSTs: JSON only, from this origin; every request: a Host header naming this server."""
    host = request.headers.get("host", "")
    name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]  # [::1]:8001, a.b:8001
    if is_loopback(settings.host) and not is_loopback(name):
        raise ApiError(400, "bad_request", f"Host {host!r} is not this server; open http://127.0.0.1:{settings.port}/")
    if request.method == "POST":
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ApiError(415, "bad_request", "send decisions as application/json")
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != host:
            raise ApiError(403, "forbidden", f"requests from {origin} are not accepted")


def create_review_app(dataset_dir: str | os.PathLike, settings: ServeSettings | None = None) -> FastAPI:
    """The review app for one dataset (run ``facexp clean find`` on it first).

    Raises:
        ConfigError: unsafe settings (a non-loopback host without an API key).
        DataError: the dataset has no suspects list.
    """
    settings = settings or ServeSettings()
    settings.check()
    store = CleanStore(dataset_dir)
    store.reconcile()
    if not store.suspects():
        store.close()
        raise DataError(f"{dataset_dir}: no suspects to review; run `facexp clean find {dataset_dir}` first")

    async def checked(request: Request) -> None:
        _check_request(request, settings)

    router = APIRouter(dependencies=[Depends(checked)])  # before the body is parsed

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "review.html", media_type="text/html",
                            headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})

    @router.get("/api/state")
    async def state() -> dict:
        suspects = await run_in_threadpool(store.suspects)
        return {"dataset": Path(dataset_dir).name, "classes": store.classes(), "suspects": suspects}

    @router.get("/api/image/{item_id}")
    async def image(item_id: int) -> Response:
        path = store.item_path(item_id)
        if path is None:
            raise ApiError(404, "not_found", f"no suspect #{item_id}")
        data = await run_in_threadpool(_thumbnail, path)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store",
                                                                "X-Content-Type-Options": "nosniff"})

    @router.post("/api/decide")
    async def decide(decision: Decision) -> dict:
        return await run_in_threadpool(store.decide, decision.item_id, decision.action, decision.label)

    @router.post("/api/undo")
    async def undo() -> dict:
        return {"undone": await run_in_threadpool(store.undo)}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="facexp clean review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store = store
    install_error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    known = frozenset(route.path for route in router.routes)
    app.add_middleware(Guard, settings=settings, metrics=Metrics(), known_paths=known)
    return app


def _thumbnail(path: Path) -> bytes:
    from PIL import Image

    from .._display import fit
    from ..imageio import open_image

    try:
        img = open_image(path).convert("RGB")
    except ImageDecodeError:
        img = Image.new("RGB", (THUMB_SIDE, THUMB_SIDE), (128, 128, 128))
    buf = io.BytesIO()
    fit(img, THUMB_SIDE).save(buf, "JPEG", quality=90)  # FER-sized crops enlarged so an expression shows
    return buf.getvalue()


def run_review(dataset_dir: str | os.PathLike, settings: ServeSettings) -> None:
    """Serve the review page until Ctrl-C, holding the dataset's lock (one writer at a time)."""
    import uvicorn

    from ..collect._lock import dataset_lock
    from ..serve.protocol import uvicorn_options

    with dataset_lock(Path(dataset_dir)):
        app = create_review_app(dataset_dir, settings)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=5,
                    **uvicorn_options(settings))
