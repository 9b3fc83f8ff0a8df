"""Karpenter's ``karpenter_pods_state``: which node (instance type, nodepool) each pod ran on.

Rule: the workload pod is in ``name`` (``pod`` is Karpenter's own); completed pods stay as ``Succeeded`` until
deleted.
"""

from __future__ import annotations

from app.simulate.exporters.base import Ctx, Out, lab
from app.simulate.model import SimPod

FAMILIES = (("karpenter_pods_state", "gauge", "Pod state as seen by Karpenter.", "karpenter"),)


def karpenter(out: Out, ctx: Ctx, pod: SimPod) -> None:
    cl = ctx.cluster
    tgt = [("container", "controller"), ("endpoint", "http-metrics"), ("instance", cl.karpenter_instance),
           ("job", "karpenter"), ("pod", cl.karpenter_pod), ("service", "karpenter")]
    common = [("instance_type", pod.instance_type), ("name", pod.pod), ("namespace", pod.namespace),
              ("node", pod.node), ("nodepool", pod.nodepool)]
    t = ctx.times("karpenter", "karpenter", "*", pod.start_s, pod.end_s)
    out.series("karpenter_pods_state", "karpenter_pods_state", lab([*common, ("phase", "Running"), *tgt]),
               t, None)
    if pod.completed and pod.deleted_s > pod.end_s:
        ts = ctx.grid("karpenter", "karpenter", "*", pod.end_s, pod.deleted_s + 1e-9)
        out.series("karpenter_pods_state", "karpenter_pods_state",
                   lab([*common, ("phase", "Succeeded"), *tgt]), ts, None)

