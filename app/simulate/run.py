"""`simulate_cluster`: a seeded, deterministic demo cluster with exact per-pod Kepler ground truth.

Rule: one generator, seeded by ``seed``, draws everything in a fixed order: manifests, pod lives, placement,
usage, then the observation events; power follows from usage by `app.simulate.power`. Same arguments, same
bytes. ``families`` / ``exclude_families`` choose the software mix, so an evaluation can train on one cluster
and test on a differently seeded one with some families held out entirely.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.simulate.catalogue import SIDECARS, Family
from app.simulate.families import COVERAGE, FAMILIES
from app.simulate.model import SimCluster, SimContainer, SimNode, SimPod
from app.simulate.power import GPU_MODELS, NOISE_SIGMA, node_power, system_cores, system_procs, with_truth
from app.simulate.specs import Plan, SpecInfo, plan_workloads
from app.simulate.timeline import Draft, Names, choose_exporter_restart, choose_gaps, lay_out, place
from app.simulate.util import hexid, suffix, uid

MESH_NAMESPACE_PROB = 0.5  # chance that the shop namespace is labelled for mesh sidecar injection


def choose_families(families: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """The catalogue keys a cluster draws from, in coverage order; unknown names are an error."""
    chosen = list(COVERAGE) if families is None else list(families)
    unknown = sorted((set(chosen) | set(exclude)) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown software families {unknown}; choose from {sorted(FAMILIES)}")
    out = tuple(k for k in COVERAGE if k in chosen and k not in set(exclude))
    if not out:
        raise ValueError("no software family left to simulate")
    return out


def _workload_load(rng: np.random.Generator, fam: Family) -> float:
    """Mean cores a workload's traffic adds above its runtime floor (0 for an unused service)."""
    if fam.load_cores <= 0 or rng.random() < fam.p_unused:
        return 0.0
    return float(fam.load_cores * np.exp(rng.normal(0.0, fam.load_sigma)))


def _expected_cores(plan: Plan, load: float) -> float:
    """Cores a plan's pod is expected to use (for placement): app floor and load plus its sidecars'."""
    fam, info = plan.arch, plan.info
    app = info.running[0]
    app_load = app.cpu_request if fam.load_from_request and app.cpu_request else load
    side = sum(SIDECARS[c.name].idle_cores + SIDECARS[c.name].load_share * app_load for c in info.running[1:])
    return fam.idle_cores + app_load + side


def _pod_usage(rng: np.random.Generator, fam: Family, info: SpecInfo, load: float, vcpus: int
               ) -> tuple[list[float], list[float], float]:
    """Per running container: mean cores and idle-floor cores; and the pod's CPU cap (cores)."""
    app = info.running[0]
    jitter = float(np.exp(rng.normal(-0.5 * NOISE_SIGMA**2, NOISE_SIGMA)))
    if fam.load_from_request and app.cpu_request:
        app_load = app.cpu_request * float(rng.uniform(0.6, 1.0))  # CPU-bound: uses most of what it asks
    else:
        app_load = load * jitter
    means, floors = [], []
    for c in info.running:
        if c.role == "app":
            floor, mean = fam.idle_cores, fam.idle_cores + app_load
        else:
            sk = SIDECARS[c.name]
            floor, mean = sk.idle_cores, sk.idle_cores + sk.load_share * app_load
        means.append(mean)
        floors.append(floor)
    cap = info.cpu_cap if info.cpu_cap > 0 else float(vcpus)
    return means, floors, min(cap, float(vcpus))


