"""Template-change decisions and the state file, without any network."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from app.adapters.collector.backoff import Backoff
from app.adapters.collector.objects import WatchedObject, from_raw
from app.adapters.collector.state import TemplateState
from app.adapters.collector.tracker import Tracker
from app.core.errors import InputError
from app.core.schema import InferenceRequest
from app.workloads.convert import request_from_object
from tests.collector.manifests import deployment, statefulset


def obj(manifest: dict) -> WatchedObject:
    return from_raw(manifest, manifest["kind"])


def collect(emitted: list[InferenceRequest]):
    return emitted.append


def names(reqs: list[InferenceRequest]) -> list[str]:
    return [f"{r.workload_kind}/{r.workload_name}" for r in reqs]


def everything(_key: str) -> bool:
    return True


def test_from_raw_fills_kind_and_keeps_identity() -> None:
    manifest = deployment("web")
    del manifest["kind"]  # list items come without kind
    manifest["metadata"].update(resourceVersion="42", uid="u-1", ownerReferences=[
        {"kind": "Thing", "name": "t", "uid": "u-0", "controller": True}])
    o = from_raw(manifest, "Deployment")
    assert (o.kind, o.namespace, o.name, o.uid, o.resource_version, o.key) == (
        "Deployment", "shop", "web", "u-1", "42", "Deployment/shop/web")
    assert o.controller is not None and (o.controller.kind, o.controller.name) == ("Thing", "t")
    assert o.request == request_from_object(deployment("web"))


def test_client_model_objects_convert_like_their_json() -> None:
    """Objects from the typed client (e.g. `V1Deployment`) go through `sanitize_for_serialization` first."""
    from kubernetes import client

    model = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", namespace="shop", resource_version="5"),
        spec=client.V1DeploymentSpec(
            replicas=3, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(
                    name="app", image="nginx", resources=client.V1ResourceRequirements(requests={"cpu": "250m"}))]))))
    manifest = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "250m"}}}]}}}}
    o = from_raw(model, "Deployment")
    assert (o.key, o.resource_version) == ("Deployment/shop/web", "5")
    assert o.request == request_from_object(manifest)


def test_baseline_then_changes_without_emit_initial() -> None:
    out: list[InferenceRequest] = []
    t = Tracker(TemplateState(), collect(out), emit_initial=False)
    assert t.sync([obj(deployment("web")), obj(deployment("api"))], everything, initial=True) == 0
    assert not t.upsert(obj(deployment("web", ready_replicas=3)))  # status only
    assert t.upsert(obj(deployment("web", cpu="1")))
    assert not t.upsert(obj(deployment("web", cpu="1")))  # the same template again
    assert names(out) == ["Deployment/web"]
    assert t.delete(obj(deployment("web")))
    assert t.upsert(obj(deployment("web", cpu="1")))  # re-created after deletion: new again
    assert t.emitted == 2


def test_resume_from_state_emits_only_what_changed_and_forgets_in_scope(caplog: pytest.LogCaptureFixture) -> None:
    web, api, db = obj(deployment("web")), obj(deployment("api")), obj(statefulset("db"))
    state = TemplateState(hashes={o.key: o.request.spec_hash() for o in (web, api, db)},  # type: ignore[union-attr]
                          loaded=True)
    state.hashes["Deployment/shop/gone"] = "0" * 16
    out: list[InferenceRequest] = []
    t = Tracker(state, collect(out), emit_initial=False)
    caplog.set_level(logging.INFO, logger="app.adapters.collector")
    n = t.sync([web, obj(deployment("api", image="nginx:2")), obj(deployment("new"))],
               lambda k: k.startswith("Deployment/"), initial=True)
    assert n == 2 and names(out) == ["Deployment/api", "Deployment/new"]
    assert set(state.hashes) == {"Deployment/shop/web", "Deployment/shop/api", "Deployment/shop/new",
                                 "StatefulSet/data/db"}  # the StatefulSet was outside this listing's scope
    assert "deleted Deployment shop/gone (gone from the listing)" in caplog.text


def test_unconvertible_object_is_skipped_and_warned_once_per_version(caplog: pytest.LogCaptureFixture) -> None:
    bad = deployment("bad", cpu="12xyz")
    bad["metadata"]["resourceVersion"] = "7"
    t = Tracker(TemplateState(), collect([]), emit_initial=True)
    caplog.set_level(logging.WARNING, logger="app.adapters.collector")
    assert not t.upsert(obj(bad)) and not t.upsert(obj(bad))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "skipping Deployment shop/bad: " in warnings[0] and "invalid quantity '12xyz'" in warnings[0]


def test_state_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "s" / "in.ndjson.state.json"
    fresh = TemplateState.load(path)
    assert not fresh.loaded and fresh.hashes == {}
    fresh.record("Deployment/shop/web", "abc")
    fresh.save()
    assert json.loads(path.read_text()) == {"version": 1, "workloads": {"Deployment/shop/web": "abc"}}
    assert list(path.parent.iterdir()) == [path]  # the temp file was renamed away
    again = TemplateState.load(path)
    assert again.loaded and again.hashes == {"Deployment/shop/web": "abc"}
    path.write_text("{not json")
    with pytest.raises(InputError, match=rf"^{path}: unreadable state file .*delete it to start fresh$"):
        TemplateState.load(path)
    path.write_text('{"version": 9, "workloads": {}}')
    with pytest.raises(InputError, match=rf"^{path}: not a collector state file \(version 1\)"):
        TemplateState.load(path)


def test_backoff_bounds() -> None:
    low, high = Backoff(0.5, 4.0, rng=lambda: 0.0), Backoff(0.5, 4.0, rng=lambda: 1.0)
    assert [low.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [high.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    high.reset()
    assert high.next() == 0.5
    with pytest.raises(ValueError):
        Backoff(0, 1)
