"""Workload traces: what ran in the cluster, when, with what requests — and how to replay it.

Input is four kube-state-metrics / Karpenter series, already normalised by `app.history.trace_sources`
(CSV exports or Prometheus). The join is:

- `kube_pod_container_resource_requests` → per pod and timestamp: CPU cores and memory bytes
  requested (summed over the pod's containers), and the node;
- `kube_pod_owner` → `kube_replicaset_owner` → the top controller (Pod → ReplicaSet → Deployment;
  a bare pod is its own workload, kind `Pod`);
- `karpenter_pods_state` → nodepool and instance type of the pod's node; pods Karpenter reports as
  `Succeeded`/`Failed` (and not also `Running`) at a timestamp are not counted there.

The trace has one row per change of a (namespace, workload, owner kind, nodepool) group: `create`
when it appears, `scale` when its pod count or per-pod requests change, `delete` when it is gone.
A workload spread over two nodepools is two groups, so the replay can pin each to its nodepool.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.workloads.owners import top_controller

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
DEFAULT_EXCLUDED = frozenset({"kube-system"})
GROUP = ["namespace", "workload", "owner_kind", "nodepool"]
TRACE_COLUMNS = ["timestamp", "namespace", "nodepool", "workload", "owner_kind", "pods", "cpu_cores_per_pod",
                 "memory_bytes_per_pod", "action", "replay_name"]
REPLAY_IMAGE = "registry.k8s.io/pause:3.9"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
_NONE = {"", "<none>", "none", "nan"}


@dataclass
class TraceInputs:
    """Normalised inputs (see `app.history.trace_sources`).

    requests: timestamp, namespace, pod, resource, value, node — one row per container sample.
    pod_states: timestamp, namespace, pod, node, instance_type, nodepool, phase.
    pod_owners: namespace, pod, owner_kind, owner_name.  rs_owners: namespace, replicaset, owner_kind, owner_name.
    """

    requests: pd.DataFrame
    pod_states: pd.DataFrame
    pod_owners: pd.DataFrame
    rs_owners: pd.DataFrame


@dataclass(frozen=True)
class NamespaceFilter:
    """`include` (if non-empty) keeps only those namespaces; `exclude` drops some (kube-system by default).

    A namespace named in `include` is never excluded, so `--include-namespace kube-system` works.
    """

    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = DEFAULT_EXCLUDED

    @classmethod
    def from_flags(cls, include: Iterable[str] = (), exclude: Iterable[str] = ()) -> NamespaceFilter:
        inc = frozenset(include)
        return cls(include=inc, exclude=(DEFAULT_EXCLUDED | frozenset(exclude)) - inc)

    def mask(self, namespaces: pd.Series) -> pd.Series:
        keep = ~namespaces.isin(self.exclude)
        if self.include:
            keep &= namespaces.isin(self.include)
        return keep


@dataclass
class TraceResult:
    trace: pd.DataFrame
    pods: pd.DataFrame  # one row per pod and timestamp (the joined detail)
    nodes: pd.DataFrame
    nodepools: pd.DataFrame
    node_claims: pd.DataFrame
    replay: dict[str, Any] = field(default_factory=dict)


# -- the join ------------------------------------------------------------------------------------------


def _bucket(ts: pd.Series | np.ndarray, step: float | None) -> np.ndarray:
    t = np.asarray(ts, dtype=np.float64)
    return np.floor(t / step) * step if step else t


def _join_keys(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Join on namespace too when both sides know it (CSV exports may lack it)."""
    both = "namespace" in a and "namespace" in b and (a["namespace"] != "").any() and (b["namespace"] != "").any()
    return ["namespace", "pod"] if both else ["pod"]


