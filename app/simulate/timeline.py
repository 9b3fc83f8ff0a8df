"""Pod lives and placement: replicas, rollouts, Jobs, CronJob runs, bare pods, Karpenter nodes, and the
observation events (a Kepler exporter restart, missed scrapes).

Rule: every instant is drawn from the caller's generator in a fixed order, so the same seed lays out the same
cluster. Placement packs long-running pods by their *requests* as the scheduler does (pods that request
nothing pack freely, bounded by memory), and gives each GPU pod its own node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from app.simulate.catalogue import GENERAL_TYPES, GENERAL_WEIGHTS, INSTANCE_TYPES, InstanceType
from app.simulate.model import ExporterRestart, ScrapeGap, SimNode, SimOwner, SimPod, SimRollout
from app.simulate.specs import Plan
from app.simulate.util import GI, suffix


def _cron_field(spec: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/")
            step = int(s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-"))
        else:
            a = b = int(part)
            if step > 1:
                b = hi
        out.update(range(a, b + 1, step))
    return out


def cron_times(schedule: str, start_s: int, end_s: int) -> list[int]:
    """Scheduled times (UTC) of a minute/hour cron expression inside [start_s, end_s)."""
    minute, hour = schedule.split()[:2]
    mins, hours = _cron_field(minute, 0, 59), _cron_field(hour, 0, 23)
    t = (start_s + 59) // 60 * 60
    out = []
    while t < end_s:
        if (t // 60) % 60 in mins and (t // 3600) % 24 in hours:
            out.append(t)
        t += 60
    return out




@dataclass
class Draft:
    """One pod's life before it becomes a `SimPod`: which plan, which owner, when, where."""

    plan: Plan
    pod: str
    workload_kind: str
    workload_name: str
    owner_kind: str
    owner_name: str
    start_s: int
    end_s: int
    completed: bool
    deleted_s: int
    image: str
    long_running: bool
    node: str = ""
    restarts: list[int] = field(default_factory=list)


@dataclass
class PlacedNode:
    """A node as placement sees it: what is left to pack onto it."""

    name: str
    itype: InstanceType
    start_s: int
    end_s: int
    ip: str
    free_cpu: float
    free_mem: float
    slots: int = 29  # EKS max-pods of an m5.xlarge (ENI limit): pods without requests still fill a node


