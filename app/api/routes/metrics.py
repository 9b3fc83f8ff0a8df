"""`GET /metrics`: the API's Prometheus metrics (app.api.metrics), for a ServiceMonitor to scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.metrics import CONTENT_TYPE

router = APIRouter()


@router.get(
    "/metrics",
    tags=["service"],
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"description": "The metrics.", "content": {CONTENT_TYPE.split(";")[0]: {"schema": {
        "type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    # async on purpose: the counters are written on the event loop's thread, and read here on it too
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE)
