"""`POST /predict`: one InferenceRequest as JSON, the hot path."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from app.api import examples
from app.api.body import LeanJSONRoute
from app.api.errors import PREDICT_ERRORS
from app.api.routes.options import PREDICT_QUERY_PARAMETERS, predict_options, with_options
from app.core.schema import InferenceRequest, Prediction

router = APIRouter()


async def predict(
    request: Annotated[InferenceRequest, Body(openapi_examples=examples.PREDICT_EXAMPLES)],
    http: Request,
) -> Response:
    # The hot path: `LeanJSONRoute` checks the Content-Type and validates the body from the raw
    # bytes; readiness is checked here rather than by a dependency (see app.api.body).
    service = http.app.state.service
    batcher = service.require_batcher()
    # a miss is computed with the misses of the requests that arrived alongside (app.serving.batching)
    prediction = await with_options(batcher.predict, service, predict_options(http))(request, "body")
    http.app.state.metrics.predicted((prediction,))  # back on the event loop's thread (app.api.metrics)
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
            "content": {"application/json": {"example": examples.PREDICT_RESPONSE_EXAMPLE}},
        },
        **PREDICT_ERRORS,
    },
)
