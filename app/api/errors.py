"""The one place that turns errors into HTTP responses.

Domain errors (`app.core.errors`) carry what went wrong and where; this module only picks the status
code and renders `{"detail": "<one line>", "errors": [...]}`. User input never ends in a 500:
bad content → 422, too large → 413, wrong media type or content coding → 415, no model loaded → 503.
A client that goes away before its body is complete is no error of ours either: it is counted as 499
(`CLIENT_CLOSED_REQUEST`), and nothing is sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from app.core.errors import ArtifactError, InputError, NotReadyError, PodPowerError, TooLargeError, UpstreamError

log = logging.getLogger("app.api")


class UnsupportedMediaTypeError(InputError):
    """The request's Content-Type is not one the endpoint reads (HTTP 415)."""

    headers: ClassVar[dict[str, str] | None] = None
    """Response headers that go with the 415."""


class UnsupportedEncodingError(UnsupportedMediaTypeError):
    """The body is sent with a Content-Encoding (gzip, br, …): 415 with `Accept-Encoding: identity`, as RFC 9110
    §15.5.16 asks. Bodies are never decompressed: the size limits count the bytes as sent, so a gzip bomb
    stays a few kilobytes."""

    headers: ClassVar[dict[str, str] | None] = {"Accept-Encoding": "identity"}


STATUS_BY_ERROR: tuple[tuple[type[PodPowerError], int], ...] = (
    (UnsupportedMediaTypeError, 415),
    (TooLargeError, 413),
    (InputError, 422),
    (NotReadyError, 503),
    (ArtifactError, 503),
    (UpstreamError, 502),
    (PodPowerError, 503),  # any other domain error on the request path is a service set-up problem
)
"""Most specific class first; the first match wins."""


CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a client that closed the connection before it was answered: what /metrics counts for a
request whose body never arrived whole. Never sent (there is no one to send it to), and not a 5xx."""

ANSWERED_STATUS = "podpower.answered_status"
"""Scope key: the status the connection's protocol answered with itself before cutting the request off (the
408 of BODY_TIMEOUT_S, `app.api.limits`); /metrics counts that status rather than 499."""


def status_for(exc: PodPowerError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 503


class FieldError(BaseModel):
    """One schema violation: where (`loc`, from `body`) and what."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error body: one line naming the document and field at fault, plus the individual errors."""

    detail: str = Field(description="One line: the document (e.g. `body`, `body: document 2 (Deployment shop/web)`), "
                        "the field path and what is wrong with it.")
    errors: list[FieldError] | None = Field(default=None, description="All schema violations (422 on /predict).")


def _responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        413: "Body larger than MAX_BODY_BYTES, or YAML over the alias / depth / node limits (alias bomb).",
        415: "Wrong Content-Type; the detail says which to send.",
        422: "Invalid JSON or YAML, a schema violation, an unsupported kind, a quantity that does not parse, "
             "or no workload in the body. The detail names the document and the field.",
        503: "The encoder and model are not loaded (still loading, or missing/corrupt: the detail says which file).",
    }
    return {code: {"model": ErrorResponse, "description": text[code]} for code in codes}


PREDICT_ERRORS = _responses(413, 415, 422, 503)
YAML_ERRORS = _responses(413, 415, 422, 503)
INFER_ERRORS = _responses(413, 415, 422)
NOT_READY = _responses(503)


def render_error(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


def _line_col(doc: Any, pos: Any) -> str:
    if isinstance(doc, bytes | bytearray):
        doc = doc.decode("utf-8", "replace")
    if not isinstance(doc, str) or not isinstance(pos, int):
        return ""
    line = doc.count("\n", 0, pos) + 1
    col = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return f" at line {line}, column {col}"


def validation_detail(errors: Sequence[Any], body: Any = None) -> tuple[str, list[dict[str, Any]]]:
    """One line for the first error (`body.containers.0.req_cpu_mcpu: Input should be …`) and all errors."""
    items: list[dict[str, Any]] = []
    lines: list[str] = []
    for err in errors:
        loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
        kind = str(err.get("type", "value_error"))
        if kind == "json_invalid":
            reason = (err.get("ctx") or {}).get("error") or err.get("msg", "invalid JSON")
            pos = loc[1] if len(loc) > 1 else None
            msg = f"invalid JSON{_line_col(body, pos)}: {reason}"
            loc = loc[:1]
        else:
            msg = str(err.get("msg", "invalid value"))
            if kind == "missing" and loc == ["body"]:
                msg = "missing: send an InferenceRequest JSON object"
        items.append({"loc": loc, "msg": msg, "type": kind})
        lines.append(f"{'.'.join(str(p) for p in loc) or 'body'}: {msg}")
    if not lines:
        return "body: invalid request", items
    more = f" (and {len(lines) - 1} more error(s), see `errors`)" if len(lines) > 1 else ""
    return lines[0] + more, items


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PodPowerError)
    status = status_for(exc)
    if status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
    return render_error(status, str(exc), headers=getattr(exc, "headers", None))


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client went away (or was cut off at BODY_TIMEOUT_S) before its body was complete. The answer is
    dropped by the server, unsent; it only carries the status /metrics counts."""
    status = request.scope.get(ANSWERED_STATUS, CLIENT_CLOSED_REQUEST)
    if status == CLIENT_CLOSED_REQUEST:
        log.info("%s %s: the client closed the connection before its body was complete", request.method,
                 request.url.path)
    return render_error(status, "client closed the request")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, items = validation_detail(exc.errors(), getattr(exc, "body", None))
    return render_error(422, detail, items)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, PodPowerError):  # FastAPI wraps errors raised while it reads the body
        return await _domain_error(request, exc.__cause__)
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        # json.loads failed with something other than a syntax error: bad bytes or too deep
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):
            why = f"not UTF-8 text ({cause.reason} at byte {cause.start})"
        elif isinstance(cause, RecursionError):
            why = "nested too deeply"
        else:
            why = "cannot be parsed"
        return render_error(422, f"body: invalid JSON: {why}")
    return render_error(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return render_error(500, f"internal error ({type(exc).__name__}); see the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PodPowerError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
