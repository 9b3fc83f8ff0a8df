"""A real Prometheus over a small simulated cluster (kube-state-metrics, Karpenter, cAdvisor), once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import free_port, need_binary
from tests.prom_fixture import build_tsdb, run_prometheus

if TYPE_CHECKING:
    from app.simulate import SimCluster


@dataclass
class HistoryProm:
    url: str
    cluster: SimCluster
    dir: Path


@pytest.fixture(scope="session")
def history_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryProm]:
    """12 workloads over 1.5 h, scraped every 60 s; only the exporters the history tools read."""
    from app.simulate import simulate_cluster, write_openmetrics

    prom = need_binary("prometheus", "apt-get install prometheus")
    promtool = need_binary("promtool", "apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("history-prom")
    cluster = simulate_cluster(seed=3, n_workloads=12, hours=1.5)
    om = write_openmetrics(cluster, tmp / "history.om", scrape_s=60, groups=("ksm", "karpenter", "cadvisor"))
    build_tsdb(om, tmp / "data", promtool)
    om.unlink()
    with run_prometheus(tmp / "data", free_port(), prom) as url:
        yield HistoryProm(url, cluster, tmp)
