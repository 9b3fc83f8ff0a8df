"""`POST /infer/from-yaml` and `POST /predict/from-yaml`: Kubernetes YAML in, requests or predictions out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response

from app.api import examples
from app.api.body import LeanRoute
from app.api.deps import ServiceDep, YamlTextDep, read_yaml_text
from app.api.errors import INFER_ERRORS, YAML_ERRORS
from app.api.limits import MAX_YAML_OBJECTS, too_many_objects
from app.api.routes.offload import run
from app.api.routes.options import PREDICT_QUERY_PARAMETERS, predict_options, with_options
from app.api.service import ServiceState
from app.core.schema import ConversionResult, MultiPrediction, Prediction
from app.workloads.convert import LIST_KINDS, nothing_to_predict, requests_from_objects
from app.workloads.yamlload import YamlLimits, load_documents

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


def count_objects(docs: list[Any]) -> int:
    """Kubernetes objects in parsed documents, as the conversion walks them: a `kind: List` counts its
    items, an empty document (a trailing `---`) nothing."""
    count = 0
    for doc in docs:
        if doc is None:
            continue
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        items = doc.get("items") if isinstance(kind, str) and kind in LIST_KINDS else None
        count += len(items) if isinstance(items, list) else 1
    return count


def convert_yaml(text: str, limits: YamlLimits) -> ConversionResult:
    """Parse, count, convert: a body over MAX_YAML_OBJECTS is refused before any object is converted
    (conversion and prediction cost more than parsing, which MAX_BODY_BYTES and `limits` bound)."""
    docs = list(load_documents(text, "body", limits))
    count = count_objects(docs)
    if count > MAX_YAML_OBJECTS:
        raise too_many_objects(count)
    return requests_from_objects(docs, "body")


async def _convert(text: str, service: ServiceState) -> ConversionResult:
    # a large body is parsed in the thread pool, one at a time (`yaml_limiter`), so the event loop keeps its turns
    result = await run(len(text) > INLINE_YAML_BYTES, convert_yaml, text, service.yaml_limits,
                       limiter=service.yaml_limiter)
    if not result.requests:
        raise nothing_to_predict(result)
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
async def infer_from_yaml(text: YamlTextDep, service: ServiceDep) -> ConversionResult:
    return await _convert(text, service)


async def predict_from_yaml(http: Request) -> Response:
    # A `LeanRoute`: the body, limits and predictor are read here rather than by dependencies, in the
    # order the dependencies had (media type and body, then readiness), and the answer is serialised
    # once, straight to bytes, as FastAPI's response_model path does (exclude_none) minus validating
    # our own object again.
    text = await read_yaml_text(http)
    service = http.app.state.service
    batcher = service.require_batcher()
    result = await _convert(text, service)
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
