"""kube-state-metrics owner records, read from Prometheus, resolved by the one owner rule.

`kube_pod_owner` gives each pod's direct owner; `kube_replicaset_owner` and `kube_job_owner` the
owners' own controllers. The rule that turns them into a workload is `app.workloads.owners`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.energy_labels.counters import RangeSource
from app.workloads.owners import NO_OWNER, Workload, guess_from_pod_name, top_controller

_OWNER_WINDOW_S = 86_400.0  # owner series are read in ≤ 1-day windows (stays under query.max-samples)


@dataclass
class Owners:
    """kube-state-metrics owner records: pod → direct owner, ReplicaSet/Job → their controller."""

    pods_by_uid: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # uid → ns, pod, kind, name
    pods_by_name: dict[tuple[str, str], list[tuple[str, str, str]]] = field(default_factory=dict)  # → uid,kind,name
    replicasets: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    jobs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    daemonsets: dict[tuple[str, str], str] = field(default_factory=dict)
    """(namespace, pod) → DaemonSet, inferred from placement when there are no pod owner records."""

    @property
    def has_pod_owners(self) -> bool:
        return bool(self.pods_by_uid or self.pods_by_name)

    def add_pod(self, labels: dict[str, str]) -> None:
        ns, pod, uid = labels.get("namespace", ""), labels.get("pod", ""), labels.get("uid", "")
        kind, name = labels.get("owner_kind", ""), labels.get("owner_name", "")
        ctrl = labels.get("owner_is_controller", "")
        if ctrl == "false" and (ns, pod) in self.pods_by_name:
            return  # prefer the controller owner
        if uid:
            self.pods_by_uid[uid] = (ns, pod, kind, name)
        recs = self.pods_by_name.setdefault((ns, pod), [])
        if (uid, kind, name) not in recs:
            recs.append((uid, kind, name))

    def uid_of(self, ns: str, pod: str) -> str | None:
        recs = self.pods_by_name.get((ns, pod), [])
        uids = {r[0] for r in recs if r[0]}
        return next(iter(uids)) if len(uids) == 1 else None

    def resolve(self, ns: str, pod: str, uid: str | None) -> Workload:
        """The pod's workload (kind, name, source) by `app.workloads.owners.top_controller`."""
        rec: tuple[str, str] | None = None
        if uid and uid in self.pods_by_uid:
            rec = self.pods_by_uid[uid][2:]
        elif self.pods_by_name.get((ns, pod)):
            rec = self.pods_by_name[(ns, pod)][-1][1:]
        if rec is None:
            daemonset = self.daemonsets.get((ns, pod))
            return Workload("DaemonSet", daemonset, "placement") if daemonset else guess_from_pod_name(pod)
        tables = {"ReplicaSet": self.replicasets, "Job": self.jobs}

        def parent_of(kind: str, name: str) -> tuple[str, str] | None:
            found = tables[kind].get((ns, name))
            return None if found is None else ("", "") if found[0] in NO_OWNER else found

        return top_controller(pod, *rec, parent_of=parent_of)


def _windows(start: float, end: float, width: float) -> list[tuple[float, float]]:
    out, t = [], start
    while True:
        e = min(end, t + width)
        out.append((t, e))
        if e >= end:
            return out
        t = e


def read_owners(source: RangeSource, start: float, end: float) -> Owners:
    """Owner records seen in [start, end] (last value per window of ≤ 1 day)."""
    own = Owners()
    groups = {
        "kube_pod_owner": "namespace, pod, uid, owner_kind, owner_name, owner_is_controller",
        "kube_replicaset_owner": "namespace, replicaset, owner_kind, owner_name",
        "kube_job_owner": "namespace, job_name, owner_kind, owner_name",
    }
    for s, e in _windows(start, end, _OWNER_WINDOW_S):
        w = max(1, math.ceil(e - s) + 1)
        for metric, by in groups.items():
            for series in source.query(f"group by ({by}) (last_over_time({metric}[{w}s]))", e):
                lab = series.labels
                if metric == "kube_pod_owner":
                    own.add_pod(lab)
                elif metric == "kube_replicaset_owner":
                    own.replicasets[(lab.get("namespace", ""), lab.get("replicaset", ""))] = (
                        lab.get("owner_kind", ""), lab.get("owner_name", ""))
                else:
                    own.jobs[(lab.get("namespace", ""), lab.get("job_name", ""))] = (
                        lab.get("owner_kind", ""), lab.get("owner_name", ""))
    return own
