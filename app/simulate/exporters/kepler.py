"""Kepler's series in both schemas: per container (0.7), per pod and container by zone (0.10), and per node.

Rule: every Kepler series is scraped through the exporter's ServiceMonitor, so it carries the exporter's
target labels (``namespace="kepler"``, ``pod="kepler-exporter-…"``, ``instance=<node>``); the workload is in
Kepler's own labels. Values are the exact running integrals of `app.simulate.power`: 0.7 containers get
their CPU-time share of dynamic power and (when exposed) their per-process share of idle power; 0.10 pods and
containers get their CPU-time share of each zone's active power; node counters carry the RAPL totals.
Names, labels, zones and modes come from `app.core.kepler` (as `k`); retention, runtime and RAPL paths from
`app.simulate.schema`.
"""

from __future__ import annotations

import numpy as np

from app.core import kepler as k
from app.simulate.exporters.base import Ctx, Out, counter, lab, reset_base
from app.simulate.model import SimNode, SimPod
from app.simulate.power import CORE_OF_PACKAGE, PSYS_FACTOR, UNCORE_OF_PACKAGE, Curves
from app.simulate.schema import KEPLER_RUNTIME, KEPLER_TERMINATED_RETENTION_S, KEPLER_ZONES, RAPL_PATHS

C07, N07 = k.CONTAINER_07, k.NODE_07
FAMILIES = (
    (C07["total"], "counter", "Aggregated package+dram+gpu+other energy per container.", k.SCHEMA_07),
    (C07["package"], "counter", "CPU package (RAPL) energy per container.", k.SCHEMA_07),
    (C07["dram"], "counter", "DRAM energy per container.", k.SCHEMA_07),
    (C07["other"], "counter", "Other host components energy per container.", k.SCHEMA_07),
    (C07["gpu"], "counter", "GPU energy per container.", k.SCHEMA_07),
    (N07["package"], "counter", "CPU package energy of the node.", k.SCHEMA_07),
    (N07["dram"], "counter", "DRAM energy of the node.", k.SCHEMA_07),
    (k.POD_JOULES_010, "counter", "Active (dynamic) energy per pod and RAPL zone.", k.SCHEMA_010),
    (k.POD_WATTS_010, "gauge", "Active (dynamic) power per pod and RAPL zone.", k.SCHEMA_010),
    (k.CONTAINER_JOULES_010, "counter", "Active (dynamic) energy per container and zone.", k.SCHEMA_010),
    (k.NODE_JOULES_010, "counter", "Energy consumption of cpu at node level in joules.", k.SCHEMA_010),
    (k.NODE_ACTIVE_JOULES_010, "counter", "Energy of cpu in active state at node level.", k.SCHEMA_010),
    (k.NODE_IDLE_JOULES_010, "counter", "Energy of cpu in idle state at node level.", k.SCHEMA_010),
    (k.NODE_USAGE_RATIO_010, "gauge", "CPU usage ratio of a node (0.0 to 1.0).", k.SCHEMA_010),
)
DYN, IDLE = k.DYNAMIC, k.IDLE


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
            (C07["total"], DYN): {"pkg07": w, "dram07": w, "gpu_dyn": g},
            (C07["total"], IDLE): {"pkg_idle": wi, "dram_idle": wi, "gpu_idle": wi},
            (C07["package"], DYN): {"pkg07": w},
            (C07["package"], IDLE): {"pkg_idle": wi},
            (C07["dram"], DYN): {"dram07": w},
            (C07["dram"], IDLE): {"dram_idle": wi},
            (C07["other"], DYN): {},
            (C07["other"], IDLE): {},
            (C07["gpu"], DYN): {"gpu_dyn": g},
            (C07["gpu"], IDLE): {"gpu_idle": wi},
        }
        if not pod.gpus and pod.gpu_idle_j == 0:  # GPU series only where GPU energy is attributed
            del combos[(C07["gpu"], DYN)], combos[(C07["gpu"], IDLE)]
        cums = {k: cv.combo(v) for k, v in combos.items()}
        for cid, a, b in c.segments:
            t = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, _extra(resets))
            base = reset_base(t, a, resets)
            for (fam, mode), cum in cums.items():
                labels = lab([(k.CONTAINER_ID, cid), (k.CONTAINER_NAME, c.name),
                              (k.NAMESPACE_07, pod.namespace), (k.MODE_07, mode), (k.POD_07, pod.pod),
                              *target])
                out.series(fam, k.total(fam), labels, t, counter(cv.knots, cum, t, base))


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
    common = [(k.NODE_010, pod.node), (k.POD_ID_010, pod.pod_uid), (k.POD_010, pod.pod),
              (k.NAMESPACE_010, pod.namespace)]
    running = (k.STATE_010, k.STATE_RUNNING)
    pod_j = k.POD_JOULES_010
    for zone, combo in _zone_combos(1.0).items():
        cum = cv.combo(combo)
        vals = counter(cv.knots, cum, t, base)
        out.series(pod_j, k.total(pod_j), lab([*common, running, (k.ZONE_010, zone), *target]), t, vals)
        if term_t.size:
            out.series(pod_j, k.total(pod_j),
                       lab([*common, (k.STATE_010, k.STATE_TERMINATED), (k.ZONE_010, zone), *target]), term_t,
                       np.full(term_t.shape, vals[-1]))
        energy = np.interp(t, cv.knots, cum)
        watts = np.empty_like(t)
        watts[1:] = np.diff(energy) / np.diff(t)
        watts[0] = watts[1] if t.size > 1 else 0.0
        out.series(k.POD_WATTS_010, k.POD_WATTS_010, lab([*common, running, (k.ZONE_010, zone), *target]), t,
                   watts, "%.6g")
    for c in pod.containers:
        combos = {z: cv.combo(cb) for z, cb in _zone_combos(c.cpu_weight).items()}
        for cid, a, b in c.segments:
            ts = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, _extra(resets))
            bs = reset_base(ts, a, resets)
            for zone, cum in combos.items():
                labels = lab([(k.CONTAINER_ID, cid), (k.CONTAINER_NAME, c.name), (k.POD_ID_010, pod.pod_uid),
                              (k.RUNTIME_010, KEPLER_RUNTIME), running, (k.ZONE_010, zone), *target])
                out.series(k.CONTAINER_JOULES_010, k.total(k.CONTAINER_JOULES_010), labels, ts,
                           counter(cv.knots, cum, ts, bs))


