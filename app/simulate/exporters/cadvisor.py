"""kubelet ``/metrics/cadvisor``: per-container CPU, memory and I/O, the pod cgroup and the pause sandbox.

Rule: CPU time is what the power model used (Kepler shares power by the same CPU time), split over containers
by their usage shares; series with ``container=""`` are the pod cgroup and ``container="POD"`` the sandbox;
network series exist only at pod level.
"""

from __future__ import annotations

import numpy as np

from app.simulate.exporters.base import Ctx, Out, lab
from app.simulate.model import SimPod
from app.simulate.power import Curves

PAUSE_CORES = 0.0002  # the pod sandbox ("POD") burns almost nothing
PAUSE_MEM_BYTES = 593_920.0
FAMILIES = (
    ("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds.", "cadvisor"),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes.", "cadvisor"),
    ("container_fs_reads_bytes", "counter", "Cumulative count of bytes read.", "cadvisor"),
    ("container_fs_writes_bytes", "counter", "Cumulative count of bytes written.", "cadvisor"),
    ("container_network_receive_bytes", "counter", "Cumulative count of bytes received.", "cadvisor"),
    ("container_network_transmit_bytes", "counter", "Cumulative count of bytes transmitted.", "cadvisor"),
)


def cadvisor(out: Out, ctx: Ctx, pod: SimPod, cv: Curves) -> None:
    """kubelet /metrics/cadvisor: containers, the pod cgroup (container="") and the pause sandbox ("POD")."""
    n = ctx.nodes[pod.node]
    tgt = [("endpoint", "https-metrics"), ("instance", f"{n.ip}:10250"), ("job", "kubelet"),
           ("metrics_path", "/metrics/cadvisor"), ("node", pod.node), ("service", "kubelet")]
    uid_ = pod.pod_uid.replace("-", "_")
    qos = pod.qos_class.lower()
    if qos == "guaranteed":
        pod_cg = f"/kubepods.slice/kubepods-pod{uid_}.slice"
    else:
        pod_cg = f"/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice"
    target = f"kubelet/{pod.node}"
    dev = [("device", "/dev/nvme0n1")]

    def emit(cname: str, image: str, name: str, cid_path: str, a: float, b: float, w_cpu: float, w_mem: float,
             w_io: float, pause: bool) -> None:
        t = ctx.times("kubelet", target, pod.node, a, b)
        ident = [("container", cname), ("id", cid_path), ("image", image), ("name", name),
                 ("namespace", pod.namespace), ("pod", pod.pod)]
        cpu = w_cpu * (cv.at("cpu", t) - cv.at("cpu", a))
        mem = w_mem * cv.mem_at(t)
        if pause:
            cpu = cpu + PAUSE_CORES * (t - a)
            mem = mem + PAUSE_MEM_BYTES
        out.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", lab([*ident, *tgt]),
                   t,
                   np.maximum(cpu, 0.0))
        out.series("container_memory_working_set_bytes", "container_memory_working_set_bytes",
                   lab([*ident, *tgt]), t, mem, "%.0f")
        for fam, key in (("container_fs_reads_bytes", "fs_r"), ("container_fs_writes_bytes", "fs_w")):
            v = w_io * (cv.at(key, t) - cv.at(key, a))
            out.series(fam, fam + "_total", lab([*ident[:1], *dev, *ident[1:], *tgt]), t, np.maximum(v, 0.0),
                       "%.0f")

    for c in pod.containers:
        w_io = 1.0 if c.role == "app" else 0.0
        for cid, a, b in c.segments:
            emit(c.name, c.image, cid, f"{pod_cg}/cri-containerd-{cid}.scope", a, b, c.cpu_weight,
                 c.mem_weight,
                 w_io, False)
    emit("", "", "", pod_cg, pod.start_s, pod.end_s, 1.0, 1.0, 1.0, True)
    sid = pod.sandbox_id
    sandbox = f"{pod_cg}/cri-containerd-{sid}.scope"
    t = ctx.times("kubelet", target, pod.node, pod.start_s, pod.end_s)
    ident = [("container", "POD"), ("id", sandbox), ("image", "registry.k8s.io/pause:3.9"), ("name", sid),
             ("namespace", pod.namespace), ("pod", pod.pod)]
    out.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", lab([*ident, *tgt]), t,
               PAUSE_CORES * (t - pod.start_s))
    out.series("container_memory_working_set_bytes", "container_memory_working_set_bytes", lab([*ident,
                                                                                                 *tgt]), t,
               np.full(t.shape, PAUSE_MEM_BYTES), "%.0f")
    for fam, key in (("container_network_receive_bytes", "rx"), ("container_network_transmit_bytes", "tx")):
        v = cv.at(key, t) - cv.at(key, pod.start_s)
        out.series(fam, fam + "_total", lab([*ident, ("interface", "eth0"), *tgt]), t, np.maximum(v, 0.0),
                   "%.0f")

