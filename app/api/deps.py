"""Request dependencies, as named `Annotated` aliases the routes declare.

All are `async def`: FastAPI runs plain `def` dependencies in its thread pool, which costs more
than the work they do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from app.api.errors import UnsupportedEncodingError, UnsupportedMediaTypeError
from app.api.service import ServiceState
from app.core.errors import InputError

if TYPE_CHECKING:  # scikit-learn comes in with the predictor, loaded by the lifespan rather than at import
    from app.serving.predictor import Predictor

YAML_MEDIA_TYPES = ("text/plain", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
"""Content types the from-yaml endpoints read (parameters such as `; charset=utf-8` are ignored)."""


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def get_service(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[ServiceState, Depends(get_service)]


async def get_predictor(request: Request) -> Predictor:
    """The loaded predictor, or 503 with the reason it is not there (loading, missing or corrupt file)."""
    return request.app.state.service.require_predictor()  # type: ignore[no-any-return]


PredictorDep = Annotated["Predictor", Depends(get_predictor)]


def require_identity_encoding(request: Request) -> None:
    """415 for a body sent compressed (any Content-Encoding but identity), before it is read.

    Without this, a gzip body reached the parser as bytes (a 422 "not UTF-8 text") and `br` on a plain
    body was silently taken as plain. Bodies are never decompressed (`UnsupportedEncodingError`).
    """
    for key, value in request.scope["headers"]:
        if key == b"content-encoding":
            codings = value.decode("latin-1").strip().lower()
            if any(c.strip() not in ("", "identity") for c in codings.split(",")):
                raise UnsupportedEncodingError(
                    f"Content-Encoding {codings[:40]!r} is not supported: send the body uncompressed "
                    "(no Content-Encoding, or identity)",
                    source="body",
                )


def require_json(request: Request) -> None:
    """415 unless the body is sent as JSON, uncompressed (called by `app.api.body.LeanJSONRoute` before it
    reads the body)."""
    kind = media_type(request)
    if kind != "application/json" and not (kind.startswith("application/") and kind.endswith("+json")):
        raise UnsupportedMediaTypeError(
            f"Content-Type {kind or '(none)'!r} is not supported: send the InferenceRequest as "
            "`Content-Type: application/json`",
            source="body",
        )
    require_identity_encoding(request)


async def read_body(receive: Receive) -> bytes:
    """The whole request body from the ASGI `receive` channel (what `Request.body()` does, minus its
    async generator); a client that disconnects first raises `ClientDisconnect` as Starlette does."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def read_yaml_text(request: Request) -> str:
    """The body as text after checking its media type.

    The size limit (MAX_BODY_BYTES) is enforced by the app's body-limit middleware while the body
    streams in, so an oversized upload is cut off with 413 instead of being buffered first.
    """
    kind = media_type(request)
    if kind not in YAML_MEDIA_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {kind or '(none)'!r} is not supported: send Kubernetes YAML as "
            "`Content-Type: text/plain` (application/yaml, application/x-yaml and text/yaml work too)",
            source="body",
        )
    require_identity_encoding(request)
    raw = await read_body(request.receive)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", source="body") from None
    if not text.strip():
        raise InputError("empty: send one or more Kubernetes objects as YAML", source="body")
    return text


YamlTextDep = Annotated[str, Depends(read_yaml_text)]
