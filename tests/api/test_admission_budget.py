"""Namespace power budgets: the watch-backed caches (real `kubernetes` client against the loopback API server of
tests/collector/fake_apiserver.py) and `/admission/validate` on the app started with ADMISSION_BUDGETS=true.

Expected totals are worked out from the tiny model's label formula (`label_w`), the budgets are chosen
around them, and the numbers in the deny message are checked against those values.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.adapters.collector.config import connect
from app.adapters.namespaces import NamespacePower
from app.api.app import create_app
from app.core.kinds import parse_kinds
from app.serving.admission import BUDGET_WATTS, PREDICTED_WATTS_TOTAL, controlled
from tests.api.conftest import DEPLOYMENT_MULTI_W, settings_for
from tests.api.reviews import objects_in, patched, review
from tests.collector.conftest import wait_for
from tests.collector.fake_apiserver import FakeApiServer
from tests.conftest import EXAMPLES

(DEPLOYMENT,) = objects_in(EXAMPLES / "deployment-multi.yaml")  # namespace shop, 3 replicas
OWN_W = DEPLOYMENT_MULTI_W * DEPLOYMENT["spec"]["replicas"]
OTHERS_W = 10.0


def namespace(name: str, budget: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"kubernetes.io/metadata.name": name}}
    if budget is not None:
        meta["annotations"] = {BUDGET_WATTS: budget}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def annotated(kind: str, name: str, ns: str, watts: str | None, owner: str | None = None) -> dict[str, Any]:
    """A workload as the cluster holds it after the mutating webhook: only metadata matters to the tally."""
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if watts is not None:
        meta["annotations"] = {PREDICTED_WATTS_TOTAL: watts}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "uid": "u",
                                    "controller": True}]
    return {"apiVersion": "apps/v1" if kind != "Pod" else "v1", "kind": kind, "metadata": meta, "spec": {}}


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def power(api: FakeApiServer, tmp_path: Path) -> Iterator[NamespacePower]:
    cluster = connect(str(api.write_kubeconfig(tmp_path / "kubeconfig")), environ={})
    p = NamespacePower(cluster, budget_key=BUDGET_WATTS, total_key=PREDICTED_WATTS_TOTAL,
                       kinds=parse_kinds(["Deployment", "ReplicaSet", "Pod"]), controlled=controlled,
                       backoff_base=0.02, backoff_cap=0.2)
    yield p
    p.stop()


def test_the_cache_lists_then_follows_the_watch(api: FakeApiServer, power: NamespacePower) -> None:
    api.apply(namespace("shop", "500"))
    api.apply(namespace("free"))
    api.apply(annotated("Deployment", "web", "shop", "120.500"))
    api.apply(annotated("Deployment", "api", "shop", "30.000"))
    api.apply(annotated("Deployment", "legacy", "shop", None))  # admitted before the webhook: not counted
    api.apply(annotated("ReplicaSet", "web-5d8f", "shop", "120.500", owner="web"))  # its owner counts
    api.apply(annotated("Pod", "debug", "shop", "2.000"))
    api.apply(annotated("Deployment", "other", "tools", "999"))
    power.start()
    assert power.wait_synced(10)
    assert power.budget("shop") == "500" and power.budget("free") is None and power.budget("nowhere") is None
    assert power.others_w("shop", "Deployment/shop/new") == pytest.approx(152.5)
    assert power.others_w("shop", "Deployment/shop/web") == pytest.approx(32.0)  # the reviewed object left out
    assert power.others_w("tools", "") == pytest.approx(999)

    for kind in ("Namespace", "Deployment", "Pod"):
        api.wait_watching(kind)
    api.apply(namespace("shop", "250W"))
    api.apply(annotated("Deployment", "api", "shop", "40.000"))
    api.delete("Pod", "shop", "debug")
    api.delete("Deployment", "tools", "other")
    wait_for(lambda: power.budget("shop") == "250W", what="the new budget")
    wait_for(lambda: power.others_w("shop", "") == pytest.approx(160.5), what="the new total")
    wait_for(lambda: power.others_w("tools", "") == 0, what="the deletion")

    # history compacted and the stream dropped: the informer lists again and catches up
    api.compact()
    api.apply(namespace("shop", "300"))
    api.drop_watches()
    wait_for(lambda: power.budget("shop") == "300", what="the budget after a relist")
    assert len(api.list_requests("Namespace")) >= 2  # the first list and the relist after 410


def test_a_forbidden_resource_is_logged_and_the_rest_keeps_working(api: FakeApiServer, power: NamespacePower,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    api.apply(namespace("shop", "500"))
    api.forbid("Pod")
    power.start()
    wait_for(lambda: power.budget("shop") == "500", what="the budget")
    wait_for(lambda: any("forbids list on pods" in r.getMessage() for r in caplog.records), what="the 403 line")
    pods = power.workloads[-1]
    assert pods.error is not None and "get, list and watch on pods" in pods.error


@pytest.fixture
def client(api: FakeApiServer, tmp_path: Path, tiny_artifacts: tuple[Path, Path],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app as the webhook Deployment runs it: ADMISSION_BUDGETS=true, cluster from KUBECONFIG."""
    api.apply(annotated("Deployment", "batch-report", "shop", f"{OTHERS_W:.3f}"))
    monkeypatch.setenv("KUBECONFIG", str(api.write_kubeconfig(tmp_path / "kubeconfig")))
    with TestClient(create_app(settings_for(tiny_artifacts, admission_budgets=True), background=False)) as c:
        assert c.app.state.namespace_power.wait_synced(10)  # type: ignore[attr-defined]
        yield c


