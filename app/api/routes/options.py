"""The predict endpoints' query options, declared once.

`QUERY_OPTIONS` is the one table: the parser (`predict_options`) and the OpenAPI parameters
(`PREDICT_QUERY_PARAMETERS`) are both generated from it, so the docs cannot drift from what is
accepted. The parser is hand-rolled rather than FastAPI's per-parameter machinery, which costs more
per request than a whole cached prediction; most requests carry no query string at all.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from app.core.errors import InputError

T = TypeVar("T")


@dataclass(frozen=True)
class QueryOption:
    """One `?name=value` option: its JSON-schema type and what it means."""

    name: str
    type: str  # "boolean" | "number" | "integer"
    description: str

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        schema.update({"default": False} if self.type == "boolean" else {"minimum": 0})
        return {"name": self.name, "in": "query", "required": False, "schema": schema,
                "description": self.description}


QUERY_OPTIONS = (
    QueryOption("explain", "boolean", "List the nearest training workloads (`neighbors`)."),
    QueryOption("hours", "number", "Add energy over this many hours for all replicas (a Job: per run; a CronJob: "
                "from its schedule)."),
    QueryOption("grid_gco2_per_kwh", "number", "Grid carbon intensity, gCO2e/kWh, for `pred_co2_g` (default: the "
                "GRID_GCO2_PER_KWH setting)."),
    QueryOption("nodes", "integer", "Nodes a DaemonSet runs on: its `replicas` (default 1; other kinds keep "
                "theirs). Scales the all-replica fields, not the per-pod power."),
)
PREDICT_QUERY_PARAMETERS: list[dict[str, Any]] = [o.openapi() for o in QUERY_OPTIONS]


@dataclass(frozen=True)
class PredictOptions:
    """Parsed query options; field names are the option names of `QUERY_OPTIONS`."""

    explain: bool = False
    hours: float | None = None
    grid_gco2_per_kwh: float | None = None
    nodes: int | None = None


NO_OPTIONS = PredictOptions()
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise InputError(f"expected true or false, got {raw!r}", source="query", field=name)
    return value in _TRUE


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"expected a number, got {raw!r}", source="query", field=name) from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"must be a finite number >= 0, got {raw!r}", source="query", field=name)
    return value


def _integer(name: str, raw: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 15:  # digits only: no sign, no 1e3, below 2^53
        raise InputError(f"expected a whole number >= 0, got {raw!r}", source="query", field=name)
    return int(text)


_PARSERS: dict[str, Callable[[str, str], Any]] = {"boolean": _boolean, "number": _number, "integer": _integer}


def predict_options(request: Request) -> PredictOptions:
    """Parse the query options; a bad value is a 422 naming the parameter."""
    if not request.scope.get("query_string"):
        return NO_OPTIONS
    query = request.query_params
    values = {o.name: _PARSERS[o.type](o.name, query[o.name]) for o in QUERY_OPTIONS if o.name in query}
    return PredictOptions(**values)


def with_options(fn: Callable[..., T], service: Any, options: PredictOptions) -> Callable[..., T]:
    """The predictor call with the query options; settings supply the grid intensity and PUE defaults."""
    if not options.explain and options.hours is None and options.nodes is None:
        return fn
    settings = service.settings
    grid = options.grid_gco2_per_kwh if options.grid_gco2_per_kwh is not None else settings.grid_gco2_per_kwh
    return functools.partial(fn, explain=options.explain, hours=options.hours, grid_gco2_per_kwh=grid,
                             pue=settings.pue, nodes=options.nodes)
