"""A container over the schema's bounds (image, name, number of args) is a 4xx naming its field on every door.

Each of these was a 500 (audit of 2026-12-01): `ContainerSpec`'s own validation ran outside the converter's
error handling, so pydantic's `ValidationError` reached the server. In process (TestClient), like
test_hostile_input.py; `tests/workloads/test_convert.py` has the converter's messages for each bound.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.api.reviews import review

CONTAINERS = {
    "image": ({"name": "a", "image": "i" * 1025}, "containers[0].image", "at most 1024 characters"),
    "name": ({"name": "n" * 254, "image": "nginx"}, "containers[0].name", "at most 253 characters"),
    "command": ({"name": "a", "image": "nginx", "command": ["x"] * 257}, "containers[0].command", "at most 256 items"),
    "cpu": ({"name": "a", "image": "nginx", "resources": {"requests": {"cpu": "1Ei"}}},
            "containers[0].resources.requests.cpu", "out of range"),
}


def pod(container: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": [container]}}


@pytest.mark.parametrize("bound", list(CONTAINERS))
@pytest.mark.parametrize("path", ["/infer/from-yaml", "/predict/from-yaml"])
def test_yaml_endpoints(client: TestClient, path: str, bound: str) -> None:
    container, field, message = CONTAINERS[bound]
    r = client.post(path, content=yaml.safe_dump(pod(container)), headers={"Content-Type": "text/plain"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert f"document 1 (Pod shop/p): spec.{field}: " in detail and message in detail


@pytest.mark.parametrize("bound", list(CONTAINERS))
def test_predict_with_a_pod_spec(client: TestClient, bound: str) -> None:
    container, field, message = CONTAINERS[bound]
    body = {"workload_kind": "Pod", "workload_name": "p", "pod_spec": {"containers": [container]}}
    r = client.post("/predict", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert f"pod_spec.{field}: " in r.json()["detail"] and message in r.json()["detail"]


@pytest.mark.parametrize("bound", list(CONTAINERS))
@pytest.mark.parametrize("path", ["/admission/mutate", "/admission/validate"])
def test_admission_review(client: TestClient, path: str, bound: str) -> None:
    """A review of an object the converter refuses is answered (allowed, with the reason), never a 500."""
    container, field, _ = CONTAINERS[bound]
    r = client.post(path, content=json.dumps(review(pod(container))), headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text
    assert field in r.text
