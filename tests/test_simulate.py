"""Tests for the demo-cluster simulator (app/simulate/).

The OpenMetrics checks parse the written text with their own small parser and integrate the
counters the way Prometheus' increase() does (reset-aware, no extrapolation), independently of
the simulator's code, so they check the contract a label builder relies on.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.simulate import (
    FAMILIES,
    GROUND_TRUTH_COLUMNS,
    SimCluster,
    ground_truth_frame,
    node_truth_frame,
    simulate_cluster,
    write_cluster,
    write_manifests,
    write_openmetrics,
)

SMALL = {"seed": 11, "n_workloads": 28, "hours": 2.0}
SCRAPE_S = 60
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet",
                  "ReplicationController"}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+) (\d+(?:\.\d+)?)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


# ------------------------------------------------------------------------------------------
# fixtures and an independent OpenMetrics reader
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> SimCluster:
    return simulate_cluster(**SMALL)


@pytest.fixture(scope="module")
def truth(cluster: SimCluster) -> pd.DataFrame:
    return ground_truth_frame(cluster)


@pytest.fixture(scope="module")
def om_path(cluster: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_openmetrics(cluster, tmp_path_factory.mktemp("om") / "history.om", scrape_s=SCRAPE_S)


Series = dict[tuple[str, str], tuple[list[float], list[float]]]


@pytest.fixture(scope="module")
def series(om_path: Path) -> Series:
    """(sample name, raw label text) -> (times, values), in file order."""
    out: Series = {}
    types: dict[str, str] = {}
    families_seen: list[str] = []
    current = None
    lines = om_path.read_text(encoding="utf-8").splitlines()
    assert lines[-1] == "# EOF"
    for line in lines[:-1]:
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ")
            assert fam not in types, f"family {fam} declared twice"
            types[fam] = typ
            families_seen.append(fam)
            current = fam
            continue
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        assert m, line
        name, labels, value, ts = m.groups()
        assert current is not None and name in (current, current + "_total"), f"{name} outside its family"
        t, v = out.setdefault((name, labels), ([], []))
        t.append(float(ts))
        v.append(float(value))
    return out


def labels_of(raw: str) -> dict[str, str]:
    return dict(_LABEL.findall(raw))


def increase(values: list[float]) -> float:
    """Prometheus-style reset-aware increase over all samples (no extrapolation)."""
    total = 0.0
    for prev, cur in itertools.pairwise(values):
        total += cur - prev if cur >= prev else cur
    return total


def per_pod(series: Series, name: str, key: str, **match: str) -> dict[str, float]:
    """Sum of reset-aware increases per value of label `key`, over series matching `match`."""
    acc: dict[str, float] = defaultdict(float)
    for (n, raw), (_t, v) in series.items():
        if n != name:
            continue
        lab = labels_of(raw)
        if all(lab.get(k) == val for k, val in match.items()):
            acc[lab[key]] += increase(v)
    return acc


def close(a: float, b: float, rel: float = 1e-3) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=0.05)


# ------------------------------------------------------------------------------------------
# determinism and speed
# ------------------------------------------------------------------------------------------


def test_default_simulation_is_fast() -> None:
    t0 = time.perf_counter()
    c = simulate_cluster()
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"simulate_cluster() took {elapsed:.2f}s"
    assert len(c.pods) > 200


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = write_cluster(simulate_cluster(**SMALL, step_s=120), tmp_path / "a", scrape_s=300)
    b = write_cluster(simulate_cluster(**SMALL, step_s=120), tmp_path / "b", scrape_s=300)
    assert set(a) == {"manifests", "ground_truth", "history"}
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    other = write_manifests(simulate_cluster(seed=12, n_workloads=28, hours=2.0), tmp_path / "c.yaml")
    assert other.read_bytes() != a["manifests"].read_bytes()


def test_write_cluster_without_history(tmp_path: Path, cluster: SimCluster, truth: pd.DataFrame) -> None:
    paths = write_cluster(cluster, tmp_path, history=False)
    assert set(paths) == {"manifests", "ground_truth"}
    back = pd.read_parquet(paths["ground_truth"])
    pd.testing.assert_frame_equal(back, truth)


# ------------------------------------------------------------------------------------------
# manifests
# ------------------------------------------------------------------------------------------


def _pod_spec(doc: dict) -> dict:
    kind, spec = doc["kind"], doc["spec"]
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def test_manifests_parse_and_have_containers(tmp_path: Path) -> None:
    c = simulate_cluster()
    path = write_manifests(c, tmp_path / "manifests.yaml")
    text = path.read_text()
    assert "&id" not in text and "*id" not in text, "no YAML anchors/aliases"
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"] for d in docs}
    assert kinds >= WORKLOAD_KINDS
    assert {"Service", "ConfigMap", "Namespace"} <= kinds, "non-workload objects consumers must skip"
    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    assert len(workloads) == 120
    for d in workloads:
        assert d["apiVersion"] in ("apps/v1", "batch/v1", "v1")
        spec = _pod_spec(d)
        assert spec["containers"], d["metadata"]["name"]
        for ct in spec["containers"] + spec.get("initContainers", []):
            assert ct["name"] and ct["image"]
    namespaces = {d["metadata"].get("namespace") for d in workloads}
    assert {"shop", "data", "ml", "batch", "observability", "kube-system"} <= namespaces
    # field realism: some pods without CPU requests, GPUs, native sidecars, overhead, affinity, digests
    specs = [_pod_spec(d) for d in workloads]
    no_cpu = [s for s in specs if "cpu" not in (s["containers"][0].get("resources") or {}).get("requests",
                                                                                               {})]
    assert len(no_cpu) > 20
    assert any("nvidia.com/gpu" in (s["containers"][0].get("resources") or {}).get("limits",
                                                                                   {}) for s in specs)
    assert any(ic.get("restartPolicy") == "Always" for s in specs for ic in s.get("initContainers", []))
    assert any(ic.get("restartPolicy") is None for s in specs for ic in s.get("initContainers", []))
    assert any("overhead" in s for s in specs)
    assert any("affinity" in s for s in specs)
    assert "@sha256:" in text
    assert "helm.sh/chart" in text and "app.kubernetes.io/component" in text


def test_manifests_validate_against_kubernetes_schema(tmp_path: Path) -> None:
    kv = pytest.importorskip("kubernetes_validate",
                             reason="pip install kubernetes-validate (requirements-dev)")
    c = simulate_cluster(seed=3, n_workloads=40, hours=2.0)
    for doc in c.manifests:
        kv.validate(doc, "1.37.0", strict=True)


# ------------------------------------------------------------------------------------------
# ground truth
# ------------------------------------------------------------------------------------------


def test_ground_truth_columns_and_identity(truth: pd.DataFrame, cluster: SimCluster) -> None:
    assert list(truth.columns[: len(GROUND_TRUTH_COLUMNS)]) == list(GROUND_TRUTH_COLUMNS)
    assert len(truth) == len(cluster.pods) and truth["pod_uid"].is_unique
    assert (truth["duration_s"] > 0).all()
    assert truth.start_s.min() >= cluster.start_s and truth.end_s.max() <= cluster.end_s
    dep = truth[truth.workload_kind == "Deployment"]
    assert (dep.owner_kind == "ReplicaSet").all()
    assert all(o.startswith(w + "-") for o, w in zip(dep.owner_name, dep.workload_name, strict=True))
    cron = truth[truth.workload_kind == "CronJob"]
    assert (cron.owner_kind == "Job").all() and len(cron) >= 3
    assert all(re.fullmatch(rf"{re.escape(w)}-\d{{8}}", o) for o, w in zip(cron.owner_name,
                                                                           cron.workload_name,
                                                                          strict=True))
    bare = truth[truth.workload_kind == "Pod"]
    assert len(bare) and (bare.owner_kind == "").all() and (bare.workload_name == bare.pod).all()
    assert (truth[truth.workload_kind == "StatefulSet"].owner_kind == "StatefulSet").all()


def test_energy_components_add_up(truth: pd.DataFrame) -> None:
    t = truth
    np.testing.assert_allclose(t.energy_dynamic_j + t.energy_idle_j, t.total_energy_j, rtol=1e-9)
    np.testing.assert_allclose(t.energy_package_j + t.energy_dram_j + t.energy_gpu_j, t.total_energy_j,
                               rtol=1e-9)
    np.testing.assert_allclose(t.avg_power_w * t.duration_s, t.total_energy_j, rtol=1e-9)
    np.testing.assert_allclose(t.energy_step_j, t.avg_power_w * 60, rtol=1e-12)
    np.testing.assert_allclose(t.package_idle_j + t.dram_idle_j + t.gpu_idle_j, t.energy_idle_j, rtol=1e-9)
    assert (t.energy_idle_j == 0).all(), "Kepler 0.7 reports no idle power unless it is exposed"
    assert (t.energy_gpu_j[t.gpus == 0] == 0).all() and (t.energy_gpu_j[t.gpus > 0] > 0).all()
    # power per CPU core used: 0.7 shares the power above the lowest it saw, so at most (max - min) watts per
    # vCPU; 0.10 shares the package power scaled by the busy ratio, P_pkg / vcpus per core: between CCF's min
    # and max per vCPU
    core_s = t.cpu_cores_used * t.duration_s
    noise = 1.1  # RAPL readings carry a 2 % per-step noise
    assert (t.energy_package_j / core_s).between(0.0, 3.5 * noise - 0.74 / noise).all()
    pkg10 = t.package_dynamic_j / core_s
    assert pkg10.between(0.74 / noise, 3.5 * noise).all(), pkg10.describe()


def test_power_follows_usage_not_requests() -> None:
    """Idle services stay far below 0.1 W, power spans four orders of magnitude, requests do not set it."""
    t = ground_truth_frame(simulate_cluster())
    p10 = t.package_dynamic_j / t.duration_s
    for col in (t.avg_power_w, p10):
        assert col.max() / col.min() >= 1e4, "per-pod power must span >= 4 orders of magnitude"
    idle = t[(t.cores_mean <= 1.0001 * t.cores_floor) & (t.gpus == 0)]  # no traffic: runtime floor only
    assert len(idle) >= 10
    assert (idle.avg_power_w < 0.1).all() and idle.avg_power_w.median() < 0.02, idle.avg_power_w.describe()
    assert (idle.package_dynamic_j / idle.duration_s < 0.05).all()
    by = t.groupby("archetype").avg_power_w.median()
    assert by["frontend"] > 10 * by["go-api"], "a traffic-facing entry point is busier than a back-office API"
    assert by["ml-train"] > 100 and by["debug"] < 0.001
    # same request, very different power: usage is drawn independently of requests for services
    svc = t[t.archetype.isin(["gunicorn", "node", "go-api", "spring", "uvicorn"]) & (t.vcpus > 0)]
    assert np.corrcoef(np.log(svc.vcpus), np.log(svc.avg_power_w))[0, 1] < 0.6
    assert (t.cpu_cores_used > 0).all() and (t.mem_bytes_used > 0).all()


def test_kepler_attribution_invariants() -> None:
    """Per node: pods' shares + the system processes' share = the node quantity Kepler splits."""
    c = simulate_cluster(seed=5, n_workloads=30, hours=2.0, kepler07_idle=True)
    t = ground_truth_frame(c)
    nodes = node_truth_frame(c).set_index("node")
    per_node = t.groupby("node")[["energy_package_j", "package_idle_j", "energy_dram_j", "package_dynamic_j",
                                  "dram_dynamic_j", "gpu_idle_j"]].sum()
    for node, row in nodes.iterrows():
        pods = per_node.loc[node] if node in per_node.index else pd.Series(0.0, index=per_node.columns)
        pkg07 = pods.energy_package_j - pods.package_idle_j
        assert math.isclose(pkg07 + row.sys_pkg07_j, row.pkg_dyn07_j, rel_tol=1e-9), node
        assert math.isclose(pods.package_idle_j + row.sys_pkg_idle07_j, row.pkg_idle07_j, rel_tol=1e-9), node
        assert math.isclose(pods.energy_dram_j + row.sys_dram07_j + row.sys_dram_idle07_j, row.dram_j,
                            rel_tol=1e-9), node
        assert math.isclose(pods.package_dynamic_j + row.sys_pkg10_j, row.pkg_active10_j, rel_tol=1e-9), node
        assert math.isclose(pods.dram_dynamic_j + row.sys_dram10_j, row.dram_active10_j, rel_tol=1e-9), node
        assert math.isclose(pods.gpu_idle_j + row.sys_gpu_idle07_j, row.gpu_idle_j, rel_tol=1e-9, abs_tol=1e-9)
        assert row.pkg_active10_j < row.pkg_j and row.pkg_idle07_j < row.pkg_j
    # 0.7 idle is split evenly per process: the same watts per process for pods that share a node's life
    assert (t.energy_idle_j > 0).all()
    node0 = nodes.index[0]
    full = t[(t.node == node0) & (t.start_s <= c.start_s + 300) & (t.end_s == c.end_s)]
    per_proc = full.package_idle_j / (full.procs * full.duration_s)
    assert len(full) >= 2 and per_proc.max() / per_proc.min() < 1.05


def test_family_selection_and_holdout() -> None:
    held = ("mongodb", "haproxy", "dotnet")
    c = simulate_cluster(seed=9, n_workloads=60, hours=1.0, exclude_families=held)
    assert not set(held) & {p.archetype for p in c.pods}
    assert set(held).isdisjoint(c.families) and len(c.families) == len(FAMILIES) - 3
    only = simulate_cluster(seed=9, n_workloads=10, hours=1.0, families=["nginx", "postgres"])
    assert {p.archetype for p in only.pods} == {"nginx", "postgres"}
    with pytest.raises(ValueError, match="unknown software families"):
        simulate_cluster(families=["no-such-thing"])


def test_manifests_look_like_real_charts() -> None:
    c = simulate_cluster(seed=4)
    workloads = [d for d in c.manifests if d["kind"] in WORKLOAD_KINDS]
    shop = [d for d in workloads if d["metadata"]["labels"].get("app.kubernetes.io/instance") == "shop"]
    assert len(shop) >= 5 and len({d["metadata"]["labels"]["helm.sh/chart"] for d in shop}) == 1
    assert len({d["metadata"]["labels"]["app.kubernetes.io/version"] for d in shop}) == 1
    images = [ct["image"] for d in workloads for ct in _pod_spec(d)["containers"]]
    assert all(re.match(r"^[a-z0-9.-]+(:\d+)?/\S+$", i) for i in images), "registry-qualified images"
    assert sum("@sha256:" in i for i in images) >= 10
    no_cpu = [d for d in workloads if not any("cpu" in ((ct.get("resources") or {}).get("requests") or {})
                                              for ct in _pod_spec(d)["containers"])]
    assert len(no_cpu) / len(workloads) > 0.4
    mem_only = [d for d in workloads if set(_pod_spec(d)["containers"][0].get("resources") or {}) == {"limits"}
                and set(_pod_spec(d)["containers"][0]["resources"]["limits"]) == {"memory"}]
    assert mem_only


def test_simulator_imports_nothing_else_of_the_app() -> None:
    """The simulator is the independent ground truth: it may not share code with what it tests.

    The one exception is `app.core.kepler`, the names of Kepler's format (facts, not logic; see pyproject.toml).
    `from a import b` counts as importing `a.b`, so `from app.core import errors` is caught too.
    """
    import ast

    allowed = ("app.simulate", "app.core.kepler")
    root = Path(__file__).resolve().parent.parent / "app" / "simulate"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [f"{node.module or ''}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom)
                    else [])
            for m in mods:
                ok = not m.startswith("app.") or any(m == a or m.startswith(a + ".") for a in allowed)
                assert ok, f"{path.name} imports {m}"


def test_events_present(cluster: SimCluster, truth: pd.DataFrame) -> None:
    assert cluster.rollouts, "a Deployment rollout"
    r = cluster.rollouts[0]
    rs = truth[truth.workload_name == r.deployment].groupby("owner_name").end_s.max()
    assert rs[r.old_replicaset] < cluster.end_s and rs[r.new_replicaset] == cluster.end_s
    assert truth.completed.sum() >= 3, "completed Job pods"
    assert truth.container_restarts.sum() >= 1
    assert len(cluster.exporter_restarts) == 1
    assert cluster.scrape_gaps


# ------------------------------------------------------------------------------------------
# OpenMetrics history
# ------------------------------------------------------------------------------------------


def test_openmetrics_counters_monotonic_except_exporter_restart(series: Series, cluster: SimCluster) -> None:
    restart = cluster.exporter_restarts[0]
    drops_at_restart = 0
    for (name, raw), (t, v) in series.items():
        assert all(b > a for a, b in itertools.pairwise(t)), f"timestamps not increasing: {name}"
        if not name.endswith("_total"):
            continue
        lab = labels_of(raw)
        if name.startswith(("kepler_", "container_")) and lab.get("state") != "terminated":
            assert v[0] == 0.0, f"{name} must start at 0: {raw}"
        for i in range(1, len(v)):
            if v[i] < v[i - 1]:
                assert lab.get("job") == "kepler-exporter" and lab.get("instance") == restart.node, raw
                assert t[i - 1] == restart.time_s and t[i] == restart.time_s + 1, (t[i - 1], t[i])
                drops_at_restart += 1
    assert drops_at_restart > 0, "the documented exporter restart must be visible"


def test_counters_reproduce_ground_truth(series: Series, truth: pd.DataFrame) -> None:
    t = truth.set_index("pod")
    total = per_pod(series, "kepler_container_joules_total", "pod_name")
    dyn = per_pod(series, "kepler_container_joules_total", "pod_name", mode="dynamic")
    idle = per_pod(series, "kepler_container_joules_total", "pod_name", mode="idle")
    pkg = per_pod(series, "kepler_container_package_joules_total", "pod_name")
    dram = per_pod(series, "kepler_container_dram_joules_total", "pod_name")
    gpu = per_pod(series, "kepler_container_gpu_joules_total", "pod_name")
    other = per_pod(series, "kepler_container_other_joules_total", "pod_name")
    assert set(total) == set(t.index)
    for pod, row in t.iterrows():
        assert close(total[pod], row.total_energy_j), (pod, total[pod], row.total_energy_j)
        assert close(dyn[pod], row.energy_dynamic_j) and close(idle[pod], row.energy_idle_j), pod
        assert close(pkg[pod], row.energy_package_j) and close(dram[pod], row.energy_dram_j), pod
        assert close(gpu.get(pod, 0.0), row.energy_gpu_j), pod
        assert other[pod] == 0.0

    # Kepler >= 0.10: dynamic only; zones overlap; running + terminated counted once via increase()
    uid = truth.set_index("pod_uid")
    zones = {z: per_pod(series, "kepler_pod_cpu_joules_total", "pod_id", zone=z)
             for z in ("package", "core", "uncore", "dram", "psys")}
    cont_pkg = per_pod(series, "kepler_container_cpu_joules_total", "pod_id", zone="package")
    for pid, row in uid.iterrows():
        assert close(zones["package"][pid], row.package_dynamic_j), pid
        assert close(zones["dram"][pid], row.dram_dynamic_j), pid
        assert close(cont_pkg[pid], row.package_dynamic_j), pid
        assert zones["core"][pid] < zones["package"][pid] or row.package_dynamic_j < 1
        assert zones["psys"][pid] >= zones["package"][pid] + zones["dram"][pid] - 0.01

    # cAdvisor: real containers only (exclude pod cgroup "" and sandbox "POD")
    cpu: dict[str, float] = defaultdict(float)
    for (n, raw), (_t, v) in series.items():
        if n == "container_cpu_usage_seconds_total":
            lab = labels_of(raw)
            if lab["container"] not in ("", "POD"):
                cpu[lab["pod"]] += increase(v)
    for pod, row in t.iterrows():
        assert close(cpu[pod], row.cpu_cores_used * row.duration_s, rel=2e-3), pod


def test_terminated_series_and_owner_chains(series: Series, truth: pd.DataFrame) -> None:
    done = truth[truth.completed & (truth.workload_kind.isin(["Job", "CronJob"]))]
    assert len(done)
    found = 0
    for (n, raw), (_t, v) in series.items():
        if n == "kepler_pod_cpu_joules_total" and 'state="terminated"' in raw:
            lab = labels_of(raw)
            running = [vv for (nn, rr), (_tt, vv) in series.items() if nn == n and labels_of(rr) == {
                **lab, "state": "running"}]
            assert running and running[0][-1] == v[0] == v[-1]
            found += 1
    assert found
    owners = {labels_of(raw)["pod"]: labels_of(raw) for (n, raw) in series if n == "kube_pod_owner"}
    jobs = {labels_of(raw)["job_name"]: labels_of(raw) for (n, raw) in series if n == "kube_job_owner"}
    rsets = {labels_of(raw)["replicaset"]: labels_of(raw) for (n,
                                                               raw) in series if n == "kube_replicaset_owner"}
    for _, row in truth.iterrows():
        o = owners[row.pod]
        assert o["namespace"] == row.namespace and o["uid"] == row.pod_uid
        if row.workload_kind == "Pod":
            assert o["owner_kind"] == "<none>"
        elif row.workload_kind == "CronJob":
            assert jobs[o["owner_name"]]["owner_kind"] == "CronJob"
            assert jobs[o["owner_name"]]["owner_name"] == row.workload_name
        elif row.workload_kind == "Deployment":
            assert rsets[o["owner_name"]]["owner_name"] == row.workload_name
        else:
            assert o["owner_kind"] == row.owner_kind
    karp = {labels_of(raw)["name"] for (n, raw) in series if n == "karpenter_pods_state"}
    assert karp == set(truth.pod)


def test_scrape_gaps_are_missing(series: Series, cluster: SimCluster) -> None:
    gap = next(g for g in cluster.scrape_gaps if g.job == "kepler-exporter")
    allowed = {s for p in cluster.pods if p.node == gap.node for s in (p.start_s, p.end_s)}
    allowed |= {s for p in cluster.pods if p.node == gap.node for c in p.containers for _, a, b in c.segments
                for s in (a, b)}
    allowed |= {r.time_s + d for r in cluster.exporter_restarts for d in (0, 1)}
    checked = 0
    for (n, raw), (t, _v) in series.items():
        if n == "kepler_pod_cpu_joules_total" and f'instance="{gap.node}"' in raw:
            inside = [x for x in t if gap.from_s <= x < gap.to_s]
            assert all(x in allowed for x in inside), "only lifecycle/restart samples inside a gap"
            if t[0] < gap.from_s and t[-1] >= gap.to_s:
                assert max(b - a for a, b in itertools.pairwise(t)) > SCRAPE_S
                checked += 1
    assert checked


def test_openmetrics_schema_selection(tmp_path: Path, cluster: SimCluster) -> None:
    only_new = write_openmetrics(cluster, tmp_path / "new.om", scrape_s=600, kepler_schemas=("0.10",),
                                 groups=("kepler",)).read_text()
    assert "kepler_pod_cpu_joules_total" in only_new and "kepler_container_joules_total" not in only_new
    assert "kube_pod_owner" not in only_new and only_new.endswith("# EOF\n")
    with pytest.raises(ValueError):
        write_openmetrics(cluster, tmp_path / "x.om", kepler_schemas=("0.8",))


@pytest.mark.prometheus
def test_promtool_accepts_history(cluster: SimCluster, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        msg = "promtool not found; install it with: apt-get install prometheus"
        if IN_CI:
            pytest.fail(f"required under CI=true: {msg}")
        pytest.skip(msg)
    # every family, both Kepler schemas, the restart and the gaps; a coarser grid keeps it quick
    om_path = write_openmetrics(cluster, tmp_path / "history.om", scrape_s=300)
    proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om_path),
                           str(tmp_path / "blocks")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert any((tmp_path / "blocks").iterdir())


def test_node_counters_match_node_truth(series: Series, cluster: SimCluster) -> None:
    nodes = node_truth_frame(cluster).set_index("node")
    active = per_pod(series, "kepler_node_cpu_active_joules_total", "node_name", zone="package")
    total = per_pod(series, "kepler_node_cpu_joules_total", "node_name", zone="package")
    dyn07 = per_pod(series, "kepler_node_package_joules_total", "instance", mode="dynamic")
    idle07 = per_pod(series, "kepler_node_package_joules_total", "instance", mode="idle")
    assert set(active) == set(nodes.index)
    for node, row in nodes.iterrows():
        assert close(active[node], row.pkg_active10_j) and close(total[node], row.pkg_j), node
        assert close(dyn07[node], row.pkg_dyn07_j) and close(idle07[node], row.pkg_idle07_j), node


def test_kepler07_idle_counters_when_exposed(tmp_path: Path) -> None:
    c = simulate_cluster(seed=2, n_workloads=12, hours=0.9, kepler07_idle=True)
    t = ground_truth_frame(c).set_index("pod")
    text = write_openmetrics(c, tmp_path / "h.om", scrape_s=120, groups=("kepler",), kepler_schemas=("0.7",))
    idle: dict[str, float] = defaultdict(float)
    dram_idle: dict[str, float] = defaultdict(float)
    for line in text.read_text().splitlines():
        m = _LINE.match(line)
        if m and 'mode="idle"' in m.group(2):
            lab = labels_of(m.group(2))
            if m.group(1) == "kepler_container_joules_total":
                idle[(lab["pod_name"], lab["container_id"])] = float(m.group(3))  # last value per series
            elif m.group(1) == "kepler_container_dram_joules_total":
                dram_idle[(lab["pod_name"], lab["container_id"])] = float(m.group(3))
    by_pod: dict[str, float] = defaultdict(float)
    by_pod_dram: dict[str, float] = defaultdict(float)
    for (pod, _cid), v in idle.items():
        by_pod[pod] += v
    for (pod, _cid), v in dram_idle.items():
        by_pod_dram[pod] += v
    # no exporter restart in a window under 1 h, so the last value of each series is its increase
    assert not c.exporter_restarts and set(by_pod) == set(t.index)
    for pod, row in t.iterrows():
        assert close(by_pod[pod], row.energy_idle_j) and close(by_pod_dram[pod], row.dram_idle_j), pod
        assert row.energy_idle_j > 0
