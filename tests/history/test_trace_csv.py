"""Workload trace from CSV exports the test writes; expectations worked out by hand from the fixture."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pandas as pd
import pytest

from app.cli.main import main
from app.core.errors import InputError
from app.history.trace import NamespaceFilter, build
from app.history.trace_sources import read_csv_dir

T = 1_767_225_600  # grid: T, T+60, …, T+240
MI = 1024 * 1024

# pod -> (namespace, node, [(container, cpu cores, memory bytes)], timestamps it is reported at)
PODS = {
    "web-abc-1": ("shop", "node-a", [("app", 0.2, 200 * MI), ("proxy", 0.05, 56 * MI)], range(0, 5)),
    "web-abc-2": ("shop", "node-a", [("app", 0.2, 200 * MI), ("proxy", 0.05, 56 * MI)], range(0, 2)),
    "api-1-x": ("shop", "node-b", [("app", 0.5, 512 * MI)], range(1, 3)),
    "db-0": ("data", "node-a", [("db", 1.0, 2048 * MI)], range(0, 3)),
    "debug": ("data", "node-b", [("sh", 0.1, 64 * MI)], range(2, 5)),
    "report-1-abc": ("batch", "node-b", [("run", 0.3, 128 * MI)], range(0, 5)),
    "coredns-abc-1": ("kube-system", "node-a", [("coredns", 0.1, 70 * MI)], range(0, 5)),
}
NODES = {"node-a": ("m5.large", "default"), "node-b": ("c5.xlarge", "compute")}


def write_fixture(d: Path) -> Path:
    """The four exports, in the users' format, including the duplicated `name` column of Karpenter's."""
    req, state, owner = [], [], []
    for pod, (ns, node, containers, ticks) in PODS.items():
        for k in ticks:
            for cname, cpu, mem in containers:
                req.append(f"{T + 60 * k},{pod},{ns},{cpu},cpu,{node},{cname}")
                req.append(f"{T + 60 * k},{pod},{ns},{mem},memory,{node},{cname}")
            itype, pool = NODES[node]
            phase = "Succeeded" if pod == "report-1-abc" and k >= 3 else "Running"
            state.append(f"{T + 60 * k},karpenter_pods_state,{itype},{pod},{ns},{node},{pool},{phase}")
    # db-0 is re-created at T+180 with 2 cores (new requests)
    for k in (3, 4):
        req.append(f"{T + 60 * k},db-0,data,2.0,cpu,node-a,db")
        req.append(f"{T + 60 * k},db-0,data,{2048 * MI},memory,node-a,db")
        state.append(f"{T + 60 * k},karpenter_pods_state,m5.large,db-0,data,node-a,default,Running")
    owner += ["web-abc-1,web-abc,ReplicaSet", "web-abc-2,web-abc,ReplicaSet", "api-1-x,api-1,ReplicaSet",
              "db-0,db,StatefulSet", "debug,<none>,<none>", "report-1-abc,report-1,Job",
              "coredns-abc-1,coredns-abc,ReplicaSet"]
    (d / "kube_pod_container_resource_requests.csv").write_text(
        "timestamp,pod,namespace,value,resource,node,container\n" + "\n".join(req) + "\n")
    (d / "karpenter_pods_state.csv").write_text(
        "timestamp,name,instance_type,name,namespace,node,nodepool,phase\n" + "\n".join(state) + "\n")
    (d / "kube_pod_owner.csv").write_text("pod,owner_name,owner_kind\n" + "\n".join(owner) + "\n")
    (d / "kube_replicaset_owner.csv").write_text(
        "replicaset,owner_kind,owner_name\nweb-abc,Deployment,web\napi-1,Deployment,api\n"
        "coredns-abc,Deployment,coredns\n")
    return d


# (offset, namespace, nodepool, workload, kind, pods, cpu/pod, mem/pod, action) — by hand from PODS
EXPECTED = [
    (0, "batch", "compute", "report-1", "Job", 1, 0.3, 128 * MI, "create"),
    (0, "data", "default", "db", "StatefulSet", 1, 1.0, 2048 * MI, "create"),
    (0, "shop", "default", "web", "Deployment", 2, 0.25, 256 * MI, "create"),
    (60, "shop", "compute", "api", "Deployment", 1, 0.5, 512 * MI, "create"),
    (120, "data", "compute", "debug", "Pod", 1, 0.1, 64 * MI, "create"),
    (120, "shop", "default", "web", "Deployment", 1, 0.25, 256 * MI, "scale"),
    (180, "batch", "compute", "report-1", "Job", 0, 0.3, 128 * MI, "delete"),
    (180, "shop", "compute", "api", "Deployment", 0, 0.5, 512 * MI, "delete"),
    (180, "data", "default", "db", "StatefulSet", 1, 2.0, 2048 * MI, "scale"),
]


@pytest.fixture
def csv_dir(tmp_path: Path) -> Path:
    d = tmp_path / "exports"
    d.mkdir()
    return write_fixture(d)


def _rows(trace: pd.DataFrame) -> list[tuple]:
    return [(int(r.timestamp - T), r.namespace, r.nodepool, r.workload, r.owner_kind, int(r.pods),
             round(float(r.cpu_cores_per_pod), 6), int(r.memory_bytes_per_pod), r.action)
            for r in trace.itertuples()]


def test_trace_rows_match_hand_computed(csv_dir: Path) -> None:
    result = build(read_csv_dir(csv_dir))
    assert _rows(result.trace) == EXPECTED


def test_name_quirk_second_name_column_is_the_pod(csv_dir: Path) -> None:
    inputs = read_csv_dir(csv_dir)
    assert set(inputs.pod_states["pod"]) == set(PODS)


def test_namespace_filters(csv_dir: Path) -> None:
    inputs = read_csv_dir(csv_dir)
    with_sys = build(inputs, NamespaceFilter.from_flags(include=["kube-system"]))
    assert set(with_sys.trace["workload"]) == {"coredns"}
    assert with_sys.trace["owner_kind"].tolist() == ["Deployment"]  # Pod → ReplicaSet → Deployment
    no_shop = build(inputs, NamespaceFilter.from_flags(exclude=["shop"]))
    assert set(no_shop.trace["namespace"]) == {"data", "batch"}


def test_summaries_and_node_claims(csv_dir: Path) -> None:
    r = build(read_csv_dir(csv_dir))
    claims = {tuple(x) for x in r.node_claims[["node", "instance_type", "nodepool"]].itertuples(index=False)}
    assert claims == {("node-a", "m5.large", "default"), ("node-b", "c5.xlarge", "compute")}
    nodes = r.nodes.set_index("node")
    # node-a (kube-system excluded): web-abc-1, web-abc-2, db-0; peak CPU at T+180: web 0.25 + db 2.0
    assert nodes.loc["node-a", "pods"] == 3
    assert nodes.loc["node-a", "peak_pods"] == 3
    assert nodes.loc["node-a", "peak_cpu_cores_requested"] == pytest.approx(2.25)
    # node-b: api (T+60..120), debug (T+120..), report (T..T+120 running) → peak 3 pods at T+120, 0.9 cores
    assert nodes.loc["node-b", "peak_pods"] == 3
    assert nodes.loc["node-b", "peak_cpu_cores_requested"] == pytest.approx(0.9)
    pools = r.nodepools.set_index("nodepool")
    assert pools.loc["compute", "nodes"] == 1 and pools.loc["default", "pods"] == 3
    assert pools.loc["default", "peak_memory_bytes_requested"] == 2 * 256 * MI + 2048 * MI


def test_replay_objects_are_valid_kubernetes(csv_dir: Path) -> None:
    replay = build(read_csv_dir(csv_dir)).replay
    objs = list(replay["setup"])
    for step in replay["steps"]:
        objs += step["apply"] + step["scale"] + step["delete"]
    assert objs
    for o in objs:
        kubernetes_validate.validate(o, "1.30", strict=True)  # raises on any invalid object
    setup = {o["metadata"]["name"]: o for o in replay["setup"] if o["kind"] == "Deployment"}
    assert set(setup) == {"report-1", "db", "web"}
    web = setup["web"]
    assert web["spec"]["replicas"] == 2
    assert web["spec"]["template"]["spec"]["nodeSelector"] == {"karpenter.sh/nodepool": "default"}
    assert web["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "250m", "memory": str(256 * MI)}
    by_off = {s["offset_s"]: s for s in replay["steps"]}
    assert [o["spec"]["replicas"] for o in by_off[120]["scale"]] == [1]  # web 2 → 1: a Scale, same spec
    assert [o["metadata"]["name"] for o in by_off[180]["apply"]] == ["db"]  # new requests: re-applied
    assert by_off[180]["apply"][0]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] \
        == "2000m"
    assert sorted(o["metadata"]["name"] for o in by_off[180]["delete"]) == ["api", "report-1"]


def test_cli_trace_writes_outputs(csv_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["trace", "--csv-dir", str(csv_dir), "--out", str(out), "--format", "csv"]) == 0
    trace = pd.read_csv(out / "trace.csv", keep_default_na=False)
    assert _rows(trace) == EXPECTED
    assert json.loads((out / "replay.json").read_text())["kind"] == "TraceReplay"
    for name in ("allocation_nodes.csv", "allocation_nodepools.csv", "node_claims.csv"):
        assert len(pd.read_csv(out / name)) == 2


def test_missing_column_is_a_clear_error(csv_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (csv_dir / "kube_pod_owner.csv").write_text("pod,owner_kind\nx,ReplicaSet\n")
    with pytest.raises(InputError, match=r"kube_pod_owner\.csv.*owner_name"):
        read_csv_dir(csv_dir)
    assert main(["trace", "--csv-dir", str(csv_dir), "--out", str(csv_dir / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "owner_name" in err[0]


def test_step_buckets_unaligned_timestamps(csv_dir: Path) -> None:
    """Raw exports stamp each sample with its own scrape time; `step` puts them back on one grid."""
    for name in ("kube_pod_container_resource_requests.csv", "karpenter_pods_state.csv"):
        p = csv_dir / name
        df = pd.read_csv(p, dtype=str)
        df["timestamp"] = [str(int(t) + (i % 3) * 7) for i, t in enumerate(df["timestamp"])]  # 0, 7, 14 s late
        df.to_csv(p, index=False, header=[c.split(".")[0] for c in df.columns])  # keep the duplicate `name`
    inputs = read_csv_dir(csv_dir)
    assert _rows(build(inputs, step=60).trace) == EXPECTED
    assert _rows(build(inputs).trace) != EXPECTED
