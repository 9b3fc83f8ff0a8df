"""Labels at the edges of the data, against a real Prometheus holding hand-written counters.

The history is written here, not by the simulator: counters that started long before Prometheus'
first sample (a window reaching past the retention edge, or Prometheus started after Kepler),
genuinely new pods, a pod born seconds before the first scrape, restarts, and an `--end` between
two grid points — in both Kepler schemas. The expected energy of every pod is computed from the
same piecewise-linear counters in plain Python: the increase over what Prometheus holds, with a new
pod counted from zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from app.adapters.prometheus import PromClient
from app.energy_labels.build import build_labels
from tests.conftest import free_port, need_binary
from tests.prom_fixture import build_tsdb, run_prometheus

pytestmark = pytest.mark.prometheus

T0 = 1_765_000_007.0  # first scrape Prometheus holds (off the minute grid on purpose)
SCRAPE = 30.0
HORIZON = 3600.0


@dataclass(frozen=True)
class Counter:
    """A pod's energy counter: `base` joules at its birth, then `watts` until `end` (None: still running).

    `reset_at`: the exporter restarts there and the counter starts again from 0.
    """

    ns: str
    pod: str
    uid: str
    node: str
    born: float
    watts: float
    base: float = 0.0
    end: float | None = None
    reset_at: float | None = None
    owner: tuple[str, str] = ("<none>", "<none>")

    def value(self, t: float) -> float | None:
        if t < self.born or (self.end is not None and t > self.end):
            return None
        if self.reset_at is not None and t >= self.reset_at:
            return self.watts * (t - self.reset_at)
        return self.base + self.watts * (t - self.born)


PODS = [
    # running long before the data: 40 kJ already on the counter at the first sample
    Counter("shop", "api-7d9fb6c4b5-x2z9q", "u1", "node-1", born=T0 - 20_000, watts=2.0, base=0.0,
            owner=("ReplicaSet", "api-7d9fb6c4b5")),
    Counter("shop", "db-0", "u2", "node-2", born=T0 - 90_000, watts=5.0, owner=("StatefulSet", "db"),
            reset_at=T0 + 1800 + 13),
    # genuinely new pods, born inside the data
    Counter("batch", "report-29453760-abcde", "u3", "node-1", born=T0 + 1203, watts=3.0, end=T0 + 2403,
            owner=("Job", "report-29453760")),
    Counter("shop", "web-5d8f7c9b6d-qwert", "u4", "node-2", born=T0 + 2507, watts=1.5,
            owner=("ReplicaSet", "web-5d8f7c9b6d")),
    # born 10 s before the first scrape: its whole counter is energy of this window
    Counter("ml", "fresh", "u5", "node-1", born=T0 - 10, watts=4.0),
]


def _scrapes() -> list[float]:
    return [T0 + i * SCRAPE for i in range(int(HORIZON / SCRAPE) + 1)]


def _openmetrics(schema: str) -> str:
    lines = []
    if schema.endswith("+start-times"):  # kube-state-metrics' pod start times: the builder's first evidence
        schema = schema.removesuffix("+start-times")
        lines.append("# TYPE kube_pod_start_time gauge")
        for p in PODS:
            for t in _scrapes():
                if p.value(t) is not None:
                    lines.append(f'kube_pod_start_time{{namespace="{p.ns}",pod="{p.pod}",uid="{p.uid}"}} '
                                 f"{p.born:.0f} {t:.3f}")
    if schema == "0.7":
        lines.append("# TYPE kepler_container_joules counter")
        for p in PODS:
            for t in _scrapes():
                v = p.value(t)
                if v is not None:  # dynamic and idle halves, as Kepler 0.7 splits them
                    for mode, share in (("dynamic", 0.75), ("idle", 0.25)):
                        lines.append(f'kepler_container_joules_total{{container_namespace="{p.ns}",pod_name="{p.pod}",'
                                     f'container_id="c-{p.uid}",container_name="main",mode="{mode}"}} '
                                     f"{v * share:.6f} {t:.3f}")
    else:
        lines.append("# TYPE kepler_pod_cpu_joules counter")
        for p in PODS:
            for t in _scrapes():
                v = p.value(t)
                if v is not None:
                    lines.append(f'kepler_pod_cpu_joules_total{{pod_namespace="{p.ns}",pod_name="{p.pod}",'
                                 f'pod_id="{p.uid}",node_name="{p.node}",state="running",zone="package"}} '
                                 f"{v:.6f} {t:.3f}")
    lines.append("# TYPE kube_pod_owner gauge")
    for p in PODS:
        for t in _scrapes():
            if p.value(t) is not None:
                lines.append(f'kube_pod_owner{{namespace="{p.ns}",pod="{p.pod}",uid="{p.uid}",'
                             f'owner_kind="{p.owner[0]}",owner_name="{p.owner[1]}",owner_is_controller="true"}} '
                             f"1 {t:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def expected_energy(p: Counter, grid0: float, end: float) -> float:
    """Increase over the samples Prometheus holds up to `end`, from its value at the window's first grid
    point `grid0` (the latest sample within the 5-minute lookback); a pod first seen later counts from
    0 when it was born inside the window, from its first sample when it was already running."""
    seen = [(t, v) for t in _scrapes() if t <= end and (v := p.value(t)) is not None]
    before = [(t, v) for t, v in seen if t <= grid0]
    if before and grid0 - before[-1][0] <= 300:
        seen = [(t, v) for t, v in seen if t >= before[-1][0]]
        total = 0.0
    else:
        seen = [(t, v) for t, v in seen if t > grid0]
        total = seen[0][1] if p.born >= grid0 else 0.0
    for (_, a), (_, b) in itertools.pairwise(seen):
        total += b - a if b >= a else b
    if p.reset_at is not None and seen[0][0] < p.reset_at <= seen[-1][0]:  # energy from the last sample to the reset
        last_before = max(t for t, _ in seen if t < p.reset_at)
        total += p.watts * (p.reset_at - last_before)
    return total


@pytest.fixture(scope="module", params=["0.7", "0.10", "0.10+start-times"])
def edge_prom(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    prom = need_binary("prometheus", "apt-get install prometheus")
    promtool = need_binary("promtool", "apt-get install prometheus")
    tmp: Path = tmp_path_factory.mktemp(f"edges-{request.param}")
    om = tmp / "history.om"
    om.write_text(_openmetrics(request.param))
    build_tsdb(om, tmp / "data", promtool)
    with run_prometheus(tmp / "data", free_port(), prom) as url:
        yield request.param.removesuffix("+start-times"), url


def _by_pod(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {row["pod"]: row for _, row in frame.iterrows()}


@pytest.mark.parametrize("step", [15.0, 60.0])
def test_window_starting_before_the_data_counts_what_prometheus_holds(edge_prom: tuple[str, str],
                                                                      step: float) -> None:
    """The issue's case: --start before the first sample. Old counters are not booked from zero."""
    schema, url = edge_prom
    start, end = T0 - 95.0, T0 + HORIZON - 17.0  # --end between two grid points
    with PromClient(url) as client:
        result = build_labels(client, start, end, step, schema=schema, usage=False)
    got = _by_pod(result.frame)
    grid_start = math.floor(start / step) * step
    for p in PODS:
        want = expected_energy(p, grid_start, end)
        assert got[p.pod]["total_energy_j"] == pytest.approx(want, rel=0.02), (p.pod, want)
    assert any("first sample Prometheus holds" in n for n in result.notes), result.notes


