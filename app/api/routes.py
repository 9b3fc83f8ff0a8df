"""The endpoints. Each one only wires: parse → the shared domain functions → response.

Prediction runs in the event loop: with the default encoder a miss costs a fraction of a
millisecond, less than the thread pool hand-off. With SBERT (milliseconds of torch per miss) or a
big YAML body, the work moves to the thread pool so other requests and `/healthz` keep flowing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import JSONResponse

from app.api import examples
from app.api.body import LeanJSONRoute
from app.api.deps import PredictorDep, ServiceDep, YamlLimitsDep, YamlTextDep
from app.api.errors import INFER_ERRORS, NOT_READY, PREDICT_ERRORS, YAML_ERRORS
from app.api.models import EncoderInfo, Health, ModelCard, Readiness
from app.core.errors import InputError
from app.core.schema import ConversionResult, InferenceRequest, MultiPrediction, Prediction
from app.workloads.convert import requests_from_yaml

if TYPE_CHECKING:
    from app.serving.predictor import Predictor

router = APIRouter()

T = TypeVar("T")

INLINE_YAML_BYTES = 32 * 1024
"""YAML bodies larger than this are parsed in the thread pool rather than in the event loop."""

YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Kubernetes YAML: one or many documents (`---`), or a `kind: List` (as `kubectl get -o yaml` "
        "prints). Send it as `Content-Type: text/plain` (application/yaml, application/x-yaml and text/yaml work "
        "too). Non-workload objects (Service, ConfigMap, …) are skipped, not errors.",
        "content": {
            "text/plain": {"schema": {"type": "string"}, "examples": examples.YAML_EXAMPLES},
            "application/yaml": {"schema": {"type": "string"}, "examples": examples.YAML_EXAMPLES},
        },
    }
}


async def _run(offload: bool, fn: Callable[..., T], *args: Any, limiter: Any = None) -> T:
    if not offload:
        return fn(*args)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)


@dataclass(frozen=True)
class PredictOptions:
    """The predict endpoints' query options (`?explain=true&hours=H&grid_gco2_per_kwh=G`)."""

    explain: bool = False
    hours: float | None = None
    grid_gco2_per_kwh: float | None = None


NO_OPTIONS = PredictOptions()
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")

PREDICT_QUERY_PARAMETERS: list[dict[str, Any]] = [
    {"name": "explain", "in": "query", "required": False, "schema": {"type": "boolean", "default": False},
     "description": "List the nearest training workloads (`neighbors`)."},
    {"name": "hours", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0},
     "description": "Add energy over this many hours for all replicas (a Job: per run; a CronJob: from its "
                    "schedule)."},
    {"name": "grid_gco2_per_kwh", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0},
     "description": "Grid carbon intensity, gCO2e/kWh, for `pred_co2_g` (default: the GRID_GCO2_PER_KWH setting)."},
]
"""Documented here and parsed by `predict_options`: FastAPI's per-parameter machinery costs more per
request than the whole cached prediction, and most requests carry no query string at all."""


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"expected a number, got {raw!r}", source="query", field=name) from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"must be a finite number >= 0, got {raw!r}", source="query", field=name)
    return value


def predict_options(request: Request) -> PredictOptions:
    """Parse the query options; a bad value is a 422 naming the parameter."""
    if not request.scope.get("query_string"):
        return NO_OPTIONS
    q = request.query_params
    explain = False
    if "explain" in q:
        raw = q["explain"].strip().lower()
        if raw not in _TRUE + _FALSE:
            raise InputError(f"expected true or false, got {q['explain']!r}", source="query", field="explain")
        explain = raw in _TRUE
    hours = _number("hours", q["hours"]) if "hours" in q else None
    grid = _number("grid_gco2_per_kwh", q["grid_gco2_per_kwh"]) if "grid_gco2_per_kwh" in q else None
    return PredictOptions(explain, hours, grid)


def _with_options(fn: Callable[..., T], service: Any, options: PredictOptions) -> Callable[..., T]:
    """The predictor call with the query options; settings supply the grid intensity and PUE defaults."""
    if not options.explain and options.hours is None:
        return fn
    settings = service.settings
    grid = options.grid_gco2_per_kwh if options.grid_gco2_per_kwh is not None else settings.grid_gco2_per_kwh
    return functools.partial(fn, explain=options.explain, hours=options.hours, grid_gco2_per_kwh=grid,
                             pue=settings.pue)


def _slow_encoder(predictor: Predictor) -> bool:
    """SBERT encodes in milliseconds (torch, which releases the GIL): worth the thread pool."""
    return bool(getattr(predictor.encoder, "sbert_dim_", 0))


def _no_workloads(result: ConversionResult) -> InputError:
    if result.skipped:
        why = "; ".join(f"document {s.document}: {s.reason}" for s in result.skipped[:5])
        return InputError(f"no workload to predict for ({why})", source="body")
    return InputError("no Kubernetes object in the YAML", source="body")


async def _convert(text: str, limits: Any) -> ConversionResult:
    result = await _run(len(text) > INLINE_YAML_BYTES, requests_from_yaml, text, "body", limits)
    if not result.requests:
        raise _no_workloads(result)
    return result


