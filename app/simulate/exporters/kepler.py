"""Kepler's series in both schemas: per container (0.7), per pod and container by zone (0.10), and per node.

Rule: every Kepler series is scraped through the exporter's ServiceMonitor, so it carries the exporter's
target labels (``namespace="kepler"``, ``pod="kepler-exporter-…"``, ``instance=<node>``); the workload is in
Kepler's own labels. Values are the exact running integrals of `app.simulate.power`: 0.7 containers get
their CPU-time share of dynamic power and (when exposed) their per-process share of idle power; 0.10 pods and
containers get their CPU-time share of each zone's active power; node counters carry the RAPL totals.
Names, zones and paths come from `app.simulate.schema`.
"""

from __future__ import annotations

import numpy as np

from app.simulate.exporters.base import Ctx, Out, counter, lab, reset_base
from app.simulate.model import SimNode, SimPod
from app.simulate.power import CORE_OF_PACKAGE, PSYS_FACTOR, UNCORE_OF_PACKAGE, Curves
from app.simulate.schema import KEPLER_RUNTIME, KEPLER_TERMINATED_RETENTION_S, KEPLER_ZONES, RAPL_PATHS

FAMILIES = (
    ("kepler_container_joules", "counter", "Aggregated package+dram+gpu+other energy per container.", "0.7"),
    ("kepler_container_package_joules", "counter", "CPU package (RAPL) energy per container.", "0.7"),
    ("kepler_container_dram_joules", "counter", "DRAM energy per container.", "0.7"),
    ("kepler_container_other_joules", "counter", "Other host components energy per container.", "0.7"),
    ("kepler_container_gpu_joules", "counter", "GPU energy per container.", "0.7"),
    ("kepler_node_package_joules", "counter", "CPU package energy of the node.", "0.7"),
    ("kepler_node_dram_joules", "counter", "DRAM energy of the node.", "0.7"),
    ("kepler_pod_cpu_joules", "counter", "Active (dynamic) energy per pod and RAPL zone.", "0.10"),
    ("kepler_pod_cpu_watts", "gauge", "Active (dynamic) power per pod and RAPL zone.", "0.10"),
    ("kepler_container_cpu_joules", "counter", "Active (dynamic) energy per container and zone.", "0.10"),
    ("kepler_node_cpu_joules", "counter", "Energy consumption of cpu at node level in joules.", "0.10"),
    ("kepler_node_cpu_active_joules", "counter", "Energy of cpu in active state at node level.", "0.10"),
    ("kepler_node_cpu_idle_joules", "counter", "Energy of cpu in idle state at node level.", "0.10"),
    ("kepler_node_cpu_usage_ratio", "gauge", "CPU usage ratio of a node (0.0 to 1.0).", "0.10"),
)


def _target(ctx: Ctx, node: str) -> list[tuple[str, str]]:
    n = ctx.nodes[node]
    return [("container", "kepler-exporter"), ("endpoint", "http"), ("instance", node),
            ("job", "kepler-exporter"), ("namespace", "kepler"), ("pod", n.kepler_pod),
            ("service", "kepler-exporter")]


def _extra(resets: np.ndarray) -> np.ndarray | None:
    """The restart instant and one second after it: the drop is always visible."""
    return np.concatenate((resets, resets + 1)) if resets.size else None


def kepler07(out: Out, ctx: Ctx, pod: SimPod, cv: Curves) -> None:
    """Kepler <= 0.7: per-container counters, mode=dynamic|idle, package/dram/other/gpu and their sum."""
    resets = ctx.resets.get(pod.node, np.empty(0))
    target = _target(ctx, pod.node)
    total_procs = max(pod.procs, 1)
    for c in pod.containers:
        w, wi, g = c.cpu_weight, c.procs / total_procs, 1.0 if c.gpus else 0.0
        combos = {
            ("kepler_container_joules", "dynamic"): {"pkg07": w, "dram07": w, "gpu_dyn": g},
            ("kepler_container_joules", "idle"): {"pkg_idle": wi, "dram_idle": wi, "gpu_idle": wi},
            ("kepler_container_package_joules", "dynamic"): {"pkg07": w},
            ("kepler_container_package_joules", "idle"): {"pkg_idle": wi},
            ("kepler_container_dram_joules", "dynamic"): {"dram07": w},
            ("kepler_container_dram_joules", "idle"): {"dram_idle": wi},
            ("kepler_container_other_joules", "dynamic"): {},
            ("kepler_container_other_joules", "idle"): {},
            ("kepler_container_gpu_joules", "dynamic"): {"gpu_dyn": g},
            ("kepler_container_gpu_joules", "idle"): {"gpu_idle": wi},
        }
        if not pod.gpus and pod.gpu_idle_j == 0:  # GPU series only where GPU energy is attributed
            del combos[("kepler_container_gpu_joules", "dynamic")], combos[("kepler_container_gpu_joules", "idle")]
        cums = {k: cv.combo(v) for k, v in combos.items()}
        for cid, a, b in c.segments:
            t = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, _extra(resets))
            base = reset_base(t, a, resets)
            for (fam, mode), cum in cums.items():
                labels = lab([("container_id", cid), ("container_name", c.name),
                              ("container_namespace", pod.namespace), ("mode", mode), ("pod_name", pod.pod),
                              *target])
                out.series(fam, fam + "_total", labels, t, counter(cv.knots, cum, t, base))


def _zone_combos(w: float) -> dict[str, dict[str, float]]:
    """Schema 0.10 zones as shares of the pod's package/dram active energy (zones overlap)."""
    return {
        "package": {"pkg10": w},
        "core": {"pkg10": w * CORE_OF_PACKAGE},
        "uncore": {"pkg10": w * UNCORE_OF_PACKAGE},
        "dram": {"dram10": w},
        "psys": {"pkg10": w * PSYS_FACTOR, "dram10": w * PSYS_FACTOR},
    }


