"""`POST /infer/from-yaml` and `POST /predict/from-yaml`: Kubernetes YAML in, requests or predictions out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api import examples
from app.api.body import LeanRoute
from app.api.deps import YamlLimitsDep, YamlTextDep, read_yaml_text
from app.api.errors import INFER_ERRORS, YAML_ERRORS
from app.api.routes.offload import run
from app.api.routes.options import PREDICT_QUERY_PARAMETERS, predict_options, with_options
from app.core.errors import InputError
from app.core.schema import ConversionResult, MultiPrediction, Prediction
from app.workloads.convert import requests_from_yaml

router = APIRouter()

INLINE_YAML_BYTES = 32 * 1024
"""YAML bodies larger than this are parsed in the thread pool rather than in the event loop."""

YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Kubernetes YAML: one or many documents (`---`), or a `kind: List` (as `kubectl get -o yaml` "
        "prints). Send it as `Content-Type: text/plain` (application/yaml, application/x-yaml and text/yaml work "
        "too). Non-workload objects (Service, ConfigMap, …) are skipped, not errors.",
        # Only text/plain is declared: under a YAML media type, OpenAPI's `schema` describes the parsed
        # document, so `{"type": "string"}` there would promise that a quoted YAML string is a valid body.
        "content": {"text/plain": {"schema": {"type": "string"}, "examples": examples.YAML_EXAMPLES}},
    }
}


def _no_workloads(result: ConversionResult) -> InputError:
    if result.skipped:
        why = "; ".join(f"document {s.document}: {s.reason}" for s in result.skipped[:5])
        return InputError(f"no workload to predict for ({why})", source="body")
    return InputError("no Kubernetes object in the YAML", source="body")



async def _convert(text: str, limits: Any) -> ConversionResult:
    result = await run(len(text) > INLINE_YAML_BYTES, requests_from_yaml, text, "body", limits)
    if not result.requests:
        raise _no_workloads(result)
    return result


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


async def predict_from_yaml(http: Request) -> Response:
    # A `LeanRoute`: the body, limits and predictor are read here rather than by dependencies, in the
    # order the dependencies had (media type and body, then readiness), and the answer is serialised
    # once, straight to bytes, as FastAPI's response_model path does (exclude_none) minus validating
    # our own object again.
    text = await read_yaml_text(http)
    service = http.app.state.service
    batcher = service.require_batcher()
    result = await _convert(text, service.yaml_limits)
    # the misses are computed with those of the bodies that arrived alongside (app.serving.batching)
    preds = await with_options(batcher.predict_many, service, predict_options(http))(result.requests, "body")
    http.app.state.metrics.predicted(preds)  # back on the event loop's thread (app.api.metrics)
    body = answer(preds, result)
    return Response(body.__pydantic_serializer__.to_json(body, exclude_none=True), media_type="application/json",
                    headers={"X-Skipped-Documents": str(len(result.skipped))})


router.add_api_route(
    "/predict/from-yaml",
    predict_from_yaml,
    methods=["POST"],
    route_class_override=LeanRoute,
    # for the docs only (a LeanRoute's handler serialises its own answer, as declared here)
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


def answer(preds: list[Prediction], result: ConversionResult) -> Prediction | MultiPrediction:
    """The body of a /predict/from-yaml answer: the Prediction for one workload, a MultiPrediction for several."""
    if len(preds) == 1:
        return preds[0]
    return MultiPrediction(
        predictions=preds, skipped=result.skipped, pred_power_w_total=sum(p.pred_power_w_total for p in preds)
    )
