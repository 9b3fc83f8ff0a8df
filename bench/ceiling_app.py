"""The ceiling for /predict: a bare FastAPI app that parses the same JSON into the same pydantic model
and returns a constant. Served by the same uvicorn settings as the real API, it measures what the
framework and the server cost on this machine, so `bench_api.py` can report /predict as a share of it.

`/predict/from-yaml` is the ceiling for the YAML endpoint: it reads the body as text, parses every
document with PyYAML's C loader (`yaml.CSafeLoader`, no limits, no conversion) and returns a constant —
what the fastest unguarded YAML endpoint costs, against which the hardened one is judged.

A second route, `/predict-lean`, reads the body the way the real /predict does
(`app.api.body.LeanJSONRoute`: pydantic-core validates the raw bytes, no dependency is solved). The
benchmark reports /predict against both: the plain FastAPI endpoint is the ceiling the target is
defined on; the lean one shows how much of the gap is prediction work rather than framework work.

Like the real app it freezes the objects alive after start-up out of the garbage collector's
generations (`gc.freeze()`), so both pay the same collector costs, and it takes the same TELEMETRY
setting (`app.api.telemetry`), so both make FastAPI's per-request OpenTelemetry check or neither does.
It does not get the API's Prometheus metrics (`app.api.metrics`: a pure ASGI middleware plus a counter per
prediction): they are the service's own work, like the body limit, so the ratio includes their cost
(about 1.7 µs of CPU per /predict request, measured in process with and without them).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import yaml
from fastapi import FastAPI, Request, Response

from app.api.body import LeanJSONRoute
from app.api.telemetry import telemetry_config
from app.core.schema import InferenceRequest
from app.core.settings import get_settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    gc.collect()
    gc.freeze()
    yield


# the API's TELEMETRY setting too: by default neither pays FastAPI's per-request OpenTelemetry check
# unless a provider is configured (app.api.telemetry)
app = FastAPI(title="ceiling", lifespan=lifespan, telemetry=telemetry_config(get_settings().telemetry))


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/predict")
async def predict(request: InferenceRequest) -> dict[str, float]:
    return {"pred_avg_power_w": 1.0}


async def predict_lean(request: InferenceRequest, http: Request) -> Response:
    return Response(b'{"pred_avg_power_w":1.0}', media_type="application/json")


app.router.add_api_route("/predict-lean", predict_lean, methods=["POST"], route_class_override=LeanJSONRoute)


@app.post("/predict/from-yaml")
async def predict_from_yaml(http: Request) -> Response:
    for _ in yaml.load_all((await http.body()).decode(), Loader=yaml.CSafeLoader):
        pass
    return Response(b'{"pred_avg_power_w":1.0}', media_type="application/json")
