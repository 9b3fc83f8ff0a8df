"""The trace read directly from a real Prometheus, checked against the simulator's own pods."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from app.adapters.prometheus import PromClient
from app.cli.main import main
from app.history.trace import build
from app.history.trace_sources import read_prometheus
from app.simulate import SimCluster
from tests.history.conftest import HistoryProm

pytestmark = pytest.mark.prometheus
LOOKBACK = 300


def _expected_pods(cluster: SimCluster) -> dict[tuple[float, str, str], tuple]:
    """(t, ns, pod) → (workload, kind, nodepool, cpu, mem) for pods that never complete, outside kube-system.

    Prometheus sees a series at t when it has a sample in [t − lookback, t]; kube-state-metrics samples a
    pod from its start to its deletion (missed scrapes are shorter than the lookback).
    """
    grid = np.arange(cluster.start_s, cluster.end_s + 1, 60, dtype=float)
    out = {}
    for p in cluster.pods:
        if p.completed or p.namespace == "kube-system":
            continue
        cpu = sum(c.cpu_request or 0.0 for c in p.containers if not c.is_init)
        mem = sum(c.mem_request or 0.0 for c in p.containers if not c.is_init)
        for t in grid[(grid >= p.start_s) & (grid <= p.deleted_s + LOOKBACK)]:
            out[(float(t), p.namespace, p.pod)] = (p.workload_name, p.workload_kind, p.nodepool, round(cpu, 6),
                                                   round(mem))
    return out


def _expected_changes(expected: dict, grid: np.ndarray) -> list[tuple]:
    """Change rows computed the plain way: walk the grid per group, emit a row whenever the state differs."""
    state: dict[tuple, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    for (t, ns, _pod), (wl, kind, pool, cpu, mem) in expected.items():
        state[(ns, wl, kind, pool)][t].append((cpu, mem))
    rows = []
    for key, by_t in state.items():
        prev = (0, None, None)
        for t in grid:
            pods = by_t.get(float(t), [])
            if pods:
                cur = (len(pods), round(np.mean([c for c, _ in pods]), 6), round(np.mean([m for _, m in pods])))
                if prev[0] == 0:
                    rows.append((float(t), *key, *cur, "create"))
                elif cur != prev:
                    rows.append((float(t), *key, *cur, "scale"))
                prev = cur
            elif prev[0]:
                rows.append((float(t), *key, 0, prev[1], prev[2], "delete"))
                prev = (0, None, None)
    return sorted(rows)


def test_trace_from_prometheus_matches_simulator(history_prom: HistoryProm) -> None:
    cl = history_prom.cluster
    with PromClient(history_prom.url) as client:
        inputs = read_prometheus(client, cl.start_s, cl.end_s, 60, LOOKBACK)
    result = build(inputs)
    expected = _expected_pods(cl)
    keep = {pod for (_, _, pod) in expected}
    pods = result.pods[result.pods["pod"].isin(keep)]
    got = {(float(r.timestamp), r.namespace, r.pod): (r.workload, r.owner_kind, r.nodepool, round(r.cpu_cores, 6),
                                                      round(r.memory_bytes))
           for r in pods.itertuples()}
    assert got == expected
    # pods that request nothing (BestEffort) are still traced, from kube_pod_owner
    assert any(v[3] == 0 and v[4] == 0 for v in expected.values())

    grid = np.arange(cl.start_s, cl.end_s + 1, 60, dtype=float)
    workloads = {(ns, v[0]) for (_, ns, _), v in expected.items()}
    tr = result.trace[[(ns, w) in workloads for ns, w in zip(result.trace["namespace"], result.trace["workload"],
                                                                  strict=True)]]
    got_rows = sorted((float(r.timestamp), r.namespace, r.workload, r.owner_kind, r.nodepool, int(r.pods),
                       round(r.cpu_cores_per_pod, 6), round(r.memory_bytes_per_pod), r.action)
                      for r in tr.itertuples())
    assert got_rows == _expected_changes(expected, grid)
    assert "kube-system" not in set(result.trace["namespace"])
    claims = {tuple(x) for x in result.node_claims[["node", "instance_type", "nodepool"]].itertuples(index=False)}
    assert claims == {(p.node, p.instance_type, p.nodepool) for p in cl.pods}


def test_cli_trace_from_prometheus(history_prom: HistoryProm, tmp_path: Path) -> None:
    cl = history_prom.cluster
    out = tmp_path / "t"
    rc = main(["trace", "--prom", history_prom.url, "--start", str(cl.start_s), "--end", str(cl.end_s),
               "--include-namespace", "kube-system", "--out", str(out)])
    assert rc == 0
    import pandas as pd

    trace = pd.read_parquet(out / "trace.parquet")
    daemonsets = {p.workload_name for p in cl.pods if p.workload_kind == "DaemonSet"}
    assert daemonsets and daemonsets <= set(trace.loc[trace["namespace"] == "kube-system", "workload"])
