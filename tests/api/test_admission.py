"""`/admission/mutate` and `/admission/validate` on the real app (tiny model), reviews built from real objects.

Expected annotations come from the model's label formula worked out by hand (`label_w`, k=1) and,
for every example object, from `/predict/from-yaml` on the same object: the webhook must predict what
the YAML endpoint predicts. Patches are applied with `jsonpatch`, and the result must equal the input
plus exactly the podpower annotations.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.core.errors import ArtifactError
from app.serving.admission import (
    ANNOTATIONS,
    MODEL_VERSION,
    PREDICTED_WATTS,
    PREDICTED_WATTS_INTERVAL,
    PREDICTED_WATTS_TOTAL,
)
from tests.api.conftest import DEPLOYMENT_MULTI_W, POD_GUARANTEED_W, settings_for
from tests.api.reviews import example_objects, objects_in, patch_of, patched, review
from tests.conftest import EXAMPLES

WORKLOADS = [(name, obj) for name, obj in example_objects() if obj["kind"] not in ("Service", "ConfigMap")]
OTHERS = [(name, obj) for name, obj in example_objects() if obj["kind"] in ("Service", "ConfigMap")]
CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
             "data": {"a": "b"}}


def post(client: TestClient, path: str, body: Any) -> dict[str, Any]:
    r = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def from_yaml(client: TestClient, obj: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/predict/from-yaml", content=yaml.safe_dump(obj), headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def only_podpower_added(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Assert nothing but podpower annotations changed; return them."""
    added = {k: v for k, v in annotations(after).items() if annotations(before).get(k) != v}
    assert set(added) <= set(ANNOTATIONS), added
    rest_after = copy.deepcopy(after)
    rest_before = copy.deepcopy(before)
    for o in (rest_after, rest_before):
        meta = o.get("metadata") or {}
        for k in ANNOTATIONS:
            meta.get("annotations", {}).pop(k, None)
        if meta.get("annotations") == {} and "annotations" not in (before.get("metadata") or {}):
            meta.pop("annotations")
    assert rest_after == rest_before
    return added


@pytest.mark.parametrize(("name", "obj"), WORKLOADS, ids=[n for n, _ in WORKLOADS])
def test_every_example_workload_is_annotated_with_its_prediction(client: TestClient, name: str,
                                                                 obj: dict[str, Any]) -> None:
    body = review(obj)
    out = post(client, "/admission/mutate", body)
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == body["request"]["uid"]
    assert out["response"]["allowed"] is True
    after = patched(obj, out)
    added = only_podpower_added(obj, after)
    expected = from_yaml(client, obj)
    assert added == {
        PREDICTED_WATTS: f"{expected['pred_avg_power_w']:.3f}",
        PREDICTED_WATTS_TOTAL: f"{expected['pred_power_w_total']:.3f}",
        MODEL_VERSION: expected["model_version"],
    }  # the tiny model has no interval: no interval annotation
    assert PREDICTED_WATTS_INTERVAL not in annotations(after)
    # the spec is never touched: every operation addresses an annotation (or adds the whole map)
    assert all(op["path"].startswith("/metadata") for op in patch_of(out) or [])


def test_values_match_the_label_formula_worked_out_by_hand(client: TestClient) -> None:
    (pod,) = objects_in(EXAMPLES / "pod-guaranteed.yaml")
    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    pod_ann = annotations(patched(pod, post(client, "/admission/mutate", review(pod))))
    dep_ann = annotations(patched(dep, post(client, "/admission/mutate", review(dep))))
    assert pod_ann[PREDICTED_WATTS] == pod_ann[PREDICTED_WATTS_TOTAL] == f"{POD_GUARANTEED_W:.3f}"
    assert dep_ann[PREDICTED_WATTS] == f"{DEPLOYMENT_MULTI_W:.3f}"
    assert dep_ann[PREDICTED_WATTS_TOTAL] == f"{DEPLOYMENT_MULTI_W * dep['spec']['replicas']:.3f}"