class Names:
    """Unique pod/node names (collisions are astronomically rare but would break joins)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def pod(self, base: str, rng: np.random.Generator) -> str:
        while True:
            n = f"{base}-{suffix(rng)}"
            if n not in self.seen:
                self.seen.add(n)
                return n

    def take(self, n: str) -> str:
        self.seen.add(n)
        return n


def lay_out(
    rng: np.random.Generator, plans: list[Plan], start_s: int, end_s: int,
) -> tuple[list[Draft], list[SimOwner], list[SimOwner], list[SimRollout]]:
    """Lay out every pod's life: replicas, rollouts, Jobs, CronJob runs, bare pods."""
    names = Names()
    drafts: list[Draft] = []
    rsets: list[SimOwner] = []
    jobs: list[SimOwner] = []
    rollouts: list[SimRollout] = []
    dur = end_s - start_s

    def draft(p: Plan, pod: str, ok: str, on: str, s: int, e: int, *, completed: bool = False,
              deleted: int | None = None, image: str | None = None, long: bool = False) -> None:
        drafts.append(Draft(p, pod, p.kind, p.name, ok, on, s, e, completed,
                             e if deleted is None else deleted, image or p.image, long))

    for p in plans:
        a = p.arch
        if p.kind == "Deployment":
            new_hash = suffix(rng, 10)
            if p.rollout:
                old_hash = suffix(rng, 10)
                t_roll = start_s + int(dur * rng.uniform(0.3, 0.7))
                old_rs, new_rs = f"{p.name}-{old_hash}", f"{p.name}-{new_hash}"
                rsets.append(SimOwner("ReplicaSet", p.namespace, old_rs, "Deployment", p.name, start_s,
                                      end_s))
                rsets.append(SimOwner("ReplicaSet", p.namespace, new_rs, "Deployment", p.name, t_roll, end_s))
                last = t_roll
                for i in range(p.replicas):
                    s0 = start_s + int(rng.integers(0, 120))
                    s1 = t_roll + 40 * i + int(rng.integers(0, 8))
                    e0 = s1 + int(rng.integers(15, 35))
                    last = max(last, e0)
                    draft(p, names.pod(old_rs, rng), "ReplicaSet", old_rs, s0, e0, image=p.old_image,
                          long=True)
                    draft(p, names.pod(new_rs, rng), "ReplicaSet", new_rs, s1, end_s)
                rollouts.append(SimRollout(p.namespace, p.name, old_rs, new_rs, t_roll, last, p.old_image,
                                           p.image))
            else:
                rs = f"{p.name}-{new_hash}"
                rsets.append(SimOwner("ReplicaSet", p.namespace, rs, "Deployment", p.name, start_s, end_s))
                for _ in range(p.replicas):
                    draft(p, names.pod(rs, rng), "ReplicaSet", rs, start_s + int(rng.integers(0, 120)), end_s,
                          long=True)
        elif p.kind == "StatefulSet":
            t0 = start_s + int(rng.integers(0, 60))
            for i in range(p.replicas):
                draft(p, names.take(f"{p.name}-{i}"), "StatefulSet", p.name, t0 + 25 * i, end_s, long=True)
        elif p.kind in ("ReplicaSet", "ReplicationController"):
            if p.kind == "ReplicaSet":
                rsets.append(SimOwner("ReplicaSet", p.namespace, p.name, "", "", start_s, end_s))
            for _ in range(p.replicas):
                draft(p, names.pod(p.name, rng), p.kind, p.name, start_s + int(rng.integers(0, 120)), end_s,
                      long=True)
        elif p.kind == "Job":
            lo, hi = a.duration_s
            s = start_s + int(dur * rng.uniform(0.02, 0.6))
            run = int(rng.integers(lo, hi + 1))
            e = min(s + run, end_s)
            done = s + run <= end_s
            deleted = min(end_s, e + p.ttl_s) if (done and p.ttl_s is not None) else end_s
            jobs.append(SimOwner("Job", p.namespace, p.name, "", "", s - 2, deleted))
            for _ in range(p.replicas):
                draft(p, names.pod(p.name, rng), "Job", p.name, s + int(rng.integers(0, 5)), e,
                      completed=done, deleted=deleted)
        elif p.kind == "CronJob":
            lo, hi = a.duration_s
            runs: list[tuple[str, int, int, bool]] = []
            for t in cron_times(p.schedule, start_s, end_s):
                s = t + int(rng.integers(1, 7))
                run = int(rng.integers(lo, hi + 1))
                e = min(s + run, end_s)
                if e - s < 30:
                    continue
                runs.append((f"{p.name}-{t // 60}", s, e, s + run <= end_s))
            for k, (job, s, e, done) in enumerate(runs):
                # successfulJobsHistoryLimit: 3 -> deleted when the third later run completes
                later = [r for r in runs[k + 1:] if r[3]]
                deleted = later[2][2] if done and len(later) >= 3 else end_s
                jobs.append(SimOwner("Job", p.namespace, job, "CronJob", p.name, s - 1, deleted))
                draft(p, names.pod(job, rng), "Job", job, s, e, completed=done, deleted=deleted)
                drafts[-1].workload_kind = "CronJob"
        elif p.kind == "Pod":
            if a.duration_s[1]:
                s = start_s + int(dur * rng.uniform(0.05, 0.7))
                run = int(rng.integers(a.duration_s[0], a.duration_s[1] + 1))
                e = min(s + run, end_s)
                done = s + run <= end_s
                draft(p, names.take(p.name), "", "", s, e, completed=done, deleted=end_s if done else e)
            else:
                s = start_s + int(dur * rng.uniform(0.0, 0.3))
                e = end_s if rng.random() < 0.6 else min(end_s, s + max(600, int(dur * rng.uniform(0.2,
                                                                                                   0.5))))
                draft(p, names.take(p.name), "", "", s, e)
        # DaemonSets are laid out after the nodes exist
    return drafts, rsets, jobs, rollouts


def _node_name(rng: np.random.Generator, names: Names) -> tuple[str, str]:
    while True:
        a, b = int(rng.integers(0, 64)), int(rng.integers(2, 254))
        n = f"ip-10-0-{a}-{b}.ec2.internal"
        if n not in names.seen:
            names.take(n)
            return n, f"10.0.{a}.{b}"


