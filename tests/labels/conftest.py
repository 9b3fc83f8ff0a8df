"""Session fixtures: small simulated clusters loaded into a real Prometheus (built once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import free_port, need_binary
from tests.prom_fixture import build_tsdb, run_prometheus


@dataclass
class SimProm:
    url: str
    cluster: object
    truth: pd.DataFrame
    dir: Path


def _serve(tmp: Path, cluster: object, groups: tuple[str, ...], schemas: tuple[str, ...]) -> Iterator[SimProm]:
    from app.simulate import ground_truth_frame, write_manifests, write_openmetrics

    prom = need_binary("prometheus", "apt-get install prometheus")
    promtool = need_binary("promtool", "apt-get install prometheus")
    om = write_openmetrics(cluster, tmp / "history.om", scrape_s=60, kepler_schemas=schemas, groups=groups)
    write_manifests(cluster, tmp / "manifests.yaml")
    build_tsdb(om, tmp / "data", promtool)
    om.unlink()
    with run_prometheus(tmp / "data", free_port(), prom) as url:
        yield SimProm(url, cluster, ground_truth_frame(cluster), tmp)


@pytest.fixture(scope="session")
def sim_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProm]:
    """Both Kepler schemas, kube-state-metrics and cAdvisor for ~20 workloads over 2 h."""
    from app.simulate import simulate_cluster

    cluster = simulate_cluster(seed=3, n_workloads=20, hours=2)
    yield from _serve(tmp_path_factory.mktemp("sim-prom"), cluster, ("kepler", "ksm", "cadvisor"), ("0.7", "0.10"))


@pytest.fixture(scope="session")
def sim_prom_no_owners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProm]:
    """Kepler ≥ 0.10 only, no kube-state-metrics: the builder must fall back to name suffixes."""
    from app.simulate import simulate_cluster

    cluster = simulate_cluster(seed=5, n_workloads=10, hours=1)
    yield from _serve(tmp_path_factory.mktemp("sim-prom-noksm"), cluster, ("kepler",), ("0.10",))
