"""The CLI (`python -m app predict`) and the API give the same predictions for the same spec.

Each comparison uses a fresh app, so both sides compute the same batch of uncached specs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from tests.api.conftest import settings_for
from tests.conftest import EXAMPLES, REPO


def cli_predict(path: Path, artifacts: tuple[Path, Path]) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "predict", str(path), "--encoder", str(artifacts[0]),
         "--model", str(artifacts[1])],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_yaml_file(name: str, tiny_artifacts: tuple[Path, Path]) -> None:
    cli = cli_predict(EXAMPLES / name, tiny_artifacts)
    with TestClient(create_app(settings_for(tiny_artifacts), background=False)) as client:
        r = client.post("/predict/from-yaml", content=(EXAMPLES / name).read_text(),
                        headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    api = r.json()["predictions"] if "predictions" in r.json() else [r.json()]
    assert api == cli


def test_json_request(tiny_artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    body = json.loads((EXAMPLES / "request.json").read_text())
    ndjson = tmp_path / "request.ndjson"
    ndjson.write_text(json.dumps(body) + "\n")
    (cli,) = cli_predict(ndjson, tiny_artifacts)
    with TestClient(create_app(settings_for(tiny_artifacts), background=False)) as client:
        r = client.post("/predict", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == cli