def kepler010(out: Out, ctx: Ctx, pod: SimPod, cv: Curves) -> None:
    """Kepler >= 0.10: pod and container active energy per zone, pod watts, terminated pods kept a while."""
    resets = ctx.resets.get(pod.node, np.empty(0))
    target = _target(ctx, pod.node)
    t = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, pod.start_s, pod.end_s, _extra(resets))
    base = reset_base(t, pod.start_s, resets)
    term_t = np.empty(0)
    if pod.completed:
        hi = min(pod.deleted_s, pod.end_s + KEPLER_TERMINATED_RETENTION_S, ctx.cluster.end_s)
        later = resets[resets > pod.end_s]
        if later.size:
            hi = min(hi, float(later[0]))
        term_t = ctx.grid("kepler-exporter", f"kepler/{pod.node}", pod.node, pod.end_s, hi + 1e-9)
    common = [("node_name", pod.node), ("pod_id", pod.pod_uid), ("pod_name", pod.pod),
              ("pod_namespace", pod.namespace)]
    for zone, combo in _zone_combos(1.0).items():
        cum = cv.combo(combo)
        vals = counter(cv.knots, cum, t, base)
        out.series("kepler_pod_cpu_joules", "kepler_pod_cpu_joules_total",
                   lab([*common, ("state", "running"), ("zone", zone), *target]), t, vals)
        if term_t.size:
            out.series("kepler_pod_cpu_joules", "kepler_pod_cpu_joules_total",
                       lab([*common, ("state", "terminated"), ("zone", zone), *target]), term_t,
                       np.full(term_t.shape, vals[-1]))
        energy = np.interp(t, cv.knots, cum)
        watts = np.empty_like(t)
        watts[1:] = np.diff(energy) / np.diff(t)
        watts[0] = watts[1] if t.size > 1 else 0.0
        out.series("kepler_pod_cpu_watts", "kepler_pod_cpu_watts",
                   lab([*common, ("state", "running"), ("zone", zone), *target]), t, watts, "%.6g")
    for c in pod.containers:
        combos = {z: cv.combo(cb) for z, cb in _zone_combos(c.cpu_weight).items()}
        for cid, a, b in c.segments:
            ts = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, _extra(resets))
            bs = reset_base(ts, a, resets)
            for zone, cum in combos.items():
                labels = lab([("container_id", cid), ("container_name", c.name), ("pod_id", pod.pod_uid),
                              ("runtime", KEPLER_RUNTIME), ("state", "running"), ("zone", zone), *target])
                out.series("kepler_container_cpu_joules", "kepler_container_cpu_joules_total", labels, ts,
                           counter(cv.knots, cum, ts, bs))


def kepler_node(out: Out, ctx: Ctx, node: SimNode, cv: Curves, schemas: tuple[str, ...]) -> None:
    """Node counters from node start: 0.7 package/dram by mode, 0.10 zones total/active/idle and usage ratio."""
    resets = ctx.resets.get(node.name, np.empty(0))
    target = _target(ctx, node.name)
    t = ctx.times("kepler-exporter", f"kepler/{node.name}", node.name, node.start_s, node.end_s, _extra(resets))
    base = reset_base(t, node.start_s, resets)
    if "0.7" in schemas:
        for fam, combos in (("kepler_node_package_joules", {"dynamic": {"pkg_dyn07": 1.0},
                                                             "idle": {"pkg_idle07": 1.0}}),
                            ("kepler_node_dram_joules", {"dynamic": {"dram_dyn07": 1.0},
                                                          "idle": {"dram_idle07": 1.0}})):
            for mode, combo in combos.items():
                labels = lab([("mode", mode), ("package", "0"), ("source", "rapl-sysfs"), *target])
                out.series(fam, fam + "_total", labels, t, counter(cv.knots, cv.combo(combo), t, base))
    if "0.10" not in schemas:
        return
    zone_total = {"package": {"pkg": 1.0}, "core": {"pkg": CORE_OF_PACKAGE}, "uncore": {"pkg": UNCORE_OF_PACKAGE},
                  "dram": {"dram": 1.0}, "psys": {"pkg": PSYS_FACTOR, "dram": PSYS_FACTOR}}
    zone_active = {"package": {"pkg_active10": 1.0}, "core": {"pkg_active10": CORE_OF_PACKAGE},
                   "uncore": {"pkg_active10": UNCORE_OF_PACKAGE}, "dram": {"dram_active10": 1.0},
                   "psys": {"pkg_active10": PSYS_FACTOR, "dram_active10": PSYS_FACTOR}}
    for zone in KEPLER_ZONES:
        total = counter(cv.knots, cv.combo(zone_total[zone]), t, base)
        active = counter(cv.knots, cv.combo(zone_active[zone]), t, base)
        pairs = [("node_name", node.name), ("path", RAPL_PATHS[zone]), ("zone", zone), *target]
        out.series("kepler_node_cpu_joules", "kepler_node_cpu_joules_total", lab(pairs), t, total)
        out.series("kepler_node_cpu_active_joules", "kepler_node_cpu_active_joules_total", lab(pairs), t, active)
        out.series("kepler_node_cpu_idle_joules", "kepler_node_cpu_idle_joules_total", lab(pairs), t,
                   np.maximum(total - active, 0.0))
    out.series("kepler_node_cpu_usage_ratio", "kepler_node_cpu_usage_ratio",
               lab([("node_name", node.name), *target]), t, cv.mem_at(t), "%.6g")  # mem holds the ratio