async def predict(
    request: Annotated[InferenceRequest, Body(openapi_examples=examples.PREDICT_EXAMPLES)],
    http: Request,
) -> Response:
    # The hot path: `LeanJSONRoute` checks the Content-Type and validates the body from the raw
    # bytes; readiness is checked here rather than by a dependency (see app.api.body).
    service = http.app.state.service
    predictor = service.require_predictor()
    fn = _with_options(predictor.predict, service, predict_options(http))
    prediction = await _run(_slow_encoder(predictor), fn, request, "body", limiter=service.encode_limiter)
    # serialised here, once, straight to bytes: FastAPI's response_model would validate the object
    # again first, and model_dump_json makes a str that Response encodes again
    return Response(prediction.__pydantic_serializer__.to_json(prediction, exclude_none=True),
                    media_type="application/json")


router.add_api_route(
    "/predict",
    predict,
    methods=["POST"],
    route_class_override=LeanJSONRoute,
    response_model=None,
    tags=["predict"],
    summary="Predict power and energy for one InferenceRequest (containers or pod_spec form)",
    openapi_extra={"parameters": PREDICT_QUERY_PARAMETERS},
    responses={
        200: {
            "model": Prediction,
            "description": "The prediction (fields that do not apply are left out).",
            "content": {"application/json": {"example": examples.PREDICTION_EXAMPLE}},
        },
        **PREDICT_ERRORS,
    },
)


@router.get("/healthz", response_model=Health, tags=["service"], summary="Liveness: 200 while the process runs")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    response_model_exclude_none=True,
    tags=["service"],
    summary="Readiness: 200 once the encoder and model are loaded, 503 before (or if they cannot be)",
    responses={503: {"model": Readiness, "description": "Still loading, or the artifacts are missing/corrupt."}},
)
async def readyz(service: ServiceDep) -> Any:
    if service.predictor is None:
        body = Readiness(status=service.status, detail=service.reason)  # type: ignore[arg-type]
        return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
    return Readiness(status="ready", detail=service.reason, model_version=service.predictor.model_version)


@router.get("/model", response_model=ModelCard, tags=["service"], summary="The model card", responses=NOT_READY)
async def model_card(predictor: PredictorDep) -> ModelCard:
    enc = predictor.encoder
    info = EncoderInfo(
        features=int(enc.n_features_out_),
        text_dim=int(enc.text_dim),
        sbert=bool(getattr(enc, "sbert_dim_", 0)),
        sbert_dim=int(getattr(enc, "sbert_dim_", 0)),
    )
    card = {k: v for k, v in predictor.card.items() if k not in ("encoder", "cache")}
    card["model_version"] = predictor.model_version
    return ModelCard(**card, encoder=info, cache=predictor.cache_info())


@router.post(
    "/infer/from-yaml",
    response_model=ConversionResult,
    response_model_exclude_none=True,
    tags=["predict"],
    summary="Turn Kubernetes YAML into InferenceRequests (no model needed)",
    description="Returns the InferenceRequest for every workload in the body, in document order, and every "
    "document that was skipped with the reason. A body without any workload is a 422.",
    openapi_extra=YAML_BODY,
    responses=INFER_ERRORS,
)
async def infer_from_yaml(text: YamlTextDep, limits: YamlLimitsDep) -> ConversionResult:
    return await _convert(text, limits)


@router.post(
    "/predict/from-yaml",
    response_model=Prediction | MultiPrediction,
    response_model_exclude_none=True,
    tags=["predict"],
    summary="Predict for every workload in Kubernetes YAML",
    description="**One workload** in the body (e.g. `kubectl get deploy X -o yaml`) gives **one `Prediction` "
    "object**; the number of skipped non-workload documents is in the `X-Skipped-Documents` header. **Several "
    "workloads** give a `MultiPrediction`: `predictions` (one per workload, in document order, none dropped), "
    "`skipped` (documents that held no workload, with the reason) and `pred_power_w_total` (W, all workloads). "
    "Tell the shapes apart by the `predictions` key.",
    openapi_extra={**YAML_BODY, "parameters": PREDICT_QUERY_PARAMETERS},
    responses={
        200: {
            "description": "A `Prediction` for one workload, a `MultiPrediction` for several.",
            "headers": {
                "X-Skipped-Documents": {
                    "description": "Documents skipped because they hold no workload (Service, ConfigMap, …).",
                    "schema": {"type": "integer"},
                }
            },
            "content": {
                "application/json": {
                    "examples": {
                        "one": {"summary": "One workload → Prediction", "value": examples.PREDICTION_EXAMPLE},
                        "many": {
                            "summary": "Several workloads → MultiPrediction",
                            "value": examples.MULTI_PREDICTION_EXAMPLE,
                        },
                    }
                }
            },
        },
        **YAML_ERRORS,
    },
)
async def predict_from_yaml(
    text: YamlTextDep, limits: YamlLimitsDep, predictor: PredictorDep, response: Response, service: ServiceDep,
    http: Request,
) -> Prediction | MultiPrediction:
    result = await _convert(text, limits)
    fn = _with_options(predictor.predict_many, service, predict_options(http))
    preds = await _run(_slow_encoder(predictor), fn, result.requests, "body", limiter=service.encode_limiter)
    response.headers["X-Skipped-Documents"] = str(len(result.skipped))
    if len(preds) == 1:
        return preds[0]
    return MultiPrediction(
        predictions=preds, skipped=result.skipped, pred_power_w_total=sum(p.pred_power_w_total for p in preds)
    )
