"""kube-state-metrics: pod owners, ReplicaSet/Job owners, container resource requests.

Rule: series keep the workload's own ``namespace``/``pod`` (KSM is scraped with honor_labels); owner labels of
ownerless objects are ``<none>``; a pod's series last until the pod object is deleted.
"""

from __future__ import annotations

import numpy as np

from app.simulate.exporters.base import Ctx, Out, lab
from app.simulate.model import SimPod

FAMILIES = (
    ("kube_pod_owner", "gauge", "Information about the Pod's owner.", "ksm"),
    ("kube_replicaset_owner", "gauge", "Information about the ReplicaSet's owner.", "ksm"),
    ("kube_job_owner", "gauge", "Information about the Job's owner.", "ksm"),
    ("kube_pod_container_resource_requests", "gauge", "Requested resources by a container.", "ksm"),
    ("kube_pod_init_container_resource_requests", "gauge", "Requested resources by an init container.", "ksm"),
)


def _ksm_target(ctx: Ctx, with_pod: bool) -> list[tuple[str, str]]:
    """KSM is scraped with honor_labels: its own namespace/pod/container labels win over the target's."""
    t = [("endpoint", "http"), ("instance", ctx.cluster.ksm_instance), ("job", "kube-state-metrics"),
         ("service", "kube-state-metrics")]
    if with_pod:
        t.append(("pod", ctx.cluster.ksm_pod))
    return t


def ksm_pod(out: Out, ctx: Ctx, pod: SimPod) -> None:
    t = ctx.times("kube-state-metrics", "ksm", "*", pod.start_s, pod.deleted_s)
    ok = pod.owner_kind or "<none>"
    on = pod.owner_name or "<none>"
    ctl = "true" if pod.owner_kind else "<none>"
    base = [("container", "kube-state-metrics"), *_ksm_target(ctx, False)]
    out.series("kube_pod_owner", "kube_pod_owner",
               lab([("namespace", pod.namespace), ("owner_is_controller", ctl), ("owner_kind", ok),
                     ("owner_name", on), ("pod", pod.pod), ("uid", pod.pod_uid), *base]), t, None)
    reqs: list[tuple[str, str, str, str, float]] = []
    for c in pod.containers:
        fam = ("kube_pod_init_container_resource_requests" if c.is_init
               else "kube_pod_container_resource_requests")
        if c.cpu_request is not None:
            reqs.append((fam, c.name, "cpu", "core", c.cpu_request))
        if c.mem_request is not None:
            reqs.append((fam, c.name, "memory", "byte", c.mem_request))
        if c.gpus:
            reqs.append((fam, c.name, "nvidia_com_gpu", "integer", float(c.gpus)))
    for name, cpu, mem in pod.init_requests:
        fam = "kube_pod_init_container_resource_requests"
        if cpu is not None:
            reqs.append((fam, name, "cpu", "core", cpu))
        if mem is not None:
            reqs.append((fam, name, "memory", "byte", mem))
    tgt = _ksm_target(ctx, False)
    for fam, cname, res, unit, val in reqs:
        labels = lab([("container", cname), ("namespace", pod.namespace), ("node", pod.node), ("pod",
                                                                                                pod.pod),
                       ("resource", res), ("uid", pod.pod_uid), ("unit", unit), *tgt])
        out.series(fam, fam, labels, t, np.full(t.shape, val), "%.17g")


def ksm_owners(out: Out, ctx: Ctx) -> None:
    tgt = [("container", "kube-state-metrics"), *_ksm_target(ctx, True)]
    for rs in ctx.cluster.replicasets:
        t = ctx.times("kube-state-metrics", "ksm", "*", rs.created_s, rs.deleted_s)
        out.series("kube_replicaset_owner", "kube_replicaset_owner",
                   lab([("namespace", rs.namespace), ("owner_is_controller",
                                                       "true" if rs.owner_kind else "<none>"),
                         ("owner_kind", rs.owner_kind or "<none>"), ("owner_name", rs.owner_name or "<none>"),
                         ("replicaset", rs.name), *tgt]), t, None)
    for j in ctx.cluster.jobs:
        t = ctx.times("kube-state-metrics", "ksm", "*", j.created_s, j.deleted_s)
        out.series("kube_job_owner", "kube_job_owner",
                   lab([("job_name", j.name), ("namespace", j.namespace),
                         ("owner_is_controller", "true" if j.owner_kind else "<none>"),
                         ("owner_kind", j.owner_kind or "<none>"), ("owner_name", j.owner_name or "<none>"),
                         *tgt]), t, None)

