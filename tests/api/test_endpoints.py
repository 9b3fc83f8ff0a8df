"""Every endpoint's happy path, against values worked out from the manifests and the label formula."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.schema import STEP_SECONDS
from tests.api.conftest import DEPLOYMENT_MULTI_W, POD_GUARANTEED_W
from tests.conftest import EXAMPLES

YAML = {"Content-Type": "text/plain"}


def yaml_of(name: str) -> str:
    return (EXAMPLES / name).read_text()


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_names_the_loaded_model(client: TestClient, tiny_artifacts: tuple[Path, Path]) -> None:
    card = json.loads(tiny_artifacts[1].with_name("knn_energy.card.json").read_text())
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["status"] == "ready" and r.json()["model_version"] == card["model_version"]


def test_model_card_matches_the_card_file(client: TestClient, tiny_artifacts: tuple[Path, Path]) -> None:
    card = json.loads(tiny_artifacts[1].with_name("knn_energy.card.json").read_text())
    got = client.get("/model").json()
    assert got["target"] == card["target"] == "avg_power_w"
    assert got["unit"] == card["unit"]
    assert got["model_version"] == card["model_version"]
    assert got["versions"] == card["versions"]
    for who in ("model", "baseline_mean"):
        assert got["cv"]["mean"][who] == pytest.approx(card["cv"]["mean"][who], nan_ok=True)
    assert got["rows"] == card["rows"]
    assert got["encoder"]["sbert"] is False and got["encoder"]["features"] == card["feature_dim"]


def test_predict_from_yaml_one_workload_gives_one_object(client: TestClient) -> None:
    r = client.post("/predict/from-yaml", content=yaml_of("pod-guaranteed.yaml"), headers=YAML)
    assert r.status_code == 200, r.text
    p = r.json()
    assert "predictions" not in p
    assert (p["workload_kind"], p["namespace"], p["workload_name"]) == ("Pod", "default", "nginx-kata")
    assert p["replicas"] == 1
    assert p["pred_avg_power_w"] == pytest.approx(POD_GUARANTEED_W, rel=1e-9)
    assert p["pred_energy_step_j"] == pytest.approx(POD_GUARANTEED_W * STEP_SECONDS, rel=1e-9)
    assert p["pred_power_w_total"] == pytest.approx(POD_GUARANTEED_W, rel=1e-9)
    assert r.headers["X-Skipped-Documents"] == "0"
    assert None not in p.values()  # None fields are left out of responses


def test_predict_from_yaml_several_workloads_gives_all_of_them(client: TestClient) -> None:
    r = client.post("/predict/from-yaml", content=yaml_of("list-mixed.yaml"), headers={"Content-Type": "text/yaml"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(p["workload_kind"], p["workload_name"]) for p in body["predictions"]] == [
        ("StatefulSet", "redis"), ("DaemonSet", "fluent-bit")]
    assert body["skipped"] == [
        {"document": 3, "kind": "Service", "name": "redis", "reason": "Service is not a workload"}]
    redis, fluent = body["predictions"]
    assert redis["replicas"] == 3
    assert redis["pred_power_w_total"] == pytest.approx(3 * redis["pred_avg_power_w"])
    assert body["pred_power_w_total"] == pytest.approx(redis["pred_power_w_total"] + fluent["pred_power_w_total"])
    assert r.headers["X-Skipped-Documents"] == "1"


def test_infer_from_yaml_returns_requests_and_skips(client: TestClient) -> None:
    text = yaml_of("deployment-multi.yaml") + "---\n" + yaml_of("list-mixed.yaml")
    r = client.post("/infer/from-yaml", content=text, headers={"Content-Type": "application/yaml; charset=utf-8"})
    assert r.status_code == 200, r.text
    body = r.json()
    names = [(q["workload_kind"], q["workload_name"]) for q in body["requests"]]
    assert names == [("Deployment", "analytics-api"), ("StatefulSet", "redis"), ("DaemonSet", "fluent-bit")]
    dep = body["requests"][0]
    assert dep["effective_req_cpu_mcpu"] == 4000 and dep["replicas"] == 3
    assert dep["effective_req_mem_mib"] == pytest.approx(90e9 / 2**20 + 64 + 128)
    assert [s["kind"] for s in body["skipped"]] == ["Service"]


def test_predict_json_containers_form(client: TestClient) -> None:
    # the request the converter made from deployment-multi.yaml, posted as JSON: same spec, same label
    req = client.post("/infer/from-yaml", content=yaml_of("deployment-multi.yaml"), headers=YAML).json()["requests"][0]
    r = client.post("/predict", json=req)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["pred_avg_power_w"] == pytest.approx(DEPLOYMENT_MULTI_W, rel=1e-9)
    assert p["pred_power_w_total"] == pytest.approx(3 * DEPLOYMENT_MULTI_W, rel=1e-9)
    assert p["replicas"] == 3
    assert len(p["spec_hash"]) == 16


def test_predict_json_pod_spec_form_matches_the_manifest(client: TestClient) -> None:
    body = {
        "workload_kind": "Pod",
        "workload_name": "nginx-kata",
        "pod_spec": {
            "runtimeClassName": "kata",
            "overhead": {"cpu": "250m", "memory": "160Mi"},
            "containers": [{"name": "nginx", "image": "nginx:1.27", "resources": {
                "requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}}],
        },
    }
    r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    from_yaml = client.post("/predict/from-yaml", content=yaml_of("pod-guaranteed.yaml"), headers=YAML).json()
    assert r.json()["spec_hash"] == from_yaml["spec_hash"]
    assert r.json()["pred_avg_power_w"] == pytest.approx(POD_GUARANTEED_W, rel=1e-9)


def test_spec_seen_before_is_served_from_the_cache(client: TestClient) -> None:
    body = json.loads((EXAMPLES / "request.json").read_text())
    first = client.post("/predict", json=body)
    before = client.get("/model").json()["cache"]["size"]
    again = client.post("/predict", json={**body, "workload_name": "another-name"})  # name is not in the hash
    assert again.status_code == first.status_code == 200
    assert client.get("/model").json()["cache"]["size"] == before
    assert again.json()["workload_name"] == "another-name"
    assert again.json()["pred_avg_power_w"] == first.json()["pred_avg_power_w"]
