"""`/predict/from-yaml` is a `LeanRoute` that serialises its own answer: the bytes must be those FastAPI's
response-model path made (`Prediction | MultiPrediction`, exclude_none), computed here from the predictor
directly, for one and for several workloads, with and without query options."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from app.api.app import create_app
from app.api.routes.yaml import answer
from app.core.schema import MultiPrediction, Prediction
from app.workloads.convert import requests_from_yaml
from tests.api.conftest import settings_for
from tests.conftest import EXAMPLES, REPO

ANSWER = TypeAdapter(Prediction | MultiPrediction)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    artifacts = (REPO / "artifacts" / "encoder.npz", REPO / "artifacts" / "knn_energy.npz")
    with TestClient(create_app(settings_for(artifacts), background=False)) as c:
        yield c


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
@pytest.mark.parametrize("query", ["", "?hours=24&explain=true&grid_gco2_per_kwh=400"])
def test_answer_is_fastapis_response_model_serialisation(client: TestClient, example: str, query: str) -> None:
    text = (EXAMPLES / example).read_text()
    r = client.post("/predict/from-yaml" + query, content=text, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    predictor = client.app.state.service.require_predictor()  # type: ignore[attr-defined]
    result = requests_from_yaml(text, "body")
    options = {"hours": 24.0, "explain": True, "grid_gco2_per_kwh": 400.0} if query else {}
    want = answer(predictor.predict_many(result.requests, "body", **options), result)
    assert r.content == ANSWER.dump_json(ANSWER.validate_python(want), exclude_none=True)
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-skipped-documents"] == str(len(result.skipped))