def resolve_owners(pod_owners: pd.DataFrame, rs_owners: pd.DataFrame) -> pd.DataFrame:
    """Per pod: (owner_kind, workload) of the top controller, by the one owner rule (`app.workloads.owners`)."""
    po = pod_owners.copy()
    po["owner_kind"] = po["owner_kind"].astype(str).where(~po["owner_kind"].astype(str).isin(_NONE), "")
    po["owner_name"] = po["owner_name"].astype(str)
    # prefer a real owner row over a `<none>` one for the same pod
    po["_none"] = po["owner_kind"] == ""
    po = po.sort_values("_none").drop_duplicates(["namespace", "pod"], keep="first").drop(columns="_none")
    by_namespace = (po["namespace"] != "").any() and (rs_owners["namespace"] != "").any()
    parents: dict[tuple[str, str], tuple[str, str]] = {}
    for ns, rs, kind, name in zip(rs_owners["namespace"], rs_owners["replicaset"], rs_owners["owner_kind"].astype(str),
                                  rs_owners["owner_name"].astype(str), strict=True):
        parents[(ns if by_namespace else "", rs)] = ("", "") if kind in _NONE else (kind, name)
    kinds, names = [], []
    for ns, pod, kind, name in zip(po["namespace"], po["pod"], po["owner_kind"], po["owner_name"], strict=True):
        key_ns = ns if by_namespace else ""

        def parent_of(owner_kind: str, owner_name: str, key_ns: str = key_ns) -> tuple[str, str] | None:
            return parents.get((key_ns, owner_name)) if owner_kind == "ReplicaSet" else None

        found = top_controller(pod, kind, name, parent_of=parent_of)
        kinds.append(found.kind)
        names.append(found.name)
    po["owner_kind"], po["workload"] = kinds, names
    return po[["namespace", "pod", "owner_kind", "workload"]].reset_index(drop=True)


def pod_frame(inputs: TraceInputs, namespaces: NamespaceFilter | None = None,
              step: float | None = None) -> pd.DataFrame:
    """One row per (timestamp, pod): requests, node, nodepool, instance type, owner kind, workload.

    `step` buckets timestamps (floor) first, for exports whose samples are not on a common grid.
    """
    namespaces = namespaces or NamespaceFilter()
    req = inputs.requests
    req = req[req["resource"].isin(["cpu", "memory"]) & namespaces.mask(req["namespace"])].copy()
    req["timestamp"] = _bucket(req["timestamp"], step)
    # sum containers per sample time, then (when bucketing) take the last sample of each bucket
    per = req.pivot_table(index=["timestamp", "namespace", "pod"], columns="resource", values="value",
                          aggfunc="sum", fill_value=0.0)
    per = per.reindex(columns=["cpu", "memory"], fill_value=0.0).reset_index()
    per = per.rename(columns={"cpu": "cpu_cores", "memory": "memory_bytes"})
    nodes = req[req["node"].fillna("").astype(str) != ""].sort_values("timestamp")
    nodes = nodes.drop_duplicates(["timestamp", "namespace", "pod"], keep="last")
    per = per.merge(nodes[["timestamp", "namespace", "pod", "node"]], on=["timestamp", "namespace", "pod"],
                    how="left")

    st = inputs.pod_states.copy()
    st["timestamp"] = _bucket(st["timestamp"], step)
    keys = _join_keys(per, st)
    if len(st):
        # a pod counts unless Karpenter says it finished (and does not also still say Running)
        st["_terminal"] = st["phase"].isin(TERMINAL_PHASES)
        term = st.groupby(["timestamp", *keys])["_terminal"].all().reset_index()
        per = per.merge(term, on=["timestamp", *keys], how="left")
        per = per[~per["_terminal"].astype("boolean").fillna(False).to_numpy(dtype=bool)].drop(columns="_terminal")
        running = st[~st["_terminal"]] if (~st["_terminal"]).any() else st
        place = running.sort_values("timestamp").drop_duplicates(keys, keep="last")
        place = place[[*keys, "node", "instance_type", "nodepool"]].rename(columns={"node": "karpenter_node"})
        per = per.merge(place, on=keys, how="left")
        per["node"] = per["node"].where(per["node"].fillna("") != "", per["karpenter_node"])
        per = per.drop(columns="karpenter_node")
    else:
        per["instance_type"] = ""
        per["nodepool"] = ""

    owners = resolve_owners(inputs.pod_owners, inputs.rs_owners)
    okeys = _join_keys(per, owners)
    per = per.merge(owners[[*okeys, "owner_kind", "workload"]].drop_duplicates(okeys), on=okeys, how="left")
    missing = per["workload"].isna()
    per.loc[missing, "owner_kind"] = "Pod"
    per.loc[missing, "workload"] = per.loc[missing, "pod"]
    for c in ("node", "instance_type", "nodepool"):
        per[c] = per[c].fillna("").astype(str)
    cols = ["timestamp", "namespace", "pod", "node", "nodepool", "instance_type", "owner_kind", "workload",
            "cpu_cores", "memory_bytes"]
    return per[cols].sort_values(["timestamp", "namespace", "pod"]).reset_index(drop=True)


