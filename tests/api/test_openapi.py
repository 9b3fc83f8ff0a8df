"""The OpenAPI document: every request example in it works, and the from-yaml response shapes are documented."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def request_examples(spec: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    out = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    out.append((method, path, media, example["value"]))
                    assert name
    return out


def test_every_request_example_is_answered_200(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    examples = request_examples(spec)
    posted = {(path, media) for _, path, media, _ in examples}
    assert posted >= {("/predict", "application/json"), ("/predict/from-yaml", "text/plain"),
                      ("/infer/from-yaml", "text/plain")}
    for method, path, media, value in examples:
        if media == "application/json":
            r = client.request(method, path, json=value)
        else:
            r = client.request(method, path, content=value, headers={"Content-Type": media})
        assert r.status_code == 200, (path, media, r.text)


def test_predict_from_yaml_documents_both_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/predict/from-yaml"]["post"]["responses"]["200"]
    refs = {s["$ref"] for s in ok["content"]["application/json"]["schema"]["anyOf"]}
    assert refs == {"#/components/schemas/Prediction", "#/components/schemas/MultiPrediction"}
    assert set(ok["content"]["application/json"]["examples"]) == {"one", "many"}
    assert "X-Skipped-Documents" in ok["headers"]


def test_units_are_in_the_prediction_schema(client: TestClient) -> None:
    props = client.get("/openapi.json").json()["components"]["schemas"]["Prediction"]["properties"]
    assert "W" in props["pred_avg_power_w"]["description"] and "per pod" in props["pred_avg_power_w"]["description"]
    assert "J" in props["pred_energy_step_j"]["description"] and "60 s" in props["pred_energy_step_j"]["description"]
    assert "W" in props["pred_power_w_total"]["description"]


def test_error_statuses_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"413", "415", "422", "503"} <= set(paths["/predict"]["post"]["responses"])
    assert {"413", "415", "422", "503"} <= set(paths["/predict/from-yaml"]["post"]["responses"])
    assert "503" in paths["/readyz"]["get"]["responses"]


def test_swagger_ui_is_served(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text


def test_predict_body_is_documented_as_an_inference_request(client: TestClient) -> None:
    # /predict reads its body itself (app.api.body.LeanJSONRoute); the schema still comes from the signature
    doc = client.get("/openapi.json").json()
    body = doc["paths"]["/predict"]["post"]["requestBody"]
    content = body["content"]["application/json"]
    assert body["required"] is True
    assert content["schema"]["$ref"].endswith("/InferenceRequest")
    assert content["examples"]  # the Swagger UI examples
    assert "containers" in doc["components"]["schemas"]["InferenceRequest"]["properties"]
