"""Liveness, readiness and the model card."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import PredictorDep, ServiceDep
from app.api.errors import NOT_READY
from app.api.models import EncoderInfo, Health, ModelCard, Readiness

router = APIRouter()


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