def set_budget(api: FakeApiServer, client: TestClient, budget: str | None) -> None:
    api.apply(namespace("shop", budget))
    power = client.app.state.namespace_power  # type: ignore[attr-defined]
    wait_for(lambda: power.budget("shop") == budget, what=f"budget {budget}")


def validate(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/admission/validate", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["response"]  # type: ignore[no-any-return]


def test_well_under_budget_is_allowed_quietly(api: FakeApiServer, client: TestClient) -> None:
    set_budget(api, client, f"{2 * (OTHERS_W + OWN_W):.3f}")
    body = review(DEPLOYMENT)
    assert validate(client, body) == {"uid": body["request"]["uid"], "allowed": True}


def test_near_the_budget_is_allowed_with_a_warning(api: FakeApiServer, client: TestClient) -> None:
    budget = (OTHERS_W + OWN_W) / 0.9
    set_budget(api, client, f"{budget / 1000:.6f}kW")
    out = validate(client, review(DEPLOYMENT))
    assert out["allowed"] is True
    (warning,) = out["warnings"]
    assert "to 90% of its power budget" in warning and f"{budget:.1f} W" in warning


def test_over_the_budget_is_denied_with_the_numbers(api: FakeApiServer, client: TestClient) -> None:
    budget = OTHERS_W + OWN_W - 5
    set_budget(api, client, f"{budget:.3f}")
    body = review(DEPLOYMENT)
    out = validate(client, body)
    assert out["uid"] == body["request"]["uid"] and out["allowed"] is False
    assert out["status"]["code"] == 403
    message = out["status"]["message"]
    for number in (OWN_W, DEPLOYMENT_MULTI_W, OTHERS_W, OTHERS_W + OWN_W, budget, 5.0):
        assert f"{number:.1f} W" in message, (number, message)
    assert "Deployment shop/analytics-api" in message and "× 3 pod(s)" in message
    assert validate(client, review(DEPLOYMENT, dry_run=True))["allowed"] is False  # dryRun is judged the same


def test_scaling_down_an_over_budget_workload_is_allowed(api: FakeApiServer, client: TestClient) -> None:
    set_budget(api, client, "1")
    smaller = copy.deepcopy(DEPLOYMENT)
    smaller["spec"]["replicas"] = 1
    out = validate(client, review(smaller, operation="UPDATE", old=DEPLOYMENT))
    assert out["allowed"] is True and "is over its power budget" in out["warnings"][0]
    bigger = copy.deepcopy(DEPLOYMENT)
    bigger["spec"]["replicas"] = 4
    assert validate(client, review(bigger, operation="UPDATE", old=DEPLOYMENT))["allowed"] is False


def test_the_reviewed_workload_is_not_counted_twice(api: FakeApiServer, client: TestClient) -> None:
    """On UPDATE the tally holds the object's own old total: it is left out of the rest of the namespace."""
    set_budget(api, client, f"{OWN_W + 1:.3f}")
    api.apply(annotated("Deployment", "analytics-api", "shop", f"{OWN_W:.3f}"))
    api.delete("Deployment", "shop", "batch-report")
    power = client.app.state.namespace_power  # type: ignore[attr-defined]
    wait_for(lambda: power.others_w("shop", "") == pytest.approx(OWN_W, abs=1e-3), what="the tally")
    grown = copy.deepcopy(DEPLOYMENT)
    grown["metadata"]["labels"] = {"tier": "gold"}  # same spec, same prediction
    out = validate(client, review(grown, operation="UPDATE", old=DEPLOYMENT))
    assert out["allowed"] is True and "warnings" in out  # at 100 % of budget minus 1 W: warned, not denied


def test_no_budget_or_an_unreadable_one_denies_nothing(api: FakeApiServer, client: TestClient) -> None:
    set_budget(api, client, None)
    assert "warnings" not in validate(client, review(DEPLOYMENT))
    set_budget(api, client, "lots")
    out = validate(client, review(DEPLOYMENT))
    assert out["allowed"] is True and "'lots' is not a power" in out["warnings"][0]


def test_objects_made_by_a_controller_are_not_judged_again(api: FakeApiServer, client: TestClient) -> None:
    set_budget(api, client, "1")
    rs = copy.deepcopy(DEPLOYMENT)
    rs["kind"] = "ReplicaSet"
    rs["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "analytics-api",
                                          "uid": "u", "controller": True}]
    body = review(rs)
    assert validate(client, body) == {"uid": body["request"]["uid"], "allowed": True}