# -- the trace -----------------------------------------------------------------------------------------


def build_trace(pods: pd.DataFrame, grid: np.ndarray | None = None) -> pd.DataFrame:
    """Change rows per (namespace, workload, owner kind, nodepool) over the sorted timestamp `grid`.

    A group missing at a grid timestamp has 0 pods there: the first such timestamp after a run is
    a `delete`, the next timestamp it is back a `create`. Per-pod requests are the mean over the
    group's pods (they differ only mid-rollout); CPU is rounded to 1 µcore and memory to 1 byte so
    float noise is not a change.
    """
    grid = np.unique(pods["timestamp"].to_numpy()) if grid is None else np.asarray(grid, dtype=np.float64)
    if pods.empty:
        return pd.DataFrame(columns=TRACE_COLUMNS[:-1])
    g = pods.groupby(["timestamp", *GROUP], sort=False).agg(
        pods=("pod", "nunique"), cpu=("cpu_cores", "mean"), mem=("memory_bytes", "mean")).reset_index()
    g["cpu"] = g["cpu"].round(6)
    g["mem"] = g["mem"].round(0)
    g["pos"] = np.searchsorted(grid, g["timestamp"].to_numpy())
    g = g.sort_values([*GROUP, "pos"])
    rows: list[tuple[Any, ...]] = []
    for key, d in g.groupby(GROUP, sort=True):
        pos = d["pos"].to_numpy()
        n = d["pods"].to_numpy()
        cpu = d["cpu"].to_numpy()
        mem = d["mem"].to_numpy()
        for i in range(len(pos)):
            new_run = i == 0 or pos[i] != pos[i - 1] + 1
            if new_run:
                rows.append((grid[pos[i]], *key, int(n[i]), cpu[i], mem[i], "create"))
            elif n[i] != n[i - 1] or cpu[i] != cpu[i - 1] or mem[i] != mem[i - 1]:
                rows.append((grid[pos[i]], *key, int(n[i]), cpu[i], mem[i], "scale"))
            run_ends = i == len(pos) - 1 or pos[i + 1] != pos[i] + 1
            if run_ends and pos[i] + 1 < len(grid):
                rows.append((grid[pos[i] + 1], *key, 0, cpu[i], mem[i], "delete"))
    out = pd.DataFrame(rows, columns=["timestamp", *GROUP, "pods", "cpu_cores_per_pod", "memory_bytes_per_pod",
                                      "action"])
    order = {"delete": 0, "create": 1, "scale": 2}
    out["_o"] = out["action"].map(order)
    out = out.sort_values(["timestamp", "_o", *GROUP]).drop(columns="_o").reset_index(drop=True)
    return out[["timestamp", "namespace", "nodepool", "workload", "owner_kind", "pods", "cpu_cores_per_pod",
                "memory_bytes_per_pod", "action"]]


