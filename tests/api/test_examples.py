"""The response examples in the OpenAPI document are what the shipped model answers to the request examples.

The answers are taken from the running app on the shipped artifacts (artifacts/), over its HTTP
interface, and compared with the generated file and with the OpenAPI document; the generating
command is run too, and must reproduce the committed file byte for byte.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api import examples
from app.api.app import create_app
from app.core.settings import DEFAULT_ARTIFACTS, Settings
from tests.conftest import REPO

SHIPPED = Settings(encoder_path=DEFAULT_ARTIFACTS / "encoder.npz",
                   model_path=DEFAULT_ARTIFACTS / "knn_energy.npz")


@pytest.fixture(scope="module")
def shipped() -> Iterator[TestClient]:
    with TestClient(create_app(SHIPPED, background=False)) as c:
        yield c


def answers(client: TestClient) -> dict[str, Any]:
    def yaml(text: str) -> Any:
        r = client.post("/predict/from-yaml", content=text, headers={"Content-Type": "text/plain"})
        assert r.status_code == 200, r.text
        return r.json()

    r = client.post("/predict", json=examples.PREDICT_CONTAINERS)
    assert r.status_code == 200, r.text
    return {"predict_containers": r.json(), "yaml_one": yaml(examples.YAML_ONE), "yaml_many": yaml(examples.YAML_MANY)}


def test_the_generated_file_holds_the_shipped_models_answers(shipped: TestClient) -> None:
    real = answers(shipped)
    stored = json.loads(examples.GENERATED_PATH.read_text())
    assert stored.pop("model_version") == shipped.get("/readyz").json()["model_version"]
    assert stored == real
    assert real["predict_containers"] == examples.PREDICT_RESPONSE_EXAMPLE
    assert real["yaml_one"] == examples.PREDICTION_EXAMPLE
    assert real["yaml_many"] == examples.MULTI_PREDICTION_EXAMPLE
    assert len(real["yaml_many"]["predictions"]) == 2 and real["yaml_many"]["skipped"]


def test_the_openapi_document_shows_them(shipped: TestClient) -> None:
    real = answers(shipped)
    paths = shipped.get("/openapi.json").json()["paths"]
    ok = paths["/predict"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["example"] == real["predict_containers"]
    ok = paths["/predict/from-yaml"]["post"]["responses"]["200"]["content"]["application/json"]["examples"]
    assert ok["one"]["value"] == real["yaml_one"]
    assert ok["many"]["value"] == real["yaml_many"]


def test_the_command_reproduces_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "examples.json"
    run = subprocess.run([sys.executable, "-m", "app", "examples", "--encoder", str(SHIPPED.encoder_path),
                          "--model", str(SHIPPED.model_path), "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert out.read_text() == examples.GENERATED_PATH.read_text(), "run `python -m app examples` and commit the file"
