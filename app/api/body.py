"""JSON request bodies parsed by pydantic-core straight from the bytes: the /predict hot path.

FastAPI reads a JSON body with `json.loads`, then validates the Python objects, then solves the
route's dependencies: measured in process, that costs ~55 µs more per request than
`Model.model_validate_json(body)` (the body is ~600 bytes, the whole /predict ~0.5 ms).
`LeanJSONRoute` keeps the route's declared signature, so the OpenAPI schema, Swagger UI and its
examples come from FastAPI as usual, and swaps the request handler for one that reads the body
itself.

Errors stay what FastAPI's own path gives: when pydantic-core cannot parse the bytes as JSON, the
body is parsed again with `json.loads` (the slow path only runs for bad input) so the message
names the line and column, a non-UTF-8 byte, or excessive nesting the same way; an integer literal
too long for Python to convert is named by its field (`LongInteger`). What only
`json.loads` accepts (a lone surrogate escape) is refused: it is not valid Unicode.
"""

from __future__ import annotations

import inspect
import json
import sys
import typing
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.types import Receive, Scope, Send

from app.api.deps import read_body, require_json
from app.core.errors import InputError

M = TypeVar("M", bound=BaseModel)


def _body_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [{**e, "loc": ("body", *e["loc"])} for e in errors]


def parse_json_body(model: type[M], body: bytes) -> M:
    """Validate `body` (JSON bytes) as `model`; a `RequestValidationError` or `InputError` otherwise."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not errors or errors[0]["type"] != "json_invalid":
            raise RequestValidationError(_body_errors(errors), body=body) from None
    # not JSON as pydantic-core reads it: describe the problem as FastAPI's json.loads path does
    if not body.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}],
                                     body=body)
    if body.startswith(b"\xef\xbb\xbf"):  # Windows editors write one; pydantic-core only says "expected value"
        raise InputError("invalid JSON: starts with a UTF-8 byte order mark, which JSON text must not (RFC 8259 "
                         "§8.1); save it as UTF-8 without BOM", source="body")
    try:
        json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}], body=body) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})", source="body") from None
    except RecursionError:
        raise InputError("invalid JSON: nested too deeply", source="body") from None
    except ValueError:  # an integer literal longer than Python converts: read it again to name its field
        _refuse_long_integers(model, body)
    # json.loads takes what pydantic-core refuses, such as a lone surrogate escape ("\ud800"): not
    # valid Unicode, so not a spec we can hash or store; refused with pydantic-core's reason
    raise RequestValidationError(_body_errors(errors), body=body)


class LongInteger:
    """Stands in for an integer literal longer than Python converts (`sys.get_int_max_str_digits()`,
    4300 digits: the interpreter's guard against quadratic-time conversion), so that validation can
    say which field holds it. It is no number, no string: every typed field refuses it."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<integer of {self.digits} digits>"


def _parse_int(text: str) -> int | LongInteger:
    limit = sys.get_int_max_str_digits()
    digits = len(text.lstrip("-"))
    return LongInteger(digits) if limit and digits > limit else int(text)


def _refuse_long_integers(model: type[BaseModel], body: bytes) -> None:
    """Raise the validation errors of `body` read with over-long integers as `LongInteger`s.

    When every typed field accepts the body, the long integer sits in free-form data (`pod_spec`):
    the error names its path there.
    """
    data = json.loads(body, parse_int=_parse_int)
    try:
        model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "msg": f"{e['input']!r} is out of range"} if isinstance(e.get("input"), LongInteger) else e
                  for e in exc.errors(include_url=False)]
        raise RequestValidationError(_body_errors(errors), body=body) from None
    path, value = _find_long_integer(data)
    raise InputError(f"{value!r} is out of range", source="body", field=path)


def _find_long_integer(data: Any) -> tuple[str, LongInteger]:
    """The first `LongInteger` in parsed JSON and its path (`pod_spec.containers[0].…`); walked
    without recursion, since the caller knows one is there."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, LongInteger):
            return path or "<body>", node
        if isinstance(node, dict):
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", v) for i, v in reversed(list(enumerate(node))))
    raise AssertionError("no LongInteger in the body")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class LeanRoute(APIRoute):
    """A route whose endpoint is `async def f(<name>: Request) -> Response` and reads what it needs itself.

    No dependency is solved, so the route's ASGI app is the handler itself: FastAPI's wrapper around a
    route opens three exit stacks (for dependencies with `yield` and uploaded files, neither of which
    such a route has) and catches exceptions to hand them to the app's handlers, which
    `ExceptionMiddleware` does anyway one layer up, with the same handlers. What the route declares
    for the docs (`openapi_extra`, `responses`, `response_model`) is kept: FastAPI builds the OpenAPI
    schema from the declaration, not from the handler.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.dependant.dependencies:
            raise TypeError(f"{self.endpoint.__name__}: {type(self).__name__} solves no dependency")
        handler = self.get_route_handler()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(Request(scope, receive, send))
            await response(scope, receive, send)

        self.app = app

    def get_route_handler(self) -> Handler:
        endpoint = self.endpoint
        hints = typing.get_type_hints(endpoint)
        params = list(inspect.signature(endpoint).parameters)
        if len(params) != 1 or hints.get(params[0]) is not Request or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: LeanRoute needs an async endpoint taking only the Request")
        return endpoint  # type: ignore[no-any-return]


class LeanJSONRoute(LeanRoute):
    """A route whose endpoint is `async def f(<name>: <pydantic model>, <name>: Request) -> Response`.

    The Content-Type must be JSON (415 otherwise, before the body is read); the model parameter is
    validated from the raw body by `parse_json_body`. No dependency is solved (`LeanRoute`); the
    endpoint checks anything else it needs (readiness) itself.
    """

    def get_route_handler(self) -> Handler:
        endpoint = self.endpoint
        hints = typing.get_type_hints(endpoint)
        model_arg = request_arg = None
        model: Any = None
        for name in inspect.signature(endpoint).parameters:
            hint = hints.get(name)
            if hint is Request:
                request_arg = name
            elif inspect.isclass(hint) and issubclass(hint, BaseModel):
                model_arg, model = name, hint
        if model_arg is None or request_arg is None or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__name__}: LeanJSONRoute needs an async endpoint taking one pydantic model "
                            "and the Request")

        async def handler(request: Request) -> Response:
            require_json(request)
            body = parse_json_body(model, await read_body(request.receive))
            return await endpoint(**{model_arg: body, request_arg: request})  # type: ignore[no-any-return]

        return handler
