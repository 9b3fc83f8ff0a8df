"""Hostile input found by hand and by schemathesis: every one a 4xx naming the field, never a 500.

Each test here failed before its fix (a 500 from an unhashable `kind`, a 500 from a 5,000-digit
integer, a 200 with `null` energies for `?hours=1e308`, a boolean taken as a number, a CronJob
without a schedule refused although the schema allows it). In process (TestClient), like
test_bad_input.py; the same requests against the real server are in test_server_fuzz.py.
"""

from __future__ import annotations

import json
import math

import pytest
from fastapi.testclient import TestClient

from app.ml.energy import J_PER_KWH, MAX_GRID_GCO2_PER_KWH, MAX_HOURS
from app.workloads import yamlload
from tests.api.test_bad_input import GOOD, post_json, post_yaml

WORKLOAD = """\
apiVersion: {api}
kind: {kind}
metadata: {meta}
spec:
  replicas: {replicas}
  template:
    spec:
      containers: [{{name: web, image: {image}, resources: {{requests: {{cpu: {cpu}}}}}}}]
"""
FIELDS = {"api": "apps/v1", "kind": "Deployment", "meta": "{name: web, namespace: shop}", "replicas": "2",
          "image": "nginx", "cpu": "100m"}
LONG = "1" * 5000  # past Python's 4300-digit limit for int(str): int() raises ValueError


def workload(**change: str) -> str:
    return WORKLOAD.format(**{**FIELDS, **change})


def test_the_template_is_valid(client: TestClient) -> None:
    assert client.post("/infer/from-yaml", content=workload(), headers={"Content-Type": "text/plain"}).status_code \
        == 200


# -- wrong types in YAML: a TypeError (unhashable) or a silent str() before -----------------------------
@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"kind": "[Deployment]"}, "document 1: kind: expected a string, got list"),
        ({"kind": "{a: 1}"}, "document 1: kind: expected a string, got dict"),
        ({"api": "[apps/v1]"}, "document 1: apiVersion: expected a string, got list"),
        ({"meta": "{name: [web]}"}, "document 1: metadata.name: expected a string, got list"),
        ({"meta": "{name: web, namespace: {a: 1}}"}, "document 1: metadata.namespace: expected a string, got dict"),
        ({"replicas": "[2]"}, "document 1 (Deployment shop/web): spec.replicas: expected a non-negative integer"),
        ({"image": "[nginx]"},
         "document 1 (Deployment shop/web): spec.template.spec.containers[0].image: expected a string, got list"),
    ],
)
@pytest.mark.parametrize("path", ["/infer/from-yaml", "/predict/from-yaml"])
def test_wrong_types_in_yaml_name_the_field(client: TestClient, path: str, change: dict[str, str],
                                            where: str) -> None:
    status, detail = post_yaml(client, workload(**change), path)
    assert status == 422
    assert detail.startswith(f"body: {where}")


@pytest.mark.parametrize("text", ["kind: [List]\nitems: []\n", "kind: List\nitems: [{kind: {a: 1}}]\n",
                                  "kind: Service\nmetadata: {name: [x]}\n---\n" + workload()])
def test_wrong_types_in_lists_and_skipped_documents(client: TestClient, text: str) -> None:
    r = client.post("/infer/from-yaml", content=text, headers={"Content-Type": "text/plain"})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["detail"].startswith("body: document 1: kind: expected a string")
    else:  # the Service is skipped; its name (a list) is not one, so it is left out
        assert r.json()["skipped"] == [{"document": 1, "kind": "Service", "reason": "Service is not a workload"}]