@pytest.mark.parametrize(("name", "obj"), WORKLOADS, ids=[n for n, _ in WORKLOADS])
def test_update_of_an_annotated_object_gives_no_patch(client: TestClient, name: str, obj: dict[str, Any]) -> None:
    once = patched(obj, post(client, "/admission/mutate", review(obj)))
    again = post(client, "/admission/mutate", review(once, operation="UPDATE", old=once))
    assert patch_of(again) is None and again["response"]["allowed"] is True


def test_stale_annotations_are_replaced_and_other_annotations_kept(client: TestClient) -> None:
    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    fresh = annotations(patched(dep, post(client, "/admission/mutate", review(dep))))
    old = copy.deepcopy(dep)
    old["metadata"]["annotations"] = {PREDICTED_WATTS: "1.000", MODEL_VERSION: "old-model",
                                      PREDICTED_WATTS_INTERVAL: '{"low":0,"high":1,"level":0.8}',
                                      "example.com/a~b": "kept", "team": "shop"}
    out = post(client, "/admission/mutate", review(old, operation="UPDATE", old=old))
    ops = patch_of(out)
    assert ops is not None
    assert {op["path"] for op in ops} == {"/metadata/annotations/podpower.io~1predicted-watts",
                                         "/metadata/annotations/podpower.io~1predicted-watts-total",
                                         "/metadata/annotations/podpower.io~1predicted-watts-interval",
                                         "/metadata/annotations/podpower.io~1model-version"}
    after = annotations(patched(old, out))
    assert after == {"example.com/a~b": "kept", "team": "shop", **fresh}  # stale interval removed


def test_an_object_without_annotations_gets_the_map_and_one_without_metadata_too(client: TestClient) -> None:
    (pod,) = objects_in(EXAMPLES / "pod-guaranteed.yaml")
    pod["metadata"].pop("annotations", None)
    ops = patch_of(post(client, "/admission/mutate", review(pod)))
    assert ops is not None and [(op["op"], op["path"]) for op in ops] == [("add", "/metadata/annotations")]
    bare = {k: v for k, v in pod.items() if k != "metadata"}
    out = post(client, "/admission/mutate", review(bare, namespace="shop", kind={"group": "", "version": "v1",
                                                                                 "kind": "Pod"}))
    ops = patch_of(out)
    assert ops is not None and [(op["op"], op["path"]) for op in ops] == [("add", "/metadata")]
    assert set(patched(bare, out)["metadata"]["annotations"]) == {PREDICTED_WATTS, PREDICTED_WATTS_TOTAL,
                                                                  MODEL_VERSION}


def test_a_pod_with_only_generate_name_is_annotated(client: TestClient) -> None:
    (pod,) = objects_in(EXAMPLES / "pod-guaranteed.yaml")
    pod["metadata"].pop("name")
    pod["metadata"]["generateName"] = "web-5d8f-"
    out = post(client, "/admission/mutate", review(pod))
    assert annotations(patched(pod, out))[PREDICTED_WATTS] == f"{POD_GUARANTEED_W:.3f}"


@pytest.mark.parametrize("obj", [CONFIGMAP, *(o for _, o in OTHERS)], ids=lambda o: o["kind"])
@pytest.mark.parametrize("path", ["/admission/mutate", "/admission/validate"])
def test_non_workloads_are_allowed_untouched(client: TestClient, obj: dict[str, Any], path: str) -> None:
    body = review(obj)
    out = post(client, path, body)
    assert out["response"] == {"uid": body["request"]["uid"], "allowed": True}


def test_delete_is_allowed_untouched(client: TestClient) -> None:
    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    body = review(None, operation="DELETE", old=dep)
    assert post(client, "/admission/mutate", body)["response"] == {"uid": body["request"]["uid"], "allowed": True}


def test_dry_run_gets_the_same_answer_and_changes_nothing(client: TestClient) -> None:
    (dep,) = objects_in(EXAMPLES / "kubectl-get-deployment.yaml")
    original = copy.deepcopy(dep)
    real = post(client, "/admission/mutate", review(dep, uid="u-1"))
    dry = post(client, "/admission/mutate", review(dep, uid="u-1", dry_run=True))
    assert dry == real
    assert dep == original
    assert post(client, "/admission/validate", review(dep, uid="u-2", dry_run=True))["response"]["allowed"] is True