def test_window_inside_the_data_is_unchanged(edge_prom: tuple[str, str]) -> None:
    schema, url = edge_prom
    start, end = T0 + 600.0, T0 + 3000.0
    with PromClient(url) as client:
        result = build_labels(client, start, end, 60.0, schema=schema, usage=False)
    got = _by_pod(result.frame)
    for p in PODS:
        want = expected_energy(p, math.floor(start / 60) * 60, end)
        assert got[p.pod]["total_energy_j"] == pytest.approx(want, rel=0.02), (p.pod, want)
    assert not any("first sample Prometheus holds" in n for n in result.notes)


def test_samples_after_the_last_grid_point_count_up_to_end(edge_prom: tuple[str, str]) -> None:
    schema, url = edge_prom
    start, end = T0 + 600.0, T0 + 600.0 + 25 * 60 + 50  # 50 s past the last minute
    with PromClient(url) as client:
        frame = build_labels(client, start, end, 60.0, schema=schema, usage=False).frame
    api = _by_pod(frame)["api-7d9fb6c4b5-x2z9q"]
    assert api["total_energy_j"] == pytest.approx(expected_energy(PODS[0], math.floor(start / 60) * 60, end), rel=1e-6)
    assert api["end_s"] == pytest.approx(max(t for t in _scrapes() if t <= end))


def test_owners_and_new_pods(edge_prom: tuple[str, str]) -> None:
    schema, url = edge_prom
    with PromClient(url) as client:
        frame = build_labels(client, T0 - 95.0, T0 + HORIZON, 60.0, schema=schema, usage=False).frame
    got = _by_pod(frame)
    assert (got["report-29453760-abcde"]["workload_kind"], got["report-29453760-abcde"]["workload_name"]) == (
        "CronJob", "report")
    assert got["api-7d9fb6c4b5-x2z9q"]["workload_kind"] == "Deployment"
    # the old pod's life in the labels starts at the first sample, not at an extrapolated birth
    assert got["api-7d9fb6c4b5-x2z9q"]["start_s"] == pytest.approx(T0, abs=1.0)
    assert got["fresh"]["start_s"] == pytest.approx(T0 - 10.0, abs=SCRAPE)