def test_labels_and_command_must_be_scalars(client: TestClient) -> None:
    text = workload().replace("metadata: {name: web, namespace: shop}",
                              "metadata: {name: web, namespace: shop, labels: {team: [a, b]}}")
    status, detail = post_yaml(client, text, "/infer/from-yaml")
    assert status == 422 and detail.startswith("body: document 1 (Deployment shop/web): metadata.labels.team: ")
    # a scalar label written unquoted (`version: 1.2`) is still read as its text
    text = workload().replace("metadata: {name: web, namespace: shop}",
                              "metadata: {name: web, namespace: shop, labels: {version: 1.2}}")
    r = client.post("/infer/from-yaml", content=text, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["requests"][0]["labels"] == {"version": "1.2"}


# -- integers past Python's 4300-digit conversion limit: ValueError → 500 before ----------------------------
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"workload_kind":"Pod","workload_name":"p","replicas":%s,"containers":[{"name":"c"}]}', "body.replicas"),
        ('{"workload_kind":"Pod","workload_name":"p","containers":[{"name":"c","req_cpu_mcpu":%s}]}',
         "body.containers.0.req_cpu_mcpu"),
        ('{"workload_kind":"Pod","workload_name":"p","labels":{"a":%s},"containers":[{"name":"c"}]}',
         "body.labels.a"),
        ('{"workload_kind":"Pod","workload_name":"p","pod_spec":{"containers":[{"name":"c","resources":'
         '{"requests":{"cpu":%s}}}]}}', "body: pod_spec.containers[0].resources.requests.cpu"),
    ],
)
def test_json_integer_of_5000_digits(client: TestClient, template: str, field: str) -> None:
    status, detail = _post_query(client, template % LONG, "")
    assert status == 422
    assert detail.startswith(f"{field}: <integer of 5000 digits> is out of range")


@pytest.mark.skipif(not hasattr(yamlload, "MAX_NUMBER_CHARS"),
                    reason="needs the event-stream YAML loader (branch h-yaml), which refuses over-long integers")
@pytest.mark.parametrize("change", [{"replicas": LONG}, {"cpu": LONG}])
def test_yaml_integer_of_5000_digits(client: TestClient, change: dict[str, str]) -> None:
    status, detail = post_yaml(client, workload(**change))
    assert status == 422
    assert detail.startswith("body: document 1: ")
    assert ("line 5" if "replicas" in change else "line 8") in detail


# -- the horizon: infinity (written as null) for a huge but finite ?hours before ---------------------------
@pytest.mark.parametrize(
    ("query", "field"),
    [("hours=1e308", "hours"), ("hours=87600.001", "hours"), ("hours=nan", "hours"), ("hours=-0.5", "hours"),
     ("hours=1&grid_gco2_per_kwh=1e300", "grid_gco2_per_kwh"), ("hours=1&grid_gco2_per_kwh=inf", "grid_gco2_per_kwh")],
)
def test_horizon_out_of_bounds_is_422(client: TestClient, query: str, field: str) -> None:
    status, detail = _post_query(client, GOOD, query)
    assert status == 422
    assert detail.startswith(f"query: {field}: must be a number from 0 to ")


def _post_query(client: TestClient, body: object, query: str) -> tuple[int, str]:
    """POST /predict?query with `body` (a JSON text, or an object to encode); status and detail."""
    content = body if isinstance(body, str) else json.dumps(body)
    r = client.post(f"/predict?{query}", content=content, headers={"Content-Type": "application/json"})
    return r.status_code, r.json().get("detail", "")


