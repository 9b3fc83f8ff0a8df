"""Start-up: /readyz 503 until the artifacts are in; missing or corrupt artifacts never crash the process."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.api.service import load_predictor
from app.core.settings import Settings
from app.serving.predictor import Predictor
from tests.api.conftest import settings_for
from tests.conftest import REPO

YAML = {"Content-Type": "text/plain"}
POD = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: nginx}]\n"


def wait_until(cond, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_readyz_is_503_until_loaded_then_200(tiny_artifacts: tuple[Path, Path]) -> None:
    gate = threading.Event()

    def gated(settings: Settings) -> Predictor:
        assert gate.wait(10)
        return load_predictor(settings)

    with TestClient(create_app(settings_for(tiny_artifacts), loader=gated)) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "loading"
        p = client.post("/predict/from-yaml", content=POD, headers=YAML)
        assert p.status_code == 503 and p.json()["detail"].startswith("model not loaded (loading)")
        assert client.post("/infer/from-yaml", content=POD, headers=YAML).status_code == 200  # needs no model
        gate.set()
        assert wait_until(lambda: client.get("/readyz").status_code == 200)
        assert client.post("/predict/from-yaml", content=POD, headers=YAML).status_code == 200


def _broken_app_checks(client: TestClient, why: str) -> None:
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "failed"
    assert why in ready.json()["detail"]
    for path, kwargs in (("/predict", {"json": {"workload_kind": "Pod", "workload_name": "p",
                                                "containers": [{"name": "c"}]}}),
                         ("/predict/from-yaml", {"content": POD, "headers": YAML})):
        r = client.post(path, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == 503 and why in r.json()["detail"], path
    assert client.get("/model").status_code == 503


def test_missing_encoder_is_reported_not_fatal(tiny_artifacts: tuple[Path, Path], tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    missing = tmp_path / "nowhere" / "encoder.npz"
    settings = Settings(encoder_path=missing, model_path=tiny_artifacts[1])
    with caplog.at_level(logging.ERROR, logger="app.api"), TestClient(create_app(settings, background=False)) as c:
        _broken_app_checks(c, f"{missing}: file not found")
    (record,) = [r for r in caplog.records if r.name == "app.api" and r.levelno == logging.ERROR]
    assert str(missing) in record.getMessage() and "\n" not in record.getMessage()


def test_corrupt_model_is_reported_not_fatal(tiny_artifacts: tuple[Path, Path], tmp_path: Path) -> None:
    corrupt = tmp_path / "knn_energy.npz"
    corrupt.write_bytes(tiny_artifacts[1].read_bytes()[:200])  # truncated
    card = tiny_artifacts[1].with_name("knn_energy.card.json")
    (tmp_path / card.name).write_bytes(card.read_bytes())
    settings = Settings(encoder_path=tiny_artifacts[0], model_path=corrupt)
    with TestClient(create_app(settings, background=False)) as c:
        _broken_app_checks(c, f"{corrupt}: does not match the model card {tmp_path / card.name} (200 bytes where")


def test_swapped_artifacts_are_reported(tiny_artifacts: tuple[Path, Path]) -> None:
    settings = Settings(encoder_path=tiny_artifacts[1], model_path=tiny_artifacts[0])
    with TestClient(create_app(settings, background=False)) as c:
        _broken_app_checks(c, "not a k8spodpcp-encoder artifact")


def test_importing_the_app_does_not_load_the_model() -> None:
    code = "import sys, app.api.app; print('sklearn' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "ENCODER_PATH": "/nonexistent", "MODEL_PATH": "/nonexistent"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
