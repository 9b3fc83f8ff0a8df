"""The physics prior against values worked out by hand from the documented coefficients."""

from __future__ import annotations

import pytest

from app.core.schema import ContainerSpec, InferenceRequest
from app.ml.physics import physics_power_w
from app.workloads.convert import complete_request


def _req(**container: float | None) -> InferenceRequest:
    c = ContainerSpec(name="app", image="x", **container)  # type: ignore[arg-type]
    return complete_request(InferenceRequest(workload_kind="Deployment", workload_name="w", containers=[c]))


def test_requests_drive_the_prior() -> None:
    # 2 vCPU × (0.74 + 2.76 × 0.5) W + 4 GiB = 4.294967296 GB × 0.392 W
    assert physics_power_w(_req(req_cpu_mcpu=2000, req_mem_mib=4096)) == pytest.approx(2 * 2.12 + 4.294967296 * 0.392)


def test_limits_stand_in_for_missing_requests() -> None:
    # Kubernetes copies limits into unset requests; the prior sees 0.5 vCPU and 1 GiB
    assert physics_power_w(_req(lim_cpu_mcpu=500, lim_mem_mib=1024)) == pytest.approx(
        0.5 * 2.12 + 1.073741824 * 0.392)


def test_unset_resources_use_the_documented_defaults() -> None:
    # 100 mcpu and 256 MiB = 0.268435456 GB
    assert physics_power_w(_req()) == pytest.approx(0.1 * 2.12 + 0.268435456 * 0.392)


def test_gpus_add_100_w_each() -> None:
    base = _req(req_cpu_mcpu=1000, req_mem_mib=1024)
    gpu = base.model_copy(update={"gpu_count": 4})
    assert physics_power_w(gpu) - physics_power_w(base) == pytest.approx(400.0)
