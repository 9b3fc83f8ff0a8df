"""Request limits: body size (MAX_BODY_BYTES, an ASGI middleware), objects in a YAML body (MAX_YAML_OBJECTS)
and, per connection, head size and read timeouts (MAX_HEADER_BYTES, HEADER_TIMEOUT_S, BODY_TIMEOUT_S: an HTTP
protocol for uvicorn).

A declared `Content-Length` over the limit is answered with 413 before a byte of the body is read
(within the limit, it is all the server's HTTP parser will deliver); a chunked body is counted as
it arrives and cut off with 413 as soon as it passes the limit, so no oversized body is ever
buffered. (FastAPI's own `max_body_size` answers with a plain-text
"Content Too Large"; this one keeps the API's JSON error shape.)
"""

from __future__ import annotations

import asyncio
import json
from asyncio import TimerHandle
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.api.errors import ANSWERED_STATUS, render_error
from app.core.errors import TooLargeError
from app.core.settings import Settings, get_settings

MAX_YAML_OBJECTS = 256
"""Most Kubernetes objects (YAML documents, each item of a `kind: List` counted) one from-yaml body may hold.

Why a count as well as MAX_BODY_BYTES: 1 MiB holds ~6,000 small Deployments, and converting and predicting
them cost ~1 s of CPU a body; 16 such bodies at once held the server for 15 s, `/healthz` answering up to 2 s
late, past the pod's 3 s liveness timeout under more load (docs/api.md, Limits, has the measurements). 256 is
/predict's own order (128 containers a request) with room for the objects a manifest bundle carries beside
each workload (Service, ConfigMap, ServiceAccount). Counted after parsing, before any object is converted
(`app.api.routes.yaml`); more is a 413.
"""

YAML_CONVERSIONS_AT_ONCE = 1
"""Large YAML bodies parsed and converted in the thread pool at the same time. The work is pure Python
(it holds the GIL), so more threads add no throughput; they only take the event loop's turns, and
/healthz answers late. One at a time, a burst of bodies queues (holding only its text) instead."""


def too_many_objects(count: int) -> TooLargeError:
    return TooLargeError(f"{count} Kubernetes objects, more than {MAX_YAML_OBJECTS} (the MAX_YAML_OBJECTS "
                         "limit); send them in several requests", source="body")


def body_too_large(limit: int) -> TooLargeError:
    return TooLargeError(f"larger than {limit} bytes (the MAX_BODY_BYTES limit); send a smaller document",
                         source="body")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for key, value in scope["headers"]:
            if key == b"content-length":
                if value.isdigit():
                    if int(value) > limit:
                        await render_error(413, str(body_too_large(limit)))(scope, receive, send)
                    else:  # the server's HTTP parser delivers exactly Content-Length bytes: nothing to count
                        await self.app(scope, receive, send)
                    return
                break
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise body_too_large(limit)
            return message

        await self.app(scope, counted, send)


# -- connection limits: the HTTP protocol layer -----------------------------------------------------------
# What uvicorn 0.54 offers itself is used as is: `limit_concurrency` (503 past it), `timeout_keep_alive`,
# `timeout_graceful_shutdown`, and `h11_max_incomplete_event_size` (only for the h11 parser). It has no
# limit on the size of a request head for httptools, and no read timeout at all: a client sending one
# header byte per second (slowloris), or a body that never ends, holds a connection open forever. The
# protocol below adds both to uvicorn's httptools protocol, which `python -m app serve` always uses.


@dataclass(frozen=True)
class ConnectionLimits:
    """Per connection: the largest request head, and how long its head and its body may take to arrive."""

    max_header_bytes: int = 16_384
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.max_header_bytes, settings.header_timeout_s, settings.body_timeout_s)


def _refusal(status: int, detail: str) -> bytes:
    """A complete response that closes the connection, in the API's error shape."""
    body = json.dumps({"detail": detail}).encode()
    reason = HTTPStatus(status).phrase.encode()
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason, len(body), body))


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a request-head size limit and read timeouts.

    * Head size: 431 once more than `max_header_bytes` of a request head (request line and headers)
      have arrived without it ending, or when a head that arrived in one read is larger; the bytes
      held for a head never exceed the limit by more than one socket read.
    * Head timeout: 408 when a request head is not complete `header_timeout_s` after its first byte
      (for the first request, after the connection opened: a silent connection is closed too).
    * Body timeout: 408 when the body is not complete `body_timeout_s` after the head (the client is
      answered if the app has not answered yet; the app sees a disconnect).
    Each refusal closes the connection. `uvicorn app.api.app:app --http app.api.limits:LimitedHttpToolsProtocol`
    uses it with limits from the environment; `python -m app serve` passes its own (`limited_protocol`).
    """

    limits = ConnectionLimits.from_settings(get_settings())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_size = 0
        self._in_head = True  # reading a request head (or waiting for one): not between head and message end
        self._refused = False
        self._timer: TimerHandle | None = None
        # what a timeout answers, written once per connection rather than at each arming (twice a request)
        limits = self.limits
        self._head_timeout = (limits.header_timeout_s, 408, f"request headers not received within "
                              f"{limits.header_timeout_s:g} s (the HEADER_TIMEOUT_S limit)")
        self._body_timeout = (limits.body_timeout_s, 408, f"request body not received within "
                              f"{limits.body_timeout_s:g} s (the BODY_TIMEOUT_S limit)")

    # -- timers
    def _arm(self, seconds: float, status: int, detail: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._refuse, status, detail)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` unless a response is under way on this connection, then close it."""
        self._timer = None
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        cycle = self.cycle
        # in a head, the request has no cycle yet (`cycle` is the one before, if any); in a body, the app
        # may have answered early (413) while the body is still coming
        answer = (cycle is None or cycle.response_complete) if self._in_head else not cycle.response_started
        if answer:
            self.transport.write(_refusal(status, detail))
            if not self._in_head:  # the app sees a disconnect: it counts this status (app.api.errors)
                cycle.scope[ANSWERED_STATUS] = status  # type: ignore[literal-required]
        self.logger.warning("%s: %s", self.client, detail)
        self.transport.close()

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse_head()

    def _arm_head_timer(self) -> None:
        self._arm(*self._head_timeout)

    def _refuse_head(self) -> None:
        self._refuse(431, f"request headers larger than {self.limits.max_header_bytes} bytes "
                     "(the MAX_HEADER_BYTES limit)")

    # -- parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = 0
        if self._timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url) + 16  # method, spaces, version, CRLF
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        if self._head_size > self.limits.max_header_bytes:  # a whole head in one read
            self._refuse_head()
            return
        self._in_head = False
        self._head_bytes = 0
        self._arm(*self._body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._disarm()
        self._in_head = True
        super().on_message_complete()


def limited_protocol(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class with `limits` (uvicorn takes a class and builds one instance per connection)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
