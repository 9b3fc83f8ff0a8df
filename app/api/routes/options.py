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
from app.ml.energy import MAX_GRID_GCO2_PER_KWH, MAX_HOURS, MAX_NODES

T = TypeVar("T")


@dataclass(frozen=True)
class QueryOption:
    """One `?name=value` option: its JSON-schema type, what it means and, for a number, its upper bound
    (numbers are ≥ 0; an integer must have one, so its error and schema can state it)."""

    name: str
    type: str  # "boolean" | "number" | "integer"
    description: str
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.type == "integer" and self.maximum is None:
            raise ValueError(f"{self.name}: an integer option needs a maximum")

    def openapi(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        if self.type == "boolean":
            schema["default"] = False
        else:
            schema["minimum"] = 0
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        return {"name": self.name, "in": "query", "required": False, "schema": schema,
                "description": self.description}


QUERY_OPTIONS = (
    QueryOption("explain", "boolean", "List the nearest training workloads (`neighbors`)."),
    QueryOption("hours", "number", "Add energy over this many hours for all replicas (a Job: per run; a CronJob: "
                f"from its schedule; without one, the whole horizon). At most {MAX_HOURS:,.0f} (10 years).", MAX_HOURS),
    QueryOption("grid_gco2_per_kwh", "number", "Grid carbon intensity, gCO2e/kWh, for `pred_co2_g` (default: the "
                "GRID_GCO2_PER_KWH setting).", MAX_GRID_GCO2_PER_KWH),
    QueryOption("nodes", "integer", "Nodes a DaemonSet runs on: its `replicas` (default 1; other kinds keep "
                f"theirs). Scales the all-replica fields, not the per-pod power. At most {MAX_NODES:,}.", MAX_NODES),
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


def _boolean(option: QueryOption, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        raise InputError(f"expected true or false, got {raw[:40]!r}", source="query", field=option.name)
    return value in _TRUE


def _number(option: QueryOption, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"expected a number, got {raw[:40]!r}", source="query", field=option.name) from None
    top = math.inf if option.maximum is None else option.maximum
    if not 0 <= value <= top or value == math.inf:  # NaN fails the comparison
        bound = "a finite number >= 0" if option.maximum is None else f"a number from 0 to {option.maximum:g}"
        raise InputError(f"must be {bound}, got {raw[:40]!r}", source="query", field=option.name)
    return value


def _integer(option: QueryOption, raw: str) -> int:
    top = int(option.maximum or 0)
    text = raw.strip()
    digits = text.lstrip("0") or "0"
    # digits only (no sign, no 1e3), and no longer than the maximum before int() reads them
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(top)) or int(digits) > top:
        raise InputError(f"expected a whole number from 0 to {top}, got {raw[:40]!r}", source="query",
                         field=option.name)
    return int(digits)


_PARSERS: dict[str, Callable[[QueryOption, str], Any]] = {"boolean": _boolean, "number": _number, "integer": _integer}


def predict_options(request: Request) -> PredictOptions:
    """Parse the query options; a bad value is a 422 naming the parameter."""
    if not request.scope.get("query_string"):
        return NO_OPTIONS
    query = request.query_params
    values = {o.name: _PARSERS[o.type](o, query[o.name]) for o in QUERY_OPTIONS if o.name in query}
    return PredictOptions(**values)


def with_options(fn: Callable[..., T], service: Any, options: PredictOptions) -> Callable[..., T]:
    """The predictor call with the query options; settings supply the grid intensity and PUE defaults."""
    if not options.explain and options.hours is None and options.nodes is None:
        return fn
    settings = service.settings
    grid = options.grid_gco2_per_kwh if options.grid_gco2_per_kwh is not None else settings.grid_gco2_per_kwh
    return functools.partial(fn, explain=options.explain, hours=options.hours, grid_gco2_per_kwh=grid,
                             pue=settings.pue, nodes=options.nodes)
