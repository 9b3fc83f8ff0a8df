"""Requests as the original k8sPodPCP v1 collector writes them (null for anything unset) are served.

tests/data/v1/requests.ndjson is written for this project in the v1 collector's shape (every key
present, `"command": null`, `"args": null`, null resources and scheduling hints, and on one line null
labels/annotations/volume_types). Each line must get the same answer as the line with its nulls
left out, through the /predict fast path (body validated from the raw bytes) and through the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.schema import InferenceRequest
from tests.conftest import REPO

V1_REQUESTS = REPO / "tests" / "data" / "v1" / "requests.ndjson"


def without_nulls(value: Any) -> Any:
    """The same JSON with every null-valued key left out (what a client that omits unset fields sends)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def v1_lines() -> list[str]:
    return V1_REQUESTS.read_text().splitlines()


def test_fixture_has_the_v1_nulls() -> None:
    """The fixture really exercises every nullable v1 field (else the tests below prove little)."""
    seen: set[str] = set()
    for line in v1_lines():
        d = json.loads(line)
        seen |= {k for k, v in d.items() if v is None}
        seen |= {f"containers.{k}" for c in d["containers"] for k, v in c.items() if v is None}
    assert seen >= {"containers.command", "containers.args", "containers.req_cpu_mcpu", "containers.lim_mem_mib",
                    "node_type", "runtime_class", "parallelism", "completions", "labels", "annotations",
                    "volume_types"}


@pytest.mark.parametrize("line", v1_lines(), ids=lambda s: json.loads(s)["workload_name"])
def test_nulls_validate_to_the_internal_form(line: str) -> None:
    with_nulls = InferenceRequest.model_validate_json(line)
    assert with_nulls == InferenceRequest.model_validate(without_nulls(json.loads(line)))
    assert all(isinstance(c.command, list) and isinstance(c.args, list) for c in with_nulls.containers)
    assert isinstance(with_nulls.labels, dict) and isinstance(with_nulls.volume_types, list)


@pytest.mark.parametrize("line", v1_lines(), ids=lambda s: json.loads(s)["workload_name"])
def test_api_answers_a_v1_request_as_without_its_nulls(client: TestClient, line: str) -> None:
    headers = {"content-type": "application/json"}
    with_nulls = client.post("/predict", content=line, headers=headers)
    assert with_nulls.status_code == 200, with_nulls.text
    omitted = client.post("/predict", content=json.dumps(without_nulls(json.loads(line))), headers=headers)
    assert omitted.status_code == 200, omitted.text
    assert with_nulls.json() == omitted.json()


@pytest.mark.parametrize(("field", "value"), [("command", 3), ("args", "sh"), ("command", [None])])
def test_null_is_the_only_new_value(client: TestClient, field: str, value: Any) -> None:
    """Accepting null did not loosen the type: anything else still answers 422 naming the field."""
    body = json.loads(v1_lines()[0])
    body["containers"][0][field] = value
    r = client.post("/predict", json=body)
    assert r.status_code == 422
    assert f"containers.0.{field}" in r.text


def test_labels_with_a_null_value_are_refused(client: TestClient) -> None:
    body = json.loads(v1_lines()[0])
    body["labels"] = {"app": None}
    r = client.post("/predict", json=body)
    assert r.status_code == 422 and "labels.app" in r.text


def test_cli_predicts_v1_ndjson_as_without_its_nulls(tmp_path: Path, tiny_artifacts: tuple[Path, Path]) -> None:
    """`python -m app predict FILE` (the real entry point) on the v1 file and on the same file without nulls."""
    enc, model = tiny_artifacts
    stripped = tmp_path / "no-nulls.ndjson"
    stripped.write_text("".join(json.dumps(without_nulls(json.loads(line))) + "\n" for line in v1_lines()))
    outs = []
    for path in (V1_REQUESTS, stripped):
        proc = subprocess.run([sys.executable, "-m", "app", "predict", str(path), "--encoder", str(enc),
                               "--model", str(model)], capture_output=True, text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append([json.loads(x) for x in proc.stdout.splitlines()])
    assert len(outs[0]) == len(v1_lines())
    assert outs[0] == outs[1]