def simulate_cluster(
    seed: int = 7,
    n_workloads: int = 120,
    start_s: int = 1_767_225_600,
    hours: float = 6.0,
    step_s: int = 60,
    *,
    families: Sequence[str] | None = None,
    exclude_families: Sequence[str] = (),
    kepler07_idle: bool = False,
) -> SimCluster:
    """Build a deterministic demo cluster: manifests, pods on nodes, usage, events, exact Kepler ground truth.

    ``n_workloads`` counts top-level workloads (node-agent DaemonSets included). The cluster comes up at
    ``start_s``: long-running pods start in its first two minutes, so every counter is observed from 0.
    ``families`` (default: all) and ``exclude_families`` pick the software mix from the catalogue.
    ``kepler07_idle``: Kepler 0.7 exposes idle power (as with RAPL on bare metal) instead of reporting 0
    for it (its default on VMs); schema 0.10 never gives idle power to pods.
    """
    if n_workloads < 1 or hours <= 0 or step_s <= 0:
        raise ValueError("n_workloads >= 1, hours > 0 and step_s > 0 are required")
    chosen = choose_families(families, exclude_families)
    rng = np.random.default_rng(seed)
    end_s = start_s + round(hours * 3600)
    mesh = frozenset({"shop"}) if rng.random() < MESH_NAMESPACE_PROB else frozenset()
    plans = plan_workloads(rng, n_workloads, start_s, end_s, chosen, mesh)
    loads = [_workload_load(rng, p.arch) for p in plans]
    load_of = {id(p): x for p, x in zip(plans, loads, strict=True)}
    drafts, rsets, jobs, rollouts = lay_out(rng, plans, start_s, end_s)
    placed = place(rng, drafts, start_s, end_s, {id(p): _expected_cores(p, load_of[id(p)]) for p in plans})
    _daemonset_drafts(rng, plans, drafts, placed, end_s, start_s)
    _container_restarts(rng, drafts)

    drafts.sort(key=lambda d: (d.start_s, d.plan.namespace, d.pod))
    node_by = {n.name: n for n in placed}
    pods = [_pod(rng, d, node_by[d.node].itype, load_of[id(d.plan)]) for d in drafts]

    sim_nodes = [SimNode(n.name, n.itype.name, n.itype.nodepool, n.itype.vcpus, n.itype.mem_gib, n.itype.gpus,
                         n.itype.gpu_model, n.start_s, n.end_s, n.ip, f"kepler-exporter-{suffix(rng)}",
                         system_cores(n.itype.vcpus), system_procs(n.itype.vcpus))
                 for n in placed]
    by_node: dict[str, list[SimPod]] = {}
    for p in pods:
        by_node.setdefault(p.node, []).append(p)
    npw = {n.name: node_power(n, by_node.get(n.name, []), start_s, step_s) for n in sim_nodes}
    pods = [with_truth(p, npw[p.node], start_s, step_s, kepler07_idle) for p in pods]

    restarts = choose_exporter_restart(rng, pods, sim_nodes, start_s, end_s)
    gaps = choose_gaps(rng, sim_nodes, start_s, end_s)
    offsets: dict[str, float] = {"ksm": float(rng.random()), "karpenter": float(rng.random())}
    for n in sim_nodes:
        offsets[f"kepler/{n.name}"] = float(rng.random())
        offsets[f"kubelet/{n.name}"] = float(rng.random())

    return SimCluster(
        seed=seed, start_s=start_s, end_s=end_s, step_s=step_s, manifests=_manifests(plans, mesh), pods=pods,
        nodes=sim_nodes, replicasets=rsets, jobs=jobs, rollouts=rollouts, exporter_restarts=restarts,
        scrape_gaps=gaps, scrape_offsets=offsets,
        ksm_pod=f"kube-state-metrics-{suffix(rng, 10)}-{suffix(rng)}", ksm_instance="10.0.0.23:8080",
        karpenter_pod=f"karpenter-{suffix(rng, 10)}-{suffix(rng)}", karpenter_instance="10.0.0.41:8000",
        node_power=npw, kepler07_idle=kepler07_idle, families=chosen,
    )


def _daemonset_drafts(rng: np.random.Generator, plans: list[Plan], drafts: list[Draft], nodes: list[Any],
                      end_s: int, start_s: int) -> None:
    """One pod of each DaemonSet on every node that lives long enough."""
    names = Names()
    for d in drafts:
        names.take(d.pod)
    for p in plans:
        if p.kind != "DaemonSet":
            continue
        for n in nodes:
            s = n.start_s + int(rng.integers(5, 40))
            if n.end_s - s < 60:
                continue
            drafts.append(Draft(p, names.pod(p.name, rng), "DaemonSet", p.name, "DaemonSet", p.name, s, n.end_s,
                                False, n.end_s, p.image, n.end_s >= end_s and n.start_s <= start_s, node=n.name))


