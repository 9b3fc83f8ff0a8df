"""The one owner rule, and the three places that use it agreeing pod by pod.

Expectations are written by hand from Kubernetes' ownership and naming rules (module docstring of
`app.workloads.owners`), not from the code's output.
"""

from __future__ import annotations

import pandas as pd
import pytest

from app.adapters.collector.kubelet import owning_workload
from app.adapters.collector.objects import from_raw
from app.energy_labels.owners import Owners
from app.history.trace import resolve_owners
from app.workloads.owners import guess_from_pod_name, top_controller

# (pod, direct owner kind, owner name, the owner's controller as kube-state-metrics knows it or None,
#  pod-template-hash label, expected (kind, name))
CASES = [
    ("web-7d9fb6c4b5-x2z9q", "ReplicaSet", "web-7d9fb6c4b5", ("Deployment", "web"), "7d9fb6c4b5",
     ("Deployment", "web")),
    ("rs-only-abcde", "ReplicaSet", "rs-only", ("<none>", "<none>"), None, ("ReplicaSet", "rs-only")),
    ("db-0", "StatefulSet", "db", None, None, ("StatefulSet", "db")),
    ("agent-x7k2p", "DaemonSet", "agent", None, None, ("DaemonSet", "agent")),
    ("backup-29453760-jcvsz", "Job", "backup-29453760", ("CronJob", "backup"), None, ("CronJob", "backup")),
    ("migrate-q8w2z", "Job", "migrate", ("<none>", "<none>"), None, ("Job", "migrate")),
    ("kube-apiserver-node-1", "Node", "node-1", None, None, ("Pod", "kube-apiserver-node-1")),
    ("debug", "<none>", "<none>", None, None, ("Pod", "debug")),
    ("legacy-abcde", "ReplicationController", "legacy", None, None, ("ReplicationController", "legacy")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kube_state_metrics_records(case: tuple) -> None:
    pod, kind, name, parent, _hash, want = case
    own = Owners()
    own.add_pod({"namespace": "ns", "pod": pod, "uid": f"uid-{pod}", "owner_kind": kind, "owner_name": name,
                 "owner_is_controller": "true"})
    if parent is not None:
        table = own.replicasets if kind == "ReplicaSet" else own.jobs
        table[("ns", name)] = parent
    assert own.resolve("ns", pod, f"uid-{pod}")[:2] == want


def _pod(name: str, kind: str, owner: str, template_hash: str | None) -> dict:
    refs = [] if kind in ("<none>",) else [{"apiVersion": "v1", "kind": kind, "name": owner, "uid": "u",
                                           "controller": True}]
    labels = {"pod-template-hash": template_hash} if template_hash else {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "labels": labels, "ownerReferences": refs},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kubelet_sees_pods_only_and_agrees(case: tuple) -> None:
    """No parent records: the Deployment from the template hash, the CronJob from the Job's generated name."""
    pod, kind, name, parent, template_hash, want = case
    if parent == ("<none>", "<none>") and kind == "ReplicaSet":
        want = ("ReplicaSet", name)  # no hash label: a ReplicaSet of its own, as with ksm
    assert owning_workload(from_raw(_pod(pod, kind, name, template_hash), "Pod")) == want


def test_trace_agrees_with_labels_on_every_case() -> None:
    pod_owners = pd.DataFrame([{"namespace": "ns", "pod": c[0], "owner_kind": c[1], "owner_name": c[2]}
                               for c in CASES])
    rs_owners = pd.DataFrame([{"namespace": "ns", "replicaset": c[2], "owner_kind": c[3][0], "owner_name": c[3][1]}
                              for c in CASES if c[1] == "ReplicaSet"])
    got = resolve_owners(pod_owners, rs_owners).set_index("pod")
    for pod, _kind, _name, _parent, _hash, want in CASES:
        assert (got.loc[pod, "owner_kind"], got.loc[pod, "workload"]) == want, pod


def test_cronjob_runs_are_the_cronjob_everywhere_without_job_records() -> None:
    """Decided once: a CronJob's pods are priced as the CronJob, also when no kube_job_owner exists."""
    assert top_controller("r-29453760-aaaaa", "Job", "report-29453760")[:2] == ("CronJob", "report")
    own = Owners()
    own.add_pod({"namespace": "b", "pod": "r-29453760-aaaaa", "uid": "u", "owner_kind": "Job",
                 "owner_name": "report-29453760"})
    assert own.resolve("b", "r-29453760-aaaaa", "u")[:2] == ("CronJob", "report")


@pytest.mark.parametrize(("pod", "want"), [
    ("checkout-7d9fb6c4b5-x2z9q", ("Deployment", "checkout")),
    ("nightly-backup-29453760-jcvsz", ("CronJob", "nightly-backup")),
    ("orders-db-0", ("StatefulSet", "orders-db")),
    ("debug-shell", ("Pod", "debug-shell")),
])
def test_pod_name_fallback(pod: str, want: tuple[str, str]) -> None:
    assert guess_from_pod_name(pod)[:2] == want
    assert guess_from_pod_name(pod).source == "suffix"


def test_daemonsets_inferred_from_placement_without_owner_records() -> None:
    from app.workloads.owners import infer_daemonsets

    pods = [("obs", "node-exporter-x7k2p", "n1"), ("obs", "node-exporter-q9w4z", "n2"),
            ("obs", "node-exporter-b6d8f", "n3"),
            ("dev", "debug-abcde", "n1"),  # one bare pod: not enough evidence
            ("dev", "pair-bcdfg", "n1"), ("dev", "pair-hjklm", "n1"),  # two on one node: not a DaemonSet
            ("shop", "web-7d9fb6c4b5-x2z9q", "n1"), ("shop", "web-7d9fb6c4b5-q2z9q", "n2")]  # a Deployment
    got = infer_daemonsets(pods)
    assert got == {("obs", "node-exporter-x7k2p"): "node-exporter", ("obs", "node-exporter-q9w4z"): "node-exporter",
                   ("obs", "node-exporter-b6d8f"): "node-exporter"}
