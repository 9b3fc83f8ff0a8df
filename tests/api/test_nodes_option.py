"""`?nodes=` on the predict endpoints: a DaemonSet's replicas, generated from the one options table.

Why: a DaemonSet runs one pod per node, which no manifest says; without the count its total is one
pod's. The node count must scale the all-replica fields, not the per-pod power, leave other kinds
alone, and a bad value must be a 422 naming `nodes` and the range it must be in, which the OpenAPI
parameter states too (10^15 was refused by a hidden 15-digit rule, with a message that did not say so).
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from app.api.routes.options import MAX_NODES

DAEMONSET = {"namespace": "ops", "workload_kind": "DaemonSet", "workload_name": "agent",
             "containers": [{"name": "agent", "image": "fluent/fluent-bit:3.1", "req_cpu_mcpu": 100,
                             "req_mem_mib": 64}]}
YAML = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: ops}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: "fluent/fluent-bit:3.1", resources: {requests: {cpu: 100m, memory: 64Mi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ops}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", resources: {requests: {cpu: 250m, memory: 128Mi}}}]
"""


def test_nodes_sets_daemonset_replicas(client: TestClient) -> None:
    one = client.post("/predict", json=DAEMONSET).json()
    many = client.post("/predict?nodes=12&hours=24", json=DAEMONSET).json()
    assert one["replicas"] == 1 and many["replicas"] == 12
    assert many["pred_power_w_per_pod"] == one["pred_power_w_per_pod"] == one["pred_avg_power_w"]
    assert math.isclose(many["pred_power_w_all_replicas"], 12 * one["pred_power_w_per_pod"])
    assert math.isclose(many["pred_energy_j_all_replicas"], 12 * one["pred_power_w_per_pod"] * 24 * 3600)
    assert many["hours_requested"] == 24 and many["hours_basis"] == "horizon"


def test_nodes_on_yaml_leaves_other_kinds_alone(client: TestClient) -> None:
    base = client.post("/predict/from-yaml", content=YAML, headers={"content-type": "application/yaml"}).json()
    five = client.post("/predict/from-yaml?nodes=5", content=YAML,
                       headers={"content-type": "application/yaml"}).json()
    by = {p["workload_kind"]: p for p in five["predictions"]}
    before = {p["workload_kind"]: p for p in base["predictions"]}
    assert by["DaemonSet"]["replicas"] == 5 and by["Deployment"]["replicas"] == 2
    assert by["Deployment"] == before["Deployment"]
    assert math.isclose(five["pred_power_w_total"], by["Deployment"]["pred_power_w_total"]
                        + 5 * by["DaemonSet"]["pred_power_w_per_pod"])


@pytest.mark.parametrize("raw", ["-1", "1.5", "1e3", "abc", "", "²", "9" * 16, str(MAX_NODES + 1), "1" + "0" * 15,
                                 "0" * 10 + str(MAX_NODES + 1)])
def test_bad_nodes_is_a_422_naming_it_and_its_range(client: TestClient, raw: str) -> None:
    r = client.post(f"/predict?nodes={raw}", json=DAEMONSET)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == f"query: nodes: expected a whole number from 0 to {MAX_NODES}, got {raw!r}"


def test_nodes_up_to_the_maximum_and_not_one_more(client: TestClient) -> None:
    for raw, replicas in ((str(MAX_NODES), MAX_NODES), ("007", 7), ("0", 0)):
        r = client.post(f"/predict?nodes={raw}", json=DAEMONSET)
        assert r.status_code == 200 and r.json()["replicas"] == replicas, r.text
    r = client.post(f"/predict?nodes={MAX_NODES + 1}", json=DAEMONSET)
    assert r.status_code == 422 and f"from 0 to {MAX_NODES}" in r.json()["detail"], r.text


def test_openapi_documents_nodes_and_its_maximum(client: TestClient) -> None:
    params = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["parameters"]
    nodes = next(p for p in params if p["name"] == "nodes")
    assert nodes["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_NODES} and nodes["in"] == "query"
    assert f"At most {MAX_NODES:,}" in nodes["description"]