def test_a_workload_that_cannot_be_predicted_is_allowed_with_a_warning(client: TestClient) -> None:
    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "12xyz"
    for path in ("/admission/mutate", "/admission/validate"):
        out = post(client, path, review(dep))["response"]
        assert out["allowed"] is True and "patch" not in out
        (warning,) = out["warnings"]
        assert "Deployment shop/analytics-api" in warning
        assert "spec.template.spec.containers[0].resources.requests.cpu" in warning and "12xyz" in warning


def test_without_a_model_everything_is_allowed_with_a_warning(tiny_artifacts: tuple[Path, Path]) -> None:
    def broken(_settings: Any) -> Any:
        raise ArtifactError("knn_energy.joblib: not a model file")

    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    with TestClient(create_app(settings_for(tiny_artifacts), loader=broken, background=False)) as c:
        out = post(c, "/admission/mutate", review(dep))["response"]
    assert out["allowed"] is True and "patch" not in out
    assert "not a model file" in out["warnings"][0]


GOOD = review(CONFIGMAP, uid="x")


def _without(path: tuple[str, ...]) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    node = body
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return body


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(GOOD)
    node = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


MALFORMED: list[tuple[str, bytes | Any, str]] = [
    ("not JSON", b"{not json", "invalid JSON"),
    ("empty", b"", "invalid JSON"),
    ("a list", [GOOD], "expected an AdmissionReview object"),
    ("v1beta1", _with(("apiVersion",), "admission.k8s.io/v1beta1"), "apiVersion"),
    ("wrong kind", _with(("kind",), "Pod"), "kind"),
    ("no request", _without(("request",)), "request"),
    ("no uid", _without(("request", "uid")), "request.uid"),
    ("uid a number", _with(("request", "uid"), 7), "request.uid"),
    ("no kind", _without(("request", "kind")), "request.kind"),
    ("odd operation", _with(("request", "operation"), "PATCH"), "request.operation"),
    ("dryRun a string", _with(("request", "dryRun"), "yes"), "request.dryRun"),
    ("object a list", _with(("request", "object"), [1]), "request.object"),
    ("annotations a list", _with(("request", "object"), {"kind": "Pod", "metadata": {"annotations": ["a"]}}),
     "request.object.metadata.annotations"),
]


@pytest.mark.parametrize(("what", "body", "field"), MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("path", ["/admission/mutate", "/admission/validate"])
def test_a_malformed_review_is_a_400_naming_the_field(client: TestClient, path: str, what: str, body: Any,
                                                      field: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = client.post(path, content=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"]


def test_wrong_media_type_is_415(client: TestClient) -> None:
    r = client.post("/admission/mutate", content=json.dumps(GOOD), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_an_oversized_review_is_a_413(tiny_artifacts: tuple[Path, Path]) -> None:
    big = review(dict(CONFIGMAP, data={"blob": "x" * 5000}))
    with TestClient(create_app(settings_for(tiny_artifacts, max_body_bytes=4096), background=False)) as c:
        r = c.post("/admission/mutate", content=json.dumps(big), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
        chunks = iter([json.dumps(big).encode()[i:i + 1000] for i in range(0, 6000, 1000)])
        r = c.post("/admission/validate", content=chunks, headers={"Content-Type": "application/json"})
        assert r.status_code == 413


def test_long_warnings_are_cut_to_what_the_api_server_keeps(client: TestClient) -> None:
    (dep,) = objects_in(EXAMPLES / "deployment-multi.yaml")
    dep["metadata"]["name"] = "a" * 253  # the longest name Kubernetes allows
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "12xyz"
    (warning,) = post(client, "/admission/mutate", review(dep))["response"]["warnings"]
    assert len(warning) == 256 and warning.endswith("…") and warning.startswith("podpower: no power prediction")
