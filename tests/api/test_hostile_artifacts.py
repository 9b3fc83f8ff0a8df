"""A hostile artifact never runs: pickles whose `__reduce__` would `touch` a marker file, at ENCODER_PATH or
MODEL_PATH, under the old names, under the new ones, and inside an `.npz` as an object array.

Each time the marker must stay absent, `/readyz` must stay 503 and say why, and `predict` must exit 2
saying why. The payload itself is checked to be live first (unpickling it does create its marker).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.cli.main import main
from app.core.settings import Settings
from tests.artifact_files import Boom, boom_pickle, copy_artifacts, members, pack, reseal
from tests.conftest import EXAMPLES, REPO, free_port
from tests.processes import running

CONVERT = "python -m app artifacts convert"
NO_OBJECTS = "Object arrays cannot be loaded when allow_pickle=False"


def test_the_payload_is_live(tmp_path: Path) -> None:
    """Without this, an absent marker would prove nothing."""
    pickle.loads(boom_pickle(tmp_path / "a"))
    joblib.dump({"kind": "k8spodpcp-model", "model": Boom(tmp_path / "b")}, tmp_path / "m.joblib")
    joblib.load(tmp_path / "m.joblib")
    assert (tmp_path / "a").exists() and (tmp_path / "b").exists()


def _joblib(which: str, marker: Path, enc: Path, model: Path) -> tuple[Path, str]:
    path = (enc if which == "encoder" else model).with_suffix(".joblib")
    joblib.dump({"kind": f"k8spodpcp-{which}", which: Boom(marker), "model": Boom(marker)}, path)
    return path, CONVERT


def _pickle_as_npz(which: str, marker: Path, enc: Path, model: Path) -> tuple[Path, str]:
    path = enc if which == "encoder" else model
    path.write_bytes(boom_pickle(marker))
    if which == "model":
        reseal(path)  # a forger who also rewrites the card
    return path, CONVERT


def _object_array(member: str) -> Callable[[str, Path, Path, Path], tuple[Path, str]]:
    def build(which: str, marker: Path, enc: Path, model: Path) -> tuple[Path, str]:
        path = enc if which == "encoder" else model
        meta, arrays = members(path)
        hostile = np.array([Boom(marker)], dtype=object)
        if member == "meta":
            path.write_bytes(pack(hostile, arrays))
        else:
            arrays[member] = hostile
            path.write_bytes(pack(meta, arrays))
        if which == "model":
            reseal(path)
        return path, NO_OBJECTS
    return build


CASES = [
    ("encoder", _joblib), ("model", _joblib),
    ("encoder", _pickle_as_npz), ("model", _pickle_as_npz),
    ("encoder", _object_array("num_mean")), ("model", _object_array("rows")),
    ("encoder", _object_array("meta")), ("model", _object_array("meta")),
]
IDS = ["encoder.joblib", "knn_energy.joblib", "pickle-as-encoder.npz", "pickle-as-knn_energy.npz",
       "object-array-in-encoder.npz", "object-array-in-knn_energy.npz", "object-meta-encoder", "object-meta-model"]


@pytest.fixture
def hostile(request: pytest.FixtureRequest, tiny_artifacts: tuple[Path, Path], tmp_path: Path):  # type: ignore[no-untyped-def]
    which, build = request.param
    enc, model = copy_artifacts(*tiny_artifacts, tmp_path / "artifacts")
    marker = tmp_path / "PWNED"
    path, why = build(which, marker, enc, model)
    if which == "encoder":
        enc = path
    else:
        model = path
    settings = Settings(encoder_path=enc, model_path=model)
    return settings, marker, f"{path}: ", why


@pytest.mark.parametrize("hostile", CASES, ids=IDS, indirect=True)
def test_api_stays_unready_and_says_why(hostile) -> None:  # type: ignore[no-untyped-def]
    settings, marker, where, why = hostile
    with TestClient(create_app(settings, background=False)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert where in ready.json()["detail"] and why in ready.json()["detail"]
        r = client.post("/predict", json={"workload_kind": "Pod", "workload_name": "p", "containers": [{"name": "c"}]})
        assert r.status_code == 503 and why in r.json()["detail"]
    assert not marker.exists()


@pytest.mark.parametrize("hostile", CASES, ids=IDS, indirect=True)
def test_predict_cli_refuses_and_says_why(hostile, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    settings, marker, where, why = hostile
    code = main(["predict", str(EXAMPLES / "pod-guaranteed.yaml"), "--encoder", str(settings.encoder_path),
                 "--model", str(settings.model_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {where}") and why in err and "Traceback" not in err
    assert not marker.exists()


@pytest.mark.server
@pytest.mark.parametrize("hostile", [CASES[3], CASES[5]], ids=[IDS[3], IDS[5]], indirect=True)
def test_real_server_stays_unready(hostile, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`python -m app serve` under uvicorn, real HTTP on loopback: alive, never ready, marker absent."""
    settings, marker, where, why = hostile
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ENCODER_PATH": str(settings.encoder_path), "MODEL_PATH": str(settings.model_path)}
    cmd = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(cmd, base + "/healthz", tmp_path / "server.log", env=env, cwd=REPO):
        deadline = time.monotonic() + 60
        while (ready := httpx.get(base + "/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert where in ready.json()["detail"] and why in ready.json()["detail"]
        r = httpx.post(base + "/predict", content=json.dumps({"workload_kind": "Pod", "workload_name": "p",
                                                              "containers": [{"name": "c"}]}),
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 503
    log = (tmp_path / "server.log").read_text()
    assert [line for line in log.splitlines() if "cannot load the model" in line and why in line], log
    assert not marker.exists()


def test_serving_never_imports_the_converter(tiny_artifacts: tuple[Path, Path]) -> None:
    """The only code that unpickles (`app.pipelines.convert_joblib`) is not even imported by serving.

    (joblib itself is imported by scikit-learn, so its presence in sys.modules proves nothing either way.)
    """
    code = ("import sys; from app.serving.predictor import Predictor; "
            f"Predictor.load({str(tiny_artifacts[0])!r}, {str(tiny_artifacts[1])!r}); "
            "print('app.pipelines.convert_joblib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
