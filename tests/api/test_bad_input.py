"""Bad input gets a 4xx whose one-line `detail` names the document and the field: never a 500, never a hang."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.api.limits import MAX_YAML_OBJECTS
from tests.api.conftest import settings_for

YAML = {"Content-Type": "text/plain"}
GOOD = {"workload_kind": "Pod", "workload_name": "p", "containers": [{"name": "c", "req_cpu_mcpu": 100}]}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx
          resources:
            requests: {cpu: %s}
"""


def post_json(client: TestClient, body: object) -> tuple[int, str]:
    r = client.post("/predict", content=json.dumps(body), headers={"Content-Type": "application/json"})
    return r.status_code, r.json()["detail"]


def post_yaml(client: TestClient, text: str | bytes, path: str = "/predict/from-yaml") -> tuple[int, str]:
    r = client.post(path, content=text, headers=YAML)
    return r.status_code, r.json()["detail"]


# -- /predict (JSON) ---------------------------------------------------------------------------------
def test_invalid_json_names_line_and_column(client: TestClient) -> None:
    r = client.post("/predict", content='{"workload_kind": "Pod",\n "workload_name": }',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: invalid JSON at line 2, column 19: ")


def test_json_with_a_byte_order_mark_says_so(client: TestClient) -> None:
    """A BOM before valid JSON was "expected value at line 1, column 1" (audit 2026-12-01)."""
    for path in ("/predict", "/admission/mutate"):
        r = client.post(path, content=b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
                        headers={"Content-Type": "application/json"})
        assert r.status_code in (400, 422), r.text
        assert "byte order mark" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"containers": [{"name": "c", "req_cpu_mcpu": -1}]},
         "body.containers.0.req_cpu_mcpu: Input should be greater than or equal to 0"),
        ({"workload_kind": "Service"}, "body.workload_kind: Input should be "),
        ({"replicas": "many"}, "body.replicas: Input should be a valid integer"),
        ({"surprise": 1}, "body.surprise: Extra inputs are not permitted"),
        ({"containers": [{"name": "c", "cpu": "1"}]}, "body.containers.0.cpu: Extra inputs are not permitted"),
        ({"containers": []}, "body: Value error, give `containers` (at least one) or `pod_spec`"),
    ],
)
def test_schema_violations_name_the_field(client: TestClient, change: dict, detail: str) -> None:
    status, got = post_json(client, {**GOOD, **change})
    assert status == 422
    assert got.startswith(detail)


def test_every_violation_is_listed(client: TestClient) -> None:
    r = client.post("/predict", json={"workload_kind": "Nope", "containers": [{"name": ""}]})
    assert r.status_code == 422
    locs = {tuple(e["loc"]) for e in r.json()["errors"]}
    assert {("body", "workload_kind"), ("body", "workload_name"), ("body", "containers", 0, "name")} <= locs
    assert "more error(s)" in r.json()["detail"]