def kepler_node(out: Out, ctx: Ctx, node: SimNode, cv: Curves, schemas: tuple[str, ...]) -> None:
    """Node counters from node start: 0.7 package/dram by mode, 0.10 zones total/active/idle and usage ratio."""
    resets = ctx.resets.get(node.name, np.empty(0))
    target = _target(ctx, node.name)
    t = ctx.times("kepler-exporter", f"kepler/{node.name}", node.name, node.start_s, node.end_s, _extra(resets))
    base = reset_base(t, node.start_s, resets)
    if k.SCHEMA_07 in schemas:
        for fam, combos in ((N07["package"], {DYN: {"pkg_dyn07": 1.0}, IDLE: {"pkg_idle07": 1.0}}),
                            (N07["dram"], {DYN: {"dram_dyn07": 1.0}, IDLE: {"dram_idle07": 1.0}})):
            for mode, combo in combos.items():
                labels = lab([(k.MODE_07, mode), (k.NODE_PACKAGE_07, "0"), (k.NODE_SOURCE_07, "rapl-sysfs"), *target])
                out.series(fam, k.total(fam), labels, t, counter(cv.knots, cv.combo(combo), t, base))
    if k.SCHEMA_010 not in schemas:
        return
    zone_total = {"package": {"pkg": 1.0}, "core": {"pkg": CORE_OF_PACKAGE}, "uncore": {"pkg": UNCORE_OF_PACKAGE},
                  "dram": {"dram": 1.0}, "psys": {"pkg": PSYS_FACTOR, "dram": PSYS_FACTOR}}
    zone_active = {"package": {"pkg_active10": 1.0}, "core": {"pkg_active10": CORE_OF_PACKAGE},
                   "uncore": {"pkg_active10": UNCORE_OF_PACKAGE}, "dram": {"dram_active10": 1.0},
                   "psys": {"pkg_active10": PSYS_FACTOR, "dram_active10": PSYS_FACTOR}}
    for zone in KEPLER_ZONES:
        total = counter(cv.knots, cv.combo(zone_total[zone]), t, base)
        active = counter(cv.knots, cv.combo(zone_active[zone]), t, base)
        pairs = lab([(k.NODE_010, node.name), (k.PATH_010, RAPL_PATHS[zone]), (k.ZONE_010, zone), *target])
        for fam, vals in ((k.NODE_JOULES_010, total), (k.NODE_ACTIVE_JOULES_010, active),
                          (k.NODE_IDLE_JOULES_010, np.maximum(total - active, 0.0))):
            out.series(fam, k.total(fam), pairs, t, vals)
    out.series(k.NODE_USAGE_RATIO_010, k.NODE_USAGE_RATIO_010,
               lab([(k.NODE_010, node.name), *target]), t, cv.mem_at(t), "%.6g")  # mem holds the ratio