def _container_restarts(rng: np.random.Generator, drafts: list[Draft]) -> None:
    """Container restarts (OOMKilled / liveness failures) on a few long-running pods."""
    cands = [d for d in drafts if d.long_running and d.end_s - d.start_s >= 2400]
    for j, d in enumerate(cands):
        if rng.random() < 0.06 or (j == len(cands) // 2 and not any(x.restarts for x in cands)):
            k = 1 + int(rng.random() < 0.3)
            ts = sorted({int(rng.integers(d.start_s + 900, d.end_s - 900)) for _ in range(k)})
            d.restarts = [t for i, t in enumerate(ts) if i == 0 or t - ts[i - 1] > 120]


def _pod(rng: np.random.Generator, d: Draft, it: Any, load: float) -> SimPod:
    """One pod record: containers with their usage shares, and the usage inputs of the power model."""
    info = d.plan.info
    fam = d.plan.arch
    means, floors, cap = _pod_usage(rng, fam, info, load, it.vcpus)
    total = sum(means)
    mem_w = np.array([c.mem_ws for c in info.running])
    bounds = [d.start_s, *d.restarts, d.end_s]
    containers = []
    for i, c in enumerate(info.running):
        if c.role == "app" and d.restarts:
            segs = tuple((hexid(rng), bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1))
        else:
            segs = ((hexid(rng), d.start_s, d.end_s),)
        image = d.image if c.role == "app" else c.image
        procs = fam.procs if c.role == "app" else SIDECARS[c.name].procs
        containers.append(SimContainer(c.name, image, c.role, c.is_init, means[i] / total,
                                       float(mem_w[i] / mem_w.sum()), c.gpus, c.cpu_request, c.mem_request, segs,
                                       procs))
    gidle, gmax = GPU_MODELS.get(it.gpu_model, (0.0, 0.0))
    typical = fam.idle_cores + fam.load_cores
    io_scale = min(max(total / typical, 0.001), 10.0) if typical > 0 else 0.001
    io = tuple(float(x * io_scale * np.exp(rng.normal(0.0, 0.2)))
               for x in (fam.fs_read, fam.fs_write, fam.net_rx, fam.net_tx))
    return SimPod(
        namespace=d.plan.namespace, workload_kind=d.workload_kind, workload_name=d.workload_name,
        pod=d.pod, pod_uid=uid(rng), node=d.node, instance_type=it.name, nodepool=it.nodepool,
        owner_kind=d.owner_kind, owner_name=d.owner_name, start_s=d.start_s, end_s=d.end_s,
        archetype=fam.key, qos_class=info.qos, completed=d.completed, deleted_s=d.deleted_s,
        sandbox_id=hexid(rng), containers=tuple(containers),
        init_requests=tuple((c.name, c.cpu_request, c.mem_request) for c in info.plain_inits),
        vcpus=info.vcpus, mem_gb=info.mem_gb * float(np.exp(rng.normal(0.0, 0.05))), gpus=info.gpus,
        gpu_model=it.gpu_model if info.gpus else "", gpu_idle_w=gidle, gpu_max_w=gmax,
        cores_mean=min(total, cap), cores_floor=min(sum(floors), cap), cpu_cap=cap,
        gpu_util_mean=fam.gpu_util * (1.0 if load > 0 or fam.load_from_request else 0.02),
        profile=fam.profile, warmup=fam.warmup, io_rates=io, profile_seed=int(rng.integers(0, 2**62)),
    )


def _manifests(plans: list[Plan], mesh: frozenset[str]) -> list[dict[str, Any]]:
    """Every object a user would apply, in apply order; no shared sub-objects (consumers may mutate)."""
    present = {p.namespace for p in plans}
    out: list[dict[str, Any]] = []
    for ns in sorted(present - {"kube-system"}):
        meta: dict[str, Any] = {"name": ns}
        if ns in mesh:
            meta["labels"] = {"istio-injection": "enabled"}
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    if any(p.overhead for p in plans):
        kata = {"podFixed": {"cpu": "250m", "memory": "160Mi"}}
        out.append({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "kata-qemu"},
                    "handler": "kata-qemu", "overhead": kata})
    for p in plans:
        out.extend(p.extra)
        out.append(p.manifest)
    return copy.deepcopy(out)
