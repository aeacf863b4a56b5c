"""The gate every HTTP request passes: API key, body size, body-read deadline, and the metrics.

A plain ASGI middleware rather than ``@app.middleware("http")``: it sees the body as it streams
in, so an upload with no Content-Length (chunked) is cut off at the limit instead of being
spooled to disk first, and a client that sends its body slowly gets 408 instead of holding a
connection open for ever. Errors raised while the body is read are ``ApiError``s, which FastAPI
passes through to the JSON error handlers.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response
from .metrics import Metrics
from .service import CURRENT_TICKET, RETRY_AFTER_S, Ticket
from .settings import ServeSettings

DOCS_ASSETS = "/docs-assets"  # Swagger UI and ReDoc scripts, served by this server
# Open without the API key: the page (it asks for the key itself), liveness, and the API docs.
OPEN_PATHS = frozenset({"/", "/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
OPEN_PREFIXES = ("/static/", DOCS_ASSETS + "/")
# A body over the limit or too slow closes the connection: the rest is not read, and a client that
# keeps dribbling it does not keep the socket. (After a 401 or 503 the body, bounded by the limit,
# is read and dropped for at most the header deadline: see ``protocol``.)
CLOSE = {"Connection": "close"}
GATED = frozenset({"/v1/predict", "/v1/predict/batch", "/v1/predict/live", "/v1/predict/video"})  # take a gate slot


def presented_key(headers: Headers) -> str:
    """The key from ``X-API-Key`` or ``Authorization: Bearer <key>`` ('' when neither is sent)."""
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Guard:
    """ASGI middleware enforcing ``ServeSettings`` limits and recording each answer in ``Metrics``."""

    def __init__(self, app: ASGIApp, *, settings: ServeSettings, metrics: Metrics, known_paths: frozenset[str],
                 admit: Callable[[], Ticket | None] | None = None, busy_message: str = "the server is busy"):
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.known_paths = known_paths
        self.admit = admit
        self.busy_message = busy_message
        self._key = settings.api_key.encode() if settings.api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what ServerErrorMiddleware answers if the app raises

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        ticket = None
        try:
            refusal = self._refusal(scope)
            if refusal is None and self.admit is not None and scope["method"] == "POST" and scope["path"] in GATED:
                ticket = self.admit()  # before the body is read: a full server reads no more uploads
                if ticket is None:
                    refusal = error_response(503, "busy", self.busy_message, {"Retry-After": str(RETRY_AFTER_S)})
            if refusal is not None:
                await refusal(scope, receive, send_noting_status)
            else:
                token = CURRENT_TICKET.set(ticket)
                try:
                    await self.app(scope, self._bounded(scope, receive), send_noting_status)
                finally:
                    CURRENT_TICKET.reset(token)
        finally:
            if ticket is not None:
                ticket.release()
            self.metrics.record(self._route(scope), status, time.perf_counter() - started)

    def _refusal(self, scope: Scope):
        """An error response for a request refused on its headers alone, else None."""
        path = scope["path"]
        headers = Headers(scope=scope)
        if self._key is not None and path not in OPEN_PATHS and not path.startswith(OPEN_PREFIXES):
            if not hmac.compare_digest(presented_key(headers).encode(), self._key):
                return error_response(401, "unauthorized", "missing or wrong API key; send it in the X-API-Key "
                                      "header (or Authorization: Bearer)", {"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length", "")
        limit = self.settings.max_body_bytes(path)
        if length.isdigit() and int(length) > limit:
            return error_response(413, "too_large", f"a request body of {int(length):,} bytes is over the limit "
                                  f"of {limit:,} bytes for {path}", CLOSE)
        return None

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` that stops the body at the size limit and at the read deadline."""
        limit = self.settings.max_body_bytes(scope["path"])
        timeout = self.settings.timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        received = 0
        complete = False

        async def receive_bounded() -> Message:
            nonlocal received, complete
            if complete:  # after the body, receive() only waits for a disconnect: no deadline then
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                raise ApiError(408, "request_timeout", f"the request body did not arrive within {timeout:g}s",
                               CLOSE) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise ApiError(413, "too_large", f"the request body is over the limit of {limit:,} bytes", CLOSE)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return receive_bounded

    def _route(self, scope: Scope) -> str:
        """The route template for the metrics (never the raw URL, so the label set stays small)."""
        route = scope.get("route")
        if route is not None:
            return route.path
        path = scope["path"]
        if path in self.known_paths:
            return path
        return next((prefix.rstrip("/") for prefix in OPEN_PREFIXES if path.startswith(prefix)), "unmatched")