def allocation_summary(pods: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requested resources per node and per nodepool: pods seen, peak concurrent pods/CPU/memory, time span."""
    per_t = pods.groupby(["node", "timestamp"]).agg(
        pods=("pod", "nunique"), cpu=("cpu_cores", "sum"), mem=("memory_bytes", "sum")).reset_index()
    meta = pods.drop_duplicates("node", keep="last").set_index("node")[["nodepool", "instance_type"]]
    nodes = per_t.groupby("node").agg(
        peak_pods=("pods", "max"), peak_cpu_cores_requested=("cpu", "max"),
        peak_memory_bytes_requested=("mem", "max"), first_seen=("timestamp", "min"), last_seen=("timestamp", "max"))
    nodes["pods"] = pods.groupby("node")["pod"].nunique()
    nodes = nodes.join(meta).reset_index()
    nodes = nodes[["node", "nodepool", "instance_type", "pods", "peak_pods", "peak_cpu_cores_requested",
                   "peak_memory_bytes_requested", "first_seen", "last_seen"]]
    pt = pods.groupby(["nodepool", "timestamp"]).agg(
        pods=("pod", "nunique"), nodes=("node", "nunique"), cpu=("cpu_cores", "sum"),
        mem=("memory_bytes", "sum")).reset_index()
    pools = pt.groupby("nodepool").agg(
        peak_nodes=("nodes", "max"), peak_pods=("pods", "max"), peak_cpu_cores_requested=("cpu", "max"),
        peak_memory_bytes_requested=("mem", "max"), first_seen=("timestamp", "min"), last_seen=("timestamp", "max"))
    pools["nodes"] = pods.groupby("nodepool")["node"].nunique()
    pools["pods"] = pods.groupby("nodepool")["pod"].nunique()
    pools = pools.reset_index()[["nodepool", "nodes", "pods", "peak_nodes", "peak_pods", "peak_cpu_cores_requested",
                                 "peak_memory_bytes_requested", "first_seen", "last_seen"]]
    return nodes, pools


def node_claims(pod_states: pd.DataFrame) -> pd.DataFrame:
    """Unique (node, instance type, nodepool) Karpenter reported, with when it was seen."""
    cols = ["node", "instance_type", "nodepool"]
    st = pod_states[pod_states["node"].astype(str) != ""]
    if st.empty:
        return pd.DataFrame(columns=[*cols, "first_seen", "last_seen"])
    return (st.groupby(cols).agg(first_seen=("timestamp", "min"), last_seen=("timestamp", "max"))
            .reset_index().sort_values("first_seen", kind="stable").reset_index(drop=True))


# -- replay --------------------------------------------------------------------------------------------

_DNS = re.compile(r"[^a-z0-9-]+")


def _dns_label(text: str, limit: int = 63) -> str:
    """A DNS-1123 label; long or emptied names keep a short hash so they stay unique."""
    base = _DNS.sub("-", str(text).lower()).strip("-") or "w"
    if len(base) <= limit and base == str(text):
        return base
    h = hashlib.sha1(str(text).encode()).hexdigest()[:6]
    return f"{base[: limit - 7].rstrip('-')}-{h}" if len(base) > limit else base


def replay_names(trace: pd.DataFrame) -> pd.Series:
    """A unique Deployment name per group: the workload's name, suffixed with nodepool/kind when shared."""
    keys = trace[GROUP].drop_duplicates()
    keys = keys.assign(base=[_dns_label(w) for w in keys["workload"]])
    dup = keys.duplicated(["namespace", "base"], keep=False)
    names = []
    for (_, k), is_dup in zip(keys.iterrows(), dup, strict=True):
        names.append(_dns_label(f"{k['base']}-{k['nodepool'] or 'any'}-{k['owner_kind']}") if is_dup else k["base"])
    keys["replay_name"] = names
    return trace.merge(keys[[*GROUP, "replay_name"]], on=GROUP, how="left")["replay_name"]


def _cpu_quantity(cores: float) -> str:
    return f"{max(1, round(cores * 1000))}m"


def deployment_object(row: pd.Series | dict[str, Any], replicas: int) -> dict[str, Any]:
    """A real apps/v1 Deployment that reproduces the group's pods: same requests, pinned to its nodepool."""
    name = row["replay_name"]
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "k8spodpcp-trace"}
    requests: dict[str, str] = {}
    if float(row["cpu_cores_per_pod"]) > 0:
        requests["cpu"] = _cpu_quantity(float(row["cpu_cores_per_pod"]))
    if float(row["memory_bytes_per_pod"]) > 0:
        requests["memory"] = str(round(float(row["memory_bytes_per_pod"])))
    container: dict[str, Any] = {"name": "app", "image": REPLAY_IMAGE}
    if requests:
        container["resources"] = {"requests": requests}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if row["nodepool"]:
        pod_spec["nodeSelector"] = {NODEPOOL_LABEL: str(row["nodepool"])}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": str(row["namespace"]),
            "labels": labels,
            "annotations": {"k8spodpcp.io/workload": str(row["workload"]),
                            "k8spodpcp.io/owner-kind": str(row["owner_kind"]),
                            "k8spodpcp.io/nodepool": str(row["nodepool"])},
        },
        "spec": {
            "replicas": int(replicas),
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def scale_object(namespace: str, name: str, replicas: int) -> dict[str, Any]:
    """The autoscaling/v1 Scale subresource body: what `kubectl scale` sends."""
    return {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": int(replicas)}}


def replay_document(trace: pd.DataFrame) -> dict[str, Any]:
    """Objects to replay the trace: `setup` (Namespaces + the Deployments at the first timestamp), then `steps`.

    Each step holds `apply` (new Deployments, or ones whose per-pod requests changed), `scale`
    (Scale bodies for replica changes only) and `delete` (the Deployments to remove).
    """
    if trace.empty:
        return {"apiVersion": "k8spodpcp.io/v1", "kind": "TraceReplay", "start": None, "setup": [], "steps": []}
    t0 = float(trace["timestamp"].min())
    setup: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in sorted(trace["namespace"].unique()) if ns != "default"
    ]
    last: dict[str, pd.Series] = {}
    steps: list[dict[str, Any]] = []
    for ts, rows in trace.groupby("timestamp", sort=True):
        step: dict[str, list[dict[str, Any]]] = {"apply": [], "scale": [], "delete": []}
        for _, row in rows.iterrows():
            name = row["replay_name"]
            prev = last.get(name)
            if row["action"] == "delete":
                step["delete"].append(deployment_object(prev if prev is not None else row, 0 if prev is None
                                                        else int(prev["pods"])))
                last.pop(name, None)
                continue
            same_spec = prev is not None and (prev["cpu_cores_per_pod"] == row["cpu_cores_per_pod"]
                                              and prev["memory_bytes_per_pod"] == row["memory_bytes_per_pod"])
            if row["action"] == "scale" and same_spec:
                step["scale"].append(scale_object(row["namespace"], name, int(row["pods"])))
            else:
                step["apply"].append(deployment_object(row, int(row["pods"])))
            last[name] = row
        if float(ts) == t0 and not step["scale"] and not step["delete"]:
            setup.extend(step["apply"])
            continue
        steps.append({"timestamp": float(ts), "offset_s": float(ts) - t0, **step})
    return {"apiVersion": "k8spodpcp.io/v1", "kind": "TraceReplay", "start": t0, "setup": setup, "steps": steps}


def build(inputs: TraceInputs, namespaces: NamespaceFilter | None = None, step: float | None = None,
          grid: np.ndarray | None = None) -> TraceResult:
    """The whole join: pods frame → trace (+ replay names) → summaries, node claims, replay document."""
    pods = pod_frame(inputs, namespaces, step)
    if grid is None:
        ts = inputs.requests["timestamp"]
        grid = np.unique(_bucket(ts, step))  # timestamps where kube-state-metrics was observed at all
    trace = build_trace(pods, grid)
    trace["replay_name"] = replay_names(trace) if len(trace) else pd.Series(dtype=str)
    nodes, pools = allocation_summary(pods)
    st = inputs.pod_states.copy()
    st["timestamp"] = _bucket(st["timestamp"], step)
    return TraceResult(trace=trace, pods=pods, nodes=nodes, nodepools=pools, node_claims=node_claims(st),
                       replay=replay_document(trace))


# -- pricing -------------------------------------------------------------------------------------------


def replay_deployments(replay: dict[str, Any]) -> list[tuple[float, str, dict[str, Any]]]:
    """Every (timestamp, action, object) of a replay document in order; setup objects at its start."""
    t0 = float(replay.get("start") or 0.0)
    out = [(t0, "apply", o) for o in replay.get("setup", []) if o.get("kind") == "Deployment"]
    for step in replay.get("steps", []):
        for action in ("delete", "apply", "scale"):
            out.extend((float(step["timestamp"]), action, o) for o in step.get(action, []))
    return out


def price_replay(replay: dict[str, Any], power_per_pod: Any, source: str = "<replay>") -> tuple[
        pd.DataFrame, pd.DataFrame]:
    """Predicted power of every replayed workload over time, and the cluster total.

    `power_per_pod(requests) -> list[float]` is the model (watts per pod for each InferenceRequest,
    e.g. from `Predictor.predict_many`). Requests are built with `request_from_object` from the
    replay's own Deployment objects, so the price follows exactly the requests the trace recorded.
    Power is a step function: each row holds from its timestamp until the next one.
    Returns (per workload: timestamp, namespace, replay_name, workload, owner_kind, nodepool, pods,
    power_w_per_pod, power_w) and (total: timestamp, power_w, energy_j until the next timestamp).
    """
    from app.workloads.convert import request_from_object

    events = replay_deployments(replay)
    applied = [(i, o) for i, (_, a, o) in enumerate(events) if a == "apply"]
    reqs = [request_from_object(o, source, document=i) for i, o in applied]
    watts = list(power_per_pod(reqs)) if reqs else []
    per_obj = {i: float(w) for (i, _), w in zip(applied, watts, strict=True)}
    state: dict[tuple[str, str], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    times = sorted({t for t, _, _ in events})
    by_time: dict[float, list[int]] = {}
    for i, (t, _, _) in enumerate(events):
        by_time.setdefault(t, []).append(i)
    for t in times:
        for i in by_time[t]:
            _, action, obj = events[i]
            meta = obj.get("metadata", {})
            key = (str(meta.get("namespace", "default")), str(meta.get("name")))
            if action == "delete":
                state.pop(key, None)
            elif action == "scale":
                if key in state:
                    state[key]["pods"] = int(obj["spec"]["replicas"])
            else:
                ann = meta.get("annotations", {}) or {}
                state[key] = {"workload": ann.get("k8spodpcp.io/workload", key[1]),
                              "owner_kind": ann.get("k8spodpcp.io/owner-kind", "Deployment"),
                              "nodepool": ann.get("k8spodpcp.io/nodepool", ""),
                              "pods": int(obj["spec"].get("replicas", 1)), "w": per_obj[i]}
        for (ns, name), s in sorted(state.items()):
            rows.append({"timestamp": t, "namespace": ns, "replay_name": name, "workload": s["workload"],
                         "owner_kind": s["owner_kind"], "nodepool": s["nodepool"], "pods": s["pods"],
                         "power_w_per_pod": s["w"], "power_w": s["w"] * s["pods"]})
    per = pd.DataFrame(rows, columns=["timestamp", "namespace", "replay_name", "workload", "owner_kind", "nodepool",
                                      "pods", "power_w_per_pod", "power_w"])
    total = per.groupby("timestamp")["power_w"].sum().reindex(times, fill_value=0.0).rename_axis(
        "timestamp").reset_index()
    dt = np.diff(total["timestamp"].to_numpy(), append=total["timestamp"].to_numpy()[-1:]) if len(total) else []
    total["energy_j"] = total["power_w"].to_numpy() * np.asarray(dt, dtype=np.float64)
    return per, total
