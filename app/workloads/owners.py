"""Which workload a pod belongs to: the one owner resolver (labels, traces and the kubelet collector).

The rule, decided once:

* A pod's controller reference (`ownerReferences[controller=true]`, or kube-state-metrics'
  `kube_pod_owner`) names its direct owner. No owner, or a `Node` (a static pod's mirror), makes
  the pod its own workload: kind `Pod`. A DaemonSet, StatefulSet, ReplicationController or any
  other owner is the workload itself.
* A ReplicaSet's pods belong to the ReplicaSet's own controller (a Deployment) when it has one; a
  ReplicaSet with none is the workload.
* A Job's pods belong to the Job's controller: a **CronJob's runs are the CronJob**, the object
  a user writes and prices; a Job with no controller is the workload.
* When the parent of a ReplicaSet or Job is not known (no `kube_replicaset_owner` /
  `kube_job_owner`, or the kubelet, which sees pods only), it is inferred from names the
  controllers generate: `<deployment>-<pod-template-hash>` (the hash also in the pod's
  `pod-template-hash` label) and `<cronjob>-<scheduled time in minutes>` (Kubernetes'
  CronJob controller, `getJobName`). Such answers carry source `template-hash` or `suffix`.
* With no owner information at all, `guess_from_pod_name` reads the pod name alone; it cannot tell
  a DaemonSet's pod from a bare pod (both `<name>-<5 chars>`), so it answers `Pod` there, unless
  `infer_daemonsets` saw the pod's node: pods `<name>-<5 chars>` of one namespace on two or more
  nodes, never two on one node, are a DaemonSet `<name>` (the DaemonSet controller's naming and
  placement). Static pods (`<name>-<node name>`, owner `Node`) stay their own workloads, as above.

Sources: Kubernetes' controller naming (`pkg/controller/deployment/util`, `pkg/controller/cronjob`,
`k8s.io/apimachinery/pkg/util/rand.SafeEncodeString`) and kube-state-metrics' owner metrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

NO_OWNER = frozenset({"", "<none>", "Node"})
"""Owner kinds that make a pod its own workload (kube-state-metrics writes `<none>`)."""

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""k8s.io/apimachinery `rand.SafeEncodeString` (no vowels, no 0/1/3): ReplicaSet hashes and pod suffixes."""
_SAFE = SAFE_ALPHABET
RS_NAME = re.compile(rf"^(?P<base>.+)-(?P<hash>[{_SAFE}]{{6,10}})$")
"""A ReplicaSet name: `<deployment>-<pod-template-hash>`."""
POD_SUFFIX = rf"-[{_SAFE}]{{5}}"
"""The random suffix `generateName` adds to a pod name (a regex fragment)."""
_RS_NAME = RS_NAME
_CRON_JOB_NAME = re.compile(r"^(?P<base>.+)-\d{8,}$")
_RS_POD = re.compile(rf"^(?P<base>.+)-(?P<hash>[{_SAFE}]{{6,10}})-[{_SAFE}]{{5}}$")
_CRON_POD = re.compile(rf"^(?P<base>.+)-(?P<minute>\d{{8,}})-[{_SAFE}]{{5}}$")
_STS_POD = re.compile(r"^(?P<base>.+)-(?P<ordinal>\d{1,4})$")
_DS_POD = re.compile(rf"^(?P<base>.+)-[{_SAFE}]{{5}}$")


class Workload(NamedTuple):
    """The top controller of a pod and how it was found (`ksm`/`owner-ref`, `template-hash`, `suffix`)."""

    kind: str
    name: str
    source: str


ParentOf = Callable[[str, str], tuple[str, str] | None]
"""(owner kind, owner name) → that owner's own controller (kind, name); None when not known.
An owner known to have no controller maps to ("", "")."""


def _no_parents(_kind: str, _name: str) -> tuple[str, str] | None:
    return None


def top_controller(pod: str, owner_kind: str, owner_name: str, parent_of: ParentOf = _no_parents,
                   template_hash: str | None = None, source: str = "ksm") -> Workload:
    """The workload of a pod whose direct owner is (`owner_kind`, `owner_name`); see the module rule."""
    if owner_kind in NO_OWNER or not owner_name:
        return Workload("Pod", pod, source)
    if owner_kind not in ("ReplicaSet", "Job"):
        return Workload(owner_kind, owner_name, source)
    parent = parent_of(owner_kind, owner_name)
    if parent is not None:
        kind, name = parent
        return Workload(kind, name, source) if kind not in NO_OWNER else Workload(owner_kind, owner_name, source)
    if owner_kind == "ReplicaSet":
        if template_hash and owner_name.endswith(f"-{template_hash}"):
            return Workload("Deployment", owner_name[: -len(template_hash) - 1], "template-hash")
        m = _RS_NAME.match(owner_name)
        return Workload("Deployment", m["base"], "suffix") if m else Workload("ReplicaSet", owner_name, source)
    m = _CRON_JOB_NAME.match(owner_name)
    return Workload("CronJob", m["base"], "suffix") if m else Workload("Job", owner_name, source)


def guess_from_pod_name(pod: str) -> Workload:
    """Documented fallback when no owner is known: guess the controller from the pod name.

    `<deploy>-<rs hash>-<5>` → Deployment, `<cronjob>-<unix minute>-<5>` → CronJob,
    `<sts>-<ordinal>` → StatefulSet; anything else is its own workload (kind Pod).
    """
    for pattern, kind in ((_CRON_POD, "CronJob"), (_RS_POD, "Deployment"), (_STS_POD, "StatefulSet")):
        m = pattern.match(pod)
        if m:
            return Workload(kind, m["base"], "suffix")
    return Workload("Pod", pod, "suffix")


def infer_daemonsets(pods: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """(namespace, pod) → DaemonSet name, from (namespace, pod, node) triples with no owner records.

    A DaemonSet places one pod per node and names it `<daemonset>-<5 chars>`: a base name seen on at
    least two nodes and never twice on one node is taken for one. One-node clusters cannot show it.
    """
    by_base: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for namespace, pod, node in pods:
        m = _DS_POD.match(pod)
        if m and node and guess_from_pod_name(pod).kind == "Pod":
            by_base.setdefault((namespace, m["base"]), []).append((pod, node))
    out: dict[tuple[str, str], str] = {}
    for (namespace, base), members in by_base.items():
        nodes = [node for _, node in members]
        if len(set(nodes)) >= 2 and len(set(nodes)) == len(nodes):
            out.update({(namespace, pod): base for pod, _ in members})
    return out
