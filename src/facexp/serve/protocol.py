"""Connection limits below the app: slow or stalled request headers, and how many sockets may be open.

uvicorn times out idle keep-alive connections, but a connection that has sent no request yet, or
only part of its headers, has no timer: a client can hold a socket (and its buffers) for ever, and
a few hundred of them exhaust the server. ``GuardedHttpToolsProtocol`` is uvicorn's httptools
protocol plus three rules, all from ``ServeSettings``:

- the request line and headers must arrive within ``header_timeout_s`` of the connection (or of
  the first byte of a keep-alive request): else ``408`` and the connection is closed;
- headers larger than ``MAX_HEADER_BYTES`` get ``431`` and the connection is closed;
- at most ``max_connections`` sockets are open per worker: one more is answered ``503`` and
  closed at once, before it costs a request.

Answers to a body that is too slow or too large (408, 413) carry ``Connection: close`` (see
``guard``); after an answer given before the body ended (401, 503 busy) the rest of the body is read
and dropped for at most ``header_timeout_s``, then the connection is closed: a client that
dribbles a body after its answer is disconnected either way.
``uvicorn_options`` gives the keyword arguments ``uvicorn.run`` needs for all of this.
"""

from __future__ import annotations

import json
import logging

from .settings import ServeSettings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024


def _raw_answer(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: uvicorn's h11 protocol, with its keep-alive timeout only
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


if HttpToolsProtocol is not None:

    class GuardedHttpToolsProtocol(HttpToolsProtocol):  # type: ignore[misc,valid-type]
        """uvicorn's httptools protocol with a header deadline, a header size cap and a connection cap."""

        settings: ServeSettings | None = None  # set by ``uvicorn_options``; workers read FACEXP_* instead

        @classmethod
        def limits(cls) -> ServeSettings:
            if cls.settings is None:
                cls.settings = ServeSettings.from_env()
            return cls.settings

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            limits = self.limits()
            self._header_timer = None
            self._header_bytes = 0
            self._in_headers = True
            if len(self.connections) > limits.max_connections:
                log.warning("connection refused: %d open connections is the limit", limits.max_connections)
                transport.write(_raw_answer(503, "Service Unavailable", "busy",
                                            f"the server has {limits.max_connections} connections open, its limit; "
                                            "retry in 1s"))
                transport.close()
                return
            self._arm_header_timer()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(self.limits().header_timeout_s, self._header_timeout)

        def _cancel_header_timer(self) -> None:
            if getattr(self, "_header_timer", None) is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                seconds = self.limits().header_timeout_s
                self.transport.write(_raw_answer(408, "Request Timeout", "request_timeout",
                                                 f"the request headers did not arrive within {seconds:g}s"))
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return
            if self._in_headers:
                self._header_bytes += len(data)
                if self._header_bytes > MAX_HEADER_BYTES + 64 * 1024:  # far past the cap: stop parsing at once
                    self._too_large()
                    return
            super().data_received(data)

        def _too_large(self) -> None:
            self._cancel_header_timer()
            self.transport.write(_raw_answer(431, "Request Header Fields Too Large", "bad_request",
                                             f"the request headers are over {MAX_HEADER_BYTES:,} bytes"))
            self.transport.close()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._body_done = False
            self._in_headers = True
            self._header_bytes = 0
            if self._header_timer is None:  # a keep-alive request: its headers get the same deadline
                self._arm_header_timer()

        def on_header(self, name: bytes, value: bytes) -> None:
            super().on_header(name, value)
            if sum(len(n) + len(v) for n, v in self.headers) > MAX_HEADER_BYTES:
                self._too_large()

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            self._in_headers = False
            if self.transport.is_closing():
                return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            if not self.transport.is_closing() and self.cycle is not None:
                super().on_body(body)

        def on_message_complete(self) -> None:
            self._body_done = True
            self._cancel_drain_timer()
            if not self.transport.is_closing() and self.cycle is not None:
                super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not getattr(self, "_body_done", True) and not self.transport.is_closing():
                # answered before the body ended (401, 503): the rest is read and dropped, for a while
                self._drain_timer = self.loop.call_later(self.limits().header_timeout_s, self._drain_timeout)

        def _drain_timeout(self) -> None:
            self._drain_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def _cancel_drain_timer(self) -> None:
            if getattr(self, "_drain_timer", None) is not None:
                self._drain_timer.cancel()
                self._drain_timer = None

        def connection_lost(self, exc) -> None:
            self._cancel_header_timer()
            self._cancel_drain_timer()
            super().connection_lost(exc)


def uvicorn_options(settings: ServeSettings) -> dict:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config`` that apply the connection limits."""
    options = {"timeout_keep_alive": max(1, round(settings.idle_timeout_s)),
               "limit_concurrency": settings.max_connections + 1,
               "h11_max_incomplete_event_size": MAX_HEADER_BYTES}
    if HttpToolsProtocol is not None:
        GuardedHttpToolsProtocol.settings = settings
        options["http"] = GuardedHttpToolsProtocol
    else:
        log.warning("httptools is not installed: no deadline for request headers (pip install httptools)")
    return options
