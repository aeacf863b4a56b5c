"""The facexp server: REST API under /v1, a web page at /, health and metrics.

Safety rules live here, in one place: bounded uploads (bytes and pixels, checked before
decoding), a per-request timeout, a concurrency limit that answers 503 + Retry-After instead of
queueing without end, an API key (constant-time compare) whenever one is configured, CORS only
for listed origins, no URL fetching and no file paths in any response. The model is loaded once
per worker and never from a pickle.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import hmac
import io
import threading
import time
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import FacexpError, ImageDecodeError, ImageTooLarge, ModelError
from ..predict import Predictor
from .metrics import Metrics
from .settings import ServeSettings

OPEN_PATHS = ("/", "/healthz", "/static", "/docs", "/openapi.json")


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message"}}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _from_facexp(exc: FacexpError) -> ApiError:
    if isinstance(exc, ImageTooLarge):
        return ApiError(413, "too_large", str(exc))
    if isinstance(exc, ImageDecodeError):
        return ApiError(415, "bad_image", str(exc).replace("upload: ", "", 1))
    if isinstance(exc, ModelError):
        return ApiError(503, "model_unavailable", str(exc))
    return ApiError(400, "bad_request", str(exc))


class _Service:
    """Per-worker state: the one warm Predictor, the concurrency gate and the metrics."""

    def __init__(self, settings: ServeSettings, predictor: Predictor | None):
        self.settings = settings
        self._predictor = predictor
        self._load_lock = threading.Lock()
        self.gate = asyncio.Semaphore(settings.max_concurrency)
        self.metrics = Metrics()

    @property
    def predictor(self) -> Predictor:
        with self._load_lock:
            if self._predictor is None:
                self._predictor = Predictor(self.settings.model)
            return self._predictor

    async def run(self, fn, *args):
        """Run blocking inference in the threadpool, inside the concurrency gate and the timeout."""
        if self.gate.locked():
            raise ApiError(503, "busy", f"the server is at its limit of {self.settings.max_concurrency} "
                           "concurrent predictions; retry shortly", {"Retry-After": "1"})
        async with self.gate:
            try:
                return await asyncio.wait_for(run_in_threadpool(fn, *args), self.settings.timeout_s)
            except asyncio.TimeoutError:
                raise ApiError(504, "timeout", f"prediction took longer than {self.settings.timeout_s:g}s") from None


def _data_url(image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt, quality=88) if fmt == "JPEG" else image.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def predict_payload(predictor: Predictor, data: bytes, *, max_pixels: int, annotate: bool, gradcam: bool) -> dict:
    """The JSON answer for one uploaded image (no file path: the upload has none)."""
    result, crops = predictor.predict_with_crops(data, max_pixels=max_pixels)
    body = result.to_dict()
    body.pop("path")
    faces = body["faces"]
    if gradcam:
        from ..evaluate import gradcam as compute_gradcam, overlay

        for face, crop in zip(faces, crops):
            index = predictor.bundle.classes.index(face["label"])
            face["gradcam"] = _data_url(overlay(predictor.bundle, crop, compute_gradcam(predictor.bundle, crop, index)))
    if annotate:
        from ..imageio import open_image
        from ..predict.render import annotate as draw

        body["annotated"] = _data_url(draw(open_image(data, max_pixels=max_pixels), result), "JPEG")
    return {"model": predictor.bundle.path.name, "image": {"width": body.pop("width"), "height": body.pop("height")},
            "count": len(faces), **body, "timings_ms": result.timings_ms}


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"{upload.filename or 'upload'} is over the limit of {limit:,} bytes")
    if not data:
        raise ApiError(400, "empty", "the uploaded file is empty")
    return data


def create_app(settings: ServeSettings | None = None, predictor: Predictor | None = None) -> FastAPI:
    """Build the ASGI app; ``predictor`` lets tests and embedders pass a ready model."""
    settings = settings or ServeSettings()
    settings.check()
    service = _Service(settings, predictor)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(lambda: service.predictor)  # load the model once, before the first request
        yield

    app = FastAPI(title="facexp", version=__version__, lifespan=lifespan,
                  description="Facial-expression recognition: every face's box, expression and probabilities.")
    app.state.service = service
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Authorization"])

    @app.middleware("http")
    async def guard(request: Request, call_next):
        started = time.perf_counter()
        path = request.url.path
        response = None
        if settings.api_key and not (path in OPEN_PATHS or path.startswith("/static/")):
            given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
                response = _error_response(401, "unauthorized", "missing or wrong API key (header X-API-Key)")
        length = request.headers.get("content-length")
        if response is None and length and length.isdigit() and path.startswith("/v1/"):
            allowed = settings.max_upload_bytes * (settings.max_batch if path.endswith("/batch") else 1) + 65536
            if int(length) > allowed:
                response = _error_response(413, "too_large", f"request body of {int(length):,} bytes is over the limit")
        if response is None:
            response = await call_next(request)
        route = request.scope.get("route")
        service.metrics.record(getattr(route, "path", "unmatched"), response.status_code, time.perf_counter() - started)
        return response

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(FacexpError)
    async def _facexp_error(request: Request, exc: FacexpError):
        err = _from_facexp(exc)
        return _error_response(err.status, err.code, err.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        missing = [".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()]
        return _error_response(422, "bad_request", f"invalid or missing field(s): {', '.join(missing)}; "
                               "send the image as multipart form field 'file' (batch: 'files')")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        return _error_response(exc.status_code, "http_error", str(exc.detail))

    @app.post("/v1/predict", summary="Faces, expressions and probabilities for one image")
    async def predict(file: UploadFile = File(..., description="JPEG/PNG/WebP/... image"),
                      annotate: bool = Query(False, description="also return the image with boxes drawn"),
                      gradcam: bool = Query(False, description="also return a Grad-CAM heat map per face")):
        data = await _read_upload(file, settings.max_upload_bytes)
        try:
            return await service.run(lambda: predict_payload(service.predictor, data, max_pixels=settings.max_pixels,
                                                             annotate=annotate, gradcam=gradcam))
        except FacexpError as exc:
            raise _from_facexp(exc) from None

    @app.post("/v1/predict/batch", summary="Several images in one request")
    async def predict_batch(files: list[UploadFile] = File(...)):
        if len(files) > settings.max_batch:
            raise ApiError(413, "too_many", f"{len(files)} images; the limit is {settings.max_batch} per request")
        results = []
        for upload in files:
            try:
                data = await _read_upload(upload, settings.max_upload_bytes)
                results.append(await service.run(lambda d=data: predict_payload(
                    service.predictor, d, max_pixels=settings.max_pixels, annotate=False, gradcam=False)))
            except FacexpError as exc:
                err = _from_facexp(exc)
                results.append({"error": {"code": err.code, "message": err.message}})
            except ApiError as exc:
                if exc.status in (503, 504):
                    raise
                results.append({"error": {"code": exc.code, "message": exc.message}})
        return {"count": len(results), "results": results}

    @app.get("/v1/model", summary="The model card (model.json)")
    async def model_card():
        card = copy.deepcopy(service.predictor.bundle.card)
        card.get("training", {}).get("data", {}).pop("root", None)  # no file paths in responses
        card.get("training", {}).get("data", {}).pop("skipped", None)
        card.get("training", {}).get("config", {}).pop("init_from", None)
        return card

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "version": __version__}

    @app.get("/metrics")
    async def metrics():
        return service.metrics.snapshot()

    static = resources.files("facexp.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index():
        return (static / "index.html").read_text()

    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn workers: settings come from FACEXP_* environment variables."""
    return create_app(ServeSettings.from_env())