def test_without_a_cluster_configuration_the_webhook_serves_without_budgets(
        tmp_path: Path, tiny_artifacts: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    with TestClient(create_app(settings_for(tiny_artifacts, admission_budgets=True), background=False)) as c:
        assert c.app.state.namespace_power is None  # type: ignore[attr-defined]
        assert validate(c, review(DEPLOYMENT))["allowed"] is True
    assert any("budgets are not enforced" in r.getMessage() and "missing-kubeconfig" in r.getMessage()
               for r in caplog.records)


def test_what_the_mutating_webhook_writes_is_what_the_tally_counts(api: FakeApiServer, client: TestClient) -> None:
    """mutate → the API server stores the patched object → the watch sees its annotation → the next one is judged."""
    set_budget(api, client, f"{OTHERS_W + 1.5 * OWN_W:.3f}")
    r = client.post("/admission/mutate", content=json.dumps(review(DEPLOYMENT)),
                    headers={"Content-Type": "application/json"})
    first = patched(DEPLOYMENT, r.json())
    assert validate(client, review(first))["allowed"] is True  # alone it fits
    api.apply(first)
    power = client.app.state.namespace_power  # type: ignore[attr-defined]
    wait_for(lambda: power.others_w("shop", "") == pytest.approx(OTHERS_W + OWN_W, abs=1e-3), what="the tally")
    second = copy.deepcopy(DEPLOYMENT)
    second["metadata"]["name"] = "analytics-api-2"
    out = validate(client, review(second))
    assert out["allowed"] is False and f"{OTHERS_W + OWN_W:.1f} W predicted for the rest" in out["status"]["message"]
