"""Shared fixtures. Fixtures build their own data; tests needing a binary skip locally, fail in CI."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "example"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(condition: bool, reason: str) -> None:
    """Skip with `reason` when `condition` is false; under CI=true fail instead, so CI never hides a gap."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def need_binary(name: str, install_hint: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"`{name}` not found; install it with: {install_hint}")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small encoder + model fitted on the example manifests with labels from a known formula.

    Independent of the shipped default artifacts, so tests can reason about exact values.
    Label: 2 W per requested vCPU + 0.5 W per GiB requested + 1 W, per pod.
    """
    import pandas as pd

    from app.adapters.files import read_requests
    from app.ml.artifacts import save_encoder, save_model
    from app.ml.dataset import features_frame, join
    from app.pipelines.encoding import fit_encoder
    from app.pipelines.training import train_model
    from app.workloads.convert import complete_request

    reqs = []
    for f in sorted(EXAMPLES.glob("*.yaml")):
        reqs += read_requests(f).requests
    reqs = [complete_request(r) for r in reqs]
    assert len(reqs) >= 2, "example/ must hold at least two workloads"
    encoder = fit_encoder(reqs)
    feats = features_frame(reqs, encoder.transform(reqs))
    labels = pd.DataFrame({
        "namespace": [r.namespace for r in reqs],
        "workload_kind": [r.workload_kind for r in reqs],
        "workload_name": [r.workload_name for r in reqs],
        "pod": [f"{r.workload_name}-0" for r in reqs],
        "avg_power_w": [
            1.0 + 2.0 * (r.effective_req_cpu_mcpu or 0) / 1000 + 0.5 * (r.effective_req_mem_mib or 0) / 1024
            for r in reqs
        ],
    })
    rows, _ = join(feats, labels)
    model, card = train_model(rows, n_neighbors=1, n_splits=2)
    d = tmp_path_factory.mktemp("tiny-artifacts")
    enc_path = save_encoder(encoder, d / "encoder.npz")
    model_path, _ = save_model(model, card, d / "knn_energy.npz", encoder_path=enc_path)
    return enc_path, model_path
