"""Every error the server answers is JSON: ``{"error": {"code": ..., "message": ...}}``.

Clients branch on the stable ``code``; people read the ``message``. Library errors are mapped
here, in one table, and no message that could hold a server file path reaches a client.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import FacexpError, ImageDecodeError, ImageTooLarge, ModelError, VideoDecodeError, VideoTooLong

log = logging.getLogger(__name__)

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 408: "request_timeout", 413: "too_large", 415: "bad_image", 422: "bad_request",
                 503: "busy", 504: "timeout"}
_PIL_REPR = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-f]+>")


class ApiError(HTTPException):
    """An answer other than 200, with a stable ``code`` (an HTTPException so FastAPI passes it
    through unchanged even when it is raised while the request body is being read)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status, message, headers)
        self.code = code


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one error shape of this API."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def api_error(exc: FacexpError) -> ApiError:
    """Map a library error to status and code (decode and size errors are the client's fault)."""
    message = _PIL_REPR.sub("", str(exc))
    if isinstance(exc, ImageTooLarge):
        return ApiError(413, "too_large", message)
    if isinstance(exc, ImageDecodeError):
        return ApiError(415, "bad_image", message)
    if isinstance(exc, VideoTooLong):
        return ApiError(413, "too_long", message)
    if isinstance(exc, VideoDecodeError):
        return ApiError(415, "bad_video", message)
    if isinstance(exc, ModelError):  # its message names files on the server: log it, do not send it
        log.error("model unavailable: %s", exc)
        return ApiError(503, "model_unavailable", "the model could not be loaded; see the server log")
    return ApiError(400, "bad_request", message)


def _validation_problem(error: dict) -> str:
    """One request-validation error as "query parameter 'annotate': <why>; got 'maybe'" (names the field)."""
    where, *rest = error["loc"] or ("request",)
    name = ".".join(str(p) for p in rest) or str(where)
    kind = {"query": "query parameter", "body": "form field", "header": "header", "path": "path parameter"}.get(
        str(where), str(where))
    if error.get("type") == "missing":
        return f"{kind} '{name}' is missing"
    got = error.get("input")
    shown = f"; got {str(got)[:40]!r}" if isinstance(got, (str, int, float)) else ""
    return f"{kind} '{name}': {error.get('msg', 'invalid')}{shown}"


def install_error_handlers(app: FastAPI) -> None:
    """Answer HTTP, validation, library and unexpected errors in the one JSON shape."""

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and str(exc.detail).startswith("Too many files"):  # the multipart parser's limit
            limit = request.app.state.service.settings.max_batch
            return error_response(413, "too_many", f"more than {limit} images in one request; the limit is {limit}",
                                  {"Connection": "close"})
        code = getattr(exc, "code", None) or _STATUS_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    @app.exception_handler(FacexpError)
    async def _facexp(request: Request, exc: FacexpError) -> JSONResponse:
        err = api_error(exc)
        return error_response(err.status_code, err.code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = dict.fromkeys(_validation_problem(e) for e in exc.errors())
        message = "; ".join(problems)
        if any(e["loc"][:1] == ("body",) for e in exc.errors()):
            message += "; send the image as multipart form field 'file' (batch: one 'files' field per image)"
        return error_response(422, "bad_request", message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal", "internal server error; see the server log")