def test_largest_horizon_gives_finite_numbers(client: TestClient) -> None:
    """At the bounds, with the most replicas a request may have (2^53), every figure is a finite number,
    and equals the formula computed here."""
    body = {**GOOD, "replicas": 2**53}
    r = client.post(f"/predict?hours={MAX_HOURS}&grid_gco2_per_kwh={MAX_GRID_GCO2_PER_KWH}",
                    content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    p = r.json()
    joules = 2**53 * p["pred_avg_power_w"] * MAX_HOURS * 3600
    for name in ("pred_energy_j", "pred_energy_kwh", "pred_co2_g"):
        assert isinstance(p[name], float) and math.isfinite(p[name]), name
    assert p["pred_energy_j"] == pytest.approx(joules)
    assert p["pred_co2_g"] == pytest.approx(joules / J_PER_KWH * MAX_GRID_GCO2_PER_KWH)


def test_openapi_documents_the_bounds(client: TestClient) -> None:
    params = {p["name"]: p["schema"] for p in client.get("/openapi.json").json()["paths"]["/predict"]["post"]
              ["parameters"]}
    assert params["hours"] == {"type": "number", "minimum": 0, "maximum": MAX_HOURS}
    assert params["grid_gco2_per_kwh"] == {"type": "number", "minimum": 0, "maximum": MAX_GRID_GCO2_PER_KWH}


def test_energy_that_overflows_is_refused() -> None:
    """The domain computation refuses a non-finite result itself, whatever the caller checked."""
    from app.core.errors import InputError
    from app.core.schema import InferenceRequest
    from app.ml.energy import horizon_energy

    req = InferenceRequest(workload_kind="Pod", workload_name="p", containers=[{"name": "c"}], replicas=2**53)
    with pytest.raises(InputError, match="beyond the range of a float") as info:
        horizon_energy(req, 1e300, MAX_HOURS)
    assert info.value.field == "hours"


# -- booleans are not numbers; strings are not numbers ----------------------------------------------------
@pytest.mark.parametrize(
    ("change", "field"),
    [({"effective_lim_mem_mib": False}, "body.effective_lim_mem_mib"), ({"replicas": True}, "body.replicas"),
     ({"gpu_count": 1.0}, "body.gpu_count"), ({"effective_req_cpu_mcpu": "100"}, "body.effective_req_cpu_mcpu"),
     ({"containers": [{"name": "c", "req_cpu_mcpu": True}]}, "body.containers.0.req_cpu_mcpu"),
     ({"containers": [{"name": "c", "sidecar": 1}]}, "body.containers.0.sidecar")],
)
def test_numbers_and_booleans_are_strict(client: TestClient, change: dict, field: str) -> None:
    status, detail = post_json(client, {**GOOD, **change})
    assert status == 422
    assert detail.startswith(f"{field}: Input should be a valid ")


def test_integers_still_pass_as_numbers(client: TestClient) -> None:
    status, _ = _post_query(client, {**GOOD, "containers": [{"name": "c", "req_cpu_mcpu": 100, "req_mem_mib": 64.5}],
                                      "effective_req_cpu_mcpu": 100}, "")
    assert status == 200


# -- a CronJob without a schedule: the schema allows it, so the energy is answered -------------------------
@pytest.mark.parametrize("hours", [0, 24])
def test_cronjob_without_schedule_runs_the_whole_horizon(client: TestClient, hours: int) -> None:
    body = {"workload_kind": "CronJob", "workload_name": "nightly", "containers": [{"name": "c"}], "schedule": None}
    r = client.post(f"/predict?hours={hours}", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["hours"] == hours
    assert p["pred_energy_j"] == pytest.approx(p["replicas"] * p["pred_avg_power_w"] * hours * 3600)


# -- YAML the reader refuses as it starts (a control character): a 500 before, found by schemathesis -------
@pytest.mark.parametrize("path", ["/infer/from-yaml", "/predict/from-yaml"])
def test_yaml_control_character(client: TestClient, path: str) -> None:
    status, detail = post_yaml(client, "\x91*\x03".encode(), path)
    assert status == 422
    assert detail.startswith("body: document 1: invalid YAML: ")


# -- quantities: the strict grammar of app/workloads/quantities.py, seen through the API ------------------
@pytest.mark.parametrize("cpu", ["1e999999999", "'1e999999999'", "-1", "1.5.5", "9" * 70, "1e61"])
def test_hostile_quantities_name_the_field(client: TestClient, cpu: str) -> None:
    status, detail = post_yaml(client, workload(cpu=cpu))
    assert status == 422
    assert detail.startswith("body: document 1 (Deployment shop/web): "
                             "spec.template.spec.containers[0].resources.requests.cpu: invalid quantity")
    assert len(detail) < 300  # one short line, whatever was sent


def test_hostile_quantity_in_pod_spec_form(client: TestClient) -> None:
    body = {"workload_kind": "Pod", "workload_name": "p",
            "pod_spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "1e999999999"}}}]}}
    status, detail = _post_query(client, body, "")
    assert status == 422
    assert detail.startswith("body: pod_spec.containers[0].resources.limits.memory: invalid quantity '1e999999999'")


@pytest.mark.parametrize("hours", [0.0, 24.0])
def test_cronjob_without_schedule_with_a_known_run_duration(hours: float) -> None:
    """The served model knows run durations (the tiny test model does not): with one, a CronJob without a
    schedule was refused (`cannot read the CronJob schedule None`); it now runs the whole horizon."""
    from app.core.schema import InferenceRequest
    from app.ml.energy import horizon_energy

    req = InferenceRequest(workload_kind="CronJob", workload_name="nightly", containers=[{"name": "c"}], replicas=3)
    h = horizon_energy(req, 2.0, hours, run_duration_s=600.0, pue=1.5)
    assert (h.hours, h.energy_j) == (hours, pytest.approx(3 * 2.0 * hours * 3600 * 1.5))
