"""Request body size limit (MAX_BODY_BYTES), enforced while the body streams in.

A declared `Content-Length` over the limit is answered with 413 before a byte of the body is read
(within the limit, it is all the server's HTTP parser will deliver); a chunked body is counted as
it arrives and cut off with 413 as soon as it passes the limit, so no oversized body is ever
buffered. (FastAPI's own `max_body_size` answers with a plain-text
"Content Too Large"; this one keeps the API's JSON error shape.)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import render_error
from app.core.errors import TooLargeError


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
