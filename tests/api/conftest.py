"""API fixtures: the real app on the `tiny_artifacts` model, through Starlette's TestClient.

Expected predictions are computed here from the label formula `tiny_artifacts` trained on
(k=1, so a spec from the training set predicts its own label), not read back from the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.core.settings import Settings

MIB = 2**20


def label_w(cpu_mcpu: float, mem_mib: float) -> float:
    """The tiny model's label: 1 W + 2 W per requested vCPU + 0.5 W per GiB requested (per pod)."""
    return 1.0 + 2.0 * cpu_mcpu / 1000 + 0.5 * mem_mib / 1024


# Effective requests worked out by hand from the example manifests.
POD_GUARANTEED_W = label_w(500 + 250, 256 + 160)  # nginx + runtime-class overhead
DEPLOYMENT_MULTI_W = label_w(max(1500 + 100 + 250, 4000), max(90e9 / MIB + 64 + 128, 2048))


def settings_for(artifacts: tuple[Path, Path], **overrides: object) -> Settings:
    enc, model = artifacts
    return Settings(encoder_path=enc, model_path=model, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tiny_artifacts: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tiny_artifacts), background=False)) as c:
        yield c