def place(rng: np.random.Generator, drafts: list[Draft], start_s: int, end_s: int,
          usage: dict[int, float] | None = None) -> list[PlacedNode]:
    """Karpenter-ish placement: bin-pack long-running pods, one GPU node per GPU pod.

    ``usage`` (cores a plan's pod is expected to use, by ``id(plan)``) keeps a node from being packed past
    what its CPUs can run: the scheduler packs by requests, but a cluster whose nodes sit saturated gets
    rebalanced by its operators, and usage beyond a node's CPUs is physically impossible.
    """
    nodes: list[PlacedNode] = []
    names = Names()

    def new_node(itype: str, s: int, e: int) -> PlacedNode:
        name, ip = _node_name(rng, names)
        it = INSTANCE_TYPES[itype]
        n = PlacedNode(name, it, s, e, ip, it.vcpus * 0.9 - 0.3, it.mem_gib * GI * 0.9 - 0.3e9)
        nodes.append(n)
        return n

    order = sorted(range(len(drafts)), key=lambda i: (not drafts[i].long_running, drafts[i].start_s, i))
    for i in order:
        d = drafts[i]
        info = d.plan.info
        if info.gpus:
            itype = info.allowed_types[0]
            n = new_node(itype, max(start_s, d.start_s - 120), min(end_s, d.end_s + 90))
            d.node = n.name
            continue
        allowed = info.allowed_types or GENERAL_TYPES
        cpu = max(info.vcpus, 1.5 * (usage or {}).get(id(d.plan), 0.0))
        mem = max(info.mem_gb * 1e9, sum(c.mem_request or 0.0 for c in info.running))
        general = [n for n in nodes if n.itype.name in allowed and n.end_s >= end_s and n.start_s <= start_s]
        if d.long_running:
            fit = next((n for n in general if n.free_cpu >= cpu and n.free_mem >= mem and n.slots > 0), None)
            if fit is None:
                cands = [t for t in GENERAL_TYPES if t in allowed]
                wts = np.array([GENERAL_WEIGHTS[GENERAL_TYPES.index(t)] for t in cands])
                itype = str(rng.choice(cands, p=wts / wts.sum()))
                it = INSTANCE_TYPES[itype]
                if it.vcpus * 0.9 - 0.3 < cpu or it.mem_gib * GI * 0.8 < mem:
                    itype = max(cands, key=lambda t: (INSTANCE_TYPES[t].vcpus, INSTANCE_TYPES[t].mem_gib))
                fit = new_node(itype, start_s, end_s)
            fit.free_cpu -= cpu
            fit.free_mem -= mem
            fit.slots -= 1
            d.node = fit.name
        else:
            if not general:
                cands = [t for t in GENERAL_TYPES if t in allowed]
                general = [new_node(cands[0], start_s, end_s)]
            d.node = general[int(rng.integers(len(general)))].name
    if not any(n.start_s <= start_s and n.end_s >= end_s for n in nodes):
        new_node("m5.2xlarge", start_s, end_s)  # a cluster always has a node (for its DaemonSets)
    return nodes



def choose_exporter_restart(
    rng: np.random.Generator, pods: list[SimPod], nodes: list[SimNode], start_s: int, end_s: int,
) -> list[ExporterRestart]:
    """One Kepler restart on a busy node, away from pod/container start and end instants.

    Why the margins: Prometheus detects a reset only when the value drops; a counter that had
    just started (or a pod that ends right after) could hide the drop, and the ground truth must
    stay recoverable.
    """
    if end_s - start_s < 3600:
        return []
    full = [n for n in nodes if n.start_s <= start_s and n.end_s >= end_s]
    if not full:
        return []
    by_node: dict[str, list[SimPod]] = {}
    for p in pods:
        by_node.setdefault(p.node, []).append(p)
    full.sort(key=lambda n: -len(by_node.get(n.name, [])))
    node = full[int(rng.integers(min(3, len(full))))]
    edges = []
    for p in by_node.get(node.name, []):
        edges += [p.start_s, p.end_s]
        for c in p.containers:
            for _, a, b in c.segments:
                edges += [a, b]
    e = np.array(sorted(edges), dtype=np.int64)
    for _ in range(500):
        t = start_s + int((end_s - start_s) * rng.uniform(0.3, 0.7))
        if not np.any((e > t - 600) & (e < t + 120)):
            return [ExporterRestart(node.name, t)]
    return []


def choose_gaps(rng: np.random.Generator, nodes: list[SimNode], start_s: int, end_s: int) -> list[ScrapeGap]:
    """A few missed scrapes: one Kepler target, one kubelet target, kube-state-metrics, and all jobs once."""
    dur = end_s - start_s
    if dur < 1800 or not nodes:
        return []

    def t0() -> int:
        return start_s + int(dur * rng.uniform(0.1, 0.9))

    gaps = [
        ScrapeGap("kepler-exporter", nodes[int(rng.integers(len(nodes)))].name, (a := t0()), a + 75),
        ScrapeGap("kubelet", nodes[int(rng.integers(len(nodes)))].name, (b := t0()), b + 45),
        ScrapeGap("kube-state-metrics", "*", (c := t0()), c + 60),
        ScrapeGap("*", "*", (d := t0()), d + 35),
    ]
    return gaps