def test_missing_body(client: TestClient) -> None:
    r = client.post("/predict", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"] == "body: missing: send an InferenceRequest JSON object"


def test_json_nested_too_deeply(client: TestClient) -> None:
    r = client.post("/predict", content="[" * 200_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"] == "body: invalid JSON: nested too deeply"


def test_json_not_utf8(client: TestClient) -> None:
    r = client.post("/predict", content=b"{\"workload_name\": \"\xff\"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: invalid JSON: not UTF-8 text")


def test_json_lone_surrogate_is_refused(client: TestClient) -> None:
    # json.loads accepts "\ud800"; it is not valid Unicode, so it cannot be hashed or stored
    body = json.dumps({**GOOD, "labels": {"team": "\ud800"}})
    assert "\\ud800" in body
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: invalid JSON: ") and "escape" in r.json()["detail"]


@pytest.mark.parametrize(
    ("container", "field"),
    [({"req_cpu_mcpu": 1e999}, "containers[0].req_cpu_mcpu"), ({"lim_mem_mib": 2.0**60}, "containers[0].lim_mem_mib")],
)
def test_numbers_beyond_range_are_refused(client: TestClient, container: dict, field: str) -> None:
    body = json.dumps({**GOOD, "containers": [{"name": "c", **container}]})  # 1e999 is sent as Infinity
    r = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(f"body: {field}: ")


def test_huge_replicas_is_refused(client: TestClient) -> None:
    status, detail = post_json(client, {**GOOD, "replicas": 10**400})
    assert status == 422 and detail.startswith("body: replicas: ")


def test_bad_quantity_in_pod_spec_form(client: TestClient) -> None:
    body = {"workload_kind": "Pod", "workload_name": "p",
            "pod_spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": "12xyz"}}}]}}
    status, detail = post_json(client, body)
    assert status == 422
    assert detail.startswith("body: pod_spec.containers[0].resources.requests.memory: ")
    assert "12xyz" in detail


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_predict_wrong_content_type_is_415(client: TestClient, ctype: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post("/predict", content=json.dumps(GOOD), headers=headers)
    assert r.status_code == 415
    assert "application/json" in r.json()["detail"]


# -- Content-Encoding: every endpoint with a body -----------------------------------------------------
BODIES = [("/predict", "application/json", json.dumps(GOOD)), ("/predict/from-yaml", "text/plain", DEPLOYMENT % "1"),
          ("/infer/from-yaml", "text/plain", DEPLOYMENT % "1"), ("/admission/mutate", "application/json", "{}"),
          ("/admission/validate", "application/json", "{}")]


@pytest.mark.parametrize(("path", "ctype", "body"), BODIES)
@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate", "identity, gzip", "GZIP"])
def test_compressed_body_is_415(client: TestClient, path: str, ctype: str, body: str, encoding: str) -> None:
    """A gzip body was a 422 "not UTF-8 text", `br` on a plain body was taken as plain: now 415, unread.
    The same body sent plainly (no coding, or `identity`) is read as before."""
    data = gzip.compress(body.encode()) if "gzip" in encoding.lower() else body.encode()
    r = client.post(path, content=data, headers={"Content-Type": ctype, "Content-Encoding": encoding})
    assert r.status_code == 415, r.text
    assert r.json()["detail"] == (f"body: Content-Encoding {encoding.lower()!r} is not supported: send the body "
                                  "uncompressed (no Content-Encoding, or identity)")
    assert r.headers["accept-encoding"] == "identity"
    for plain in ("identity", ""):
        r = client.post(path, content=body, headers={"Content-Type": ctype, "Content-Encoding": plain})
        assert r.status_code == (400 if path.startswith("/admission/") else 200), r.text  # `{}` is no review


# -- YAML endpoints ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/predict/from-yaml", "/infer/from-yaml"])
@pytest.mark.parametrize("ctype", ["application/json", "application/x-www-form-urlencoded", None])
def test_yaml_wrong_content_type_is_415(client: TestClient, path: str, ctype: str | None) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    r = client.post(path, content=DEPLOYMENT % "1", headers=headers)
    assert r.status_code == 415
    assert "Content-Type: text/plain" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/predict/from-yaml", "/infer/from-yaml"])
def test_invalid_yaml_names_document_and_line(client: TestClient, path: str) -> None:
    text = (DEPLOYMENT % "1") + "---\nkind: [unclosed\n"
    status, detail = post_yaml(client, text, path)
    assert status == 422
    assert detail.startswith("body: document 2: invalid YAML")
    assert "line" in detail


def test_bad_quantity_names_document_and_field(client: TestClient) -> None:
    status, detail = post_yaml(client, DEPLOYMENT % "12xyz")
    assert status == 422
    assert detail.startswith("body: document 1 (Deployment shop/web): spec.template.spec.containers[0]"
                             ".resources.requests.cpu: ")


@pytest.mark.parametrize("path", ["/predict/from-yaml", "/infer/from-yaml"])
def test_yaml_without_workload(client: TestClient, path: str) -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\nkind: Widget\nmetadata: {name: w}\n"
    status, detail = post_yaml(client, text, path)
    assert status == 422
    assert detail == ("body: no workload to predict for (document 1: Service is not a workload; "
                      "document 2: Widget is not a workload)")


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_yaml(client: TestClient, text: str) -> None:
    status, detail = post_yaml(client, text)
    assert status == 422
    assert detail in ("body: empty: send one or more Kubernetes objects as YAML",
                      "body: no Kubernetes object in the YAML")


def test_yaml_scalar_document(client: TestClient) -> None:
    status, detail = post_yaml(client, "just a string\n")
    assert status == 422 and detail.startswith("body: document 1: expected a Kubernetes object")


def test_workload_missing_its_template(client: TestClient) -> None:
    status, detail = post_yaml(client, "kind: Deployment\nmetadata: {name: x}\nspec: {replicas: 2}\n")
    assert status == 422 and detail.startswith("body: document 1 (Deployment default/x): spec.template: ")


def test_not_utf8(client: TestClient) -> None:
    status, detail = post_yaml(client, b"kind: Pod\nmetadata: {name: \xff\xfe}\n")
    assert status == 422 and detail.startswith("body: not UTF-8 text")


def test_alias_bomb_is_rejected_fast(client: TestClient) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    started = time.perf_counter()
    status, detail = post_yaml(client, "\n".join(lines) + "\n")
    assert status == 413
    assert time.perf_counter() - started < 2.0
    assert detail.startswith("body: document 1: ") and "alias" in detail


def test_deep_nesting_is_rejected(client: TestClient) -> None:
    status, detail = post_yaml(client, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert status == 413
    assert detail.startswith("body: document 1: ") and "deeper" in detail


def test_control_character_after_an_alias_is_422(client: TestClient) -> None:
    """`*` sent the body down a different loader whose reader error escaped as a 500 (issue #15)."""
    status, detail = post_yaml(client, "*\x01")
    assert status == 422
    assert detail == ("body: document 1: invalid YAML: control characters are not allowed (character #x0001) "
                      "at line 1, column 2")


SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"


def many_objects(n: int, shape: str, first: str = "100m") -> str:
    """`n` Kubernetes objects, the first a Deployment requesting `first` CPU: as documents (Deployments and
    Services, alternately, and empty documents, which are no objects), or as the items of a `kind: List`."""
    if shape == "list":
        items = [f"- {{kind: Deployment, metadata: {{name: w{i}}}, spec: {{template: {{spec: {{containers: "
                 f"[{{name: c, resources: {{requests: {{cpu: {first if i == 0 else '100m'}}}}}}}]}}}}}}}}\n"
                 for i in range(n)]
        return "apiVersion: v1\nkind: List\nitems:\n" + "".join(items)
    docs = [DEPLOYMENT % first] + [SERVICE if i % 2 else DEPLOYMENT % "100m" for i in range(1, n)]
    return "---\n".join(docs) + "---\n" * 10


@pytest.mark.parametrize("path", ["/predict/from-yaml", "/infer/from-yaml"])
@pytest.mark.parametrize("shape", ["documents", "list"])
def test_more_objects_than_the_limit_is_413(client: TestClient, path: str, shape: str) -> None:
    """MAX_YAML_OBJECTS objects are converted; one more is a 413, counted (a List's items too) before any
    object is converted: the first one, which would be a 422, is never read."""
    r = client.post(path, content=many_objects(MAX_YAML_OBJECTS, shape), headers=YAML)
    assert r.status_code == 200, r.text[:300]
    n = MAX_YAML_OBJECTS + 1
    status, detail = post_yaml(client, many_objects(n, shape, first="12xyz"), path)
    assert status == 413
    assert detail == (f"body: {n} Kubernetes objects, more than {MAX_YAML_OBJECTS} (the MAX_YAML_OBJECTS limit); "
                      "send them in several requests")


def test_body_over_the_limit_is_413(tiny_artifacts: tuple[Path, Path]) -> None:
    app = create_app(settings_for(tiny_artifacts, max_body_bytes=2000), background=False)
    with TestClient(app) as small:
        big = (DEPLOYMENT % "1") + "# " + "x" * 3000 + "\n"
        for path, headers in (("/predict/from-yaml", YAML), ("/infer/from-yaml", YAML),
                              ("/predict", {"Content-Type": "application/json"})):
            r = small.post(path, content=big, headers=headers)
            assert r.status_code == 413, path
            assert r.json()["detail"] == ("body: larger than 2000 bytes (the MAX_BODY_BYTES limit); "
                                          "send a smaller document")
            # no Content-Length (chunked): counted while it is read
            r = small.post(path, content=iter([big[:1500].encode(), big[1500:].encode()]), headers=headers)
            assert "content-length" not in r.request.headers
            assert r.status_code == 413, path
            assert r.json()["detail"].startswith("body: larger than 2000 bytes")
        assert small.post("/predict/from-yaml", content=DEPLOYMENT % "1", headers=YAML).status_code == 200


def test_yaml_limits_come_from_settings(tiny_artifacts: tuple[Path, Path]) -> None:
    app = create_app(settings_for(tiny_artifacts, yaml_max_depth=5), background=False)
    with TestClient(app) as strict:
        status, detail = post_yaml(strict, DEPLOYMENT % "1")
        assert status == 413 and "deeper than 5 levels" in detail


def test_unknown_path_and_method(client: TestClient) -> None:
    assert client.get("/nope").status_code == 404
    r = client.get("/predict")
    assert r.status_code == 405 and r.json()["detail"] == "Method Not Allowed"
