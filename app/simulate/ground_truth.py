"""Ground truth frames: one row per pod (what Kepler reports for it) and one row per node (the measured totals).

Rule: the pod frame starts with the documented ``GROUND_TRUTH_COLUMNS`` (the contract label builders and the
training pipeline rely on), followed by diagnostics (family, QoS, usage inputs) that a model must never use as
features. Which Kepler series each column equals is documented in docs/simulator.md.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.simulate.model import SimCluster
from app.simulate.power import ENERGY_STEP_S, NODE_KEYS, node_curves

GROUND_TRUTH_COLUMNS = (
    "namespace", "workload_kind", "workload_name", "pod", "pod_uid", "node", "instance_type", "nodepool",
    "owner_kind", "owner_name", "start_s", "end_s", "duration_s", "total_energy_j", "avg_power_w",
    "energy_step_j", "energy_dynamic_j", "energy_idle_j", "energy_package_j", "energy_dram_j", "energy_gpu_j",
    "package_dynamic_j", "dram_dynamic_j", "cpu_cores_used", "mem_bytes_used", "fs_read_bytes_per_s",
    "fs_write_bytes_per_s", "net_rx_bytes_per_s", "net_tx_bytes_per_s",
)
_EXTRA_COLUMNS = ("archetype", "qos_class", "vcpus", "gpus", "gpu_model", "package_idle_j", "dram_idle_j",
                  "gpu_dynamic_j",
                  "gpu_idle_j", "completed", "container_restarts", "cores_mean", "cores_floor", "procs")


def ground_truth_frame(cluster: SimCluster) -> pd.DataFrame:
    """One row per pod: identity, life, exact Kepler energies and their components, resource use."""
    rows: dict[str, list[Any]] = {c: [] for c in (*GROUND_TRUTH_COLUMNS, *_EXTRA_COLUMNS)}
    for p in cluster.pods:
        for c in rows:
            if c == "duration_s":
                rows[c].append(p.duration_s)
            elif c == "energy_step_j":
                rows[c].append(p.avg_power_w * ENERGY_STEP_S)
            else:
                rows[c].append(getattr(p, c))
    df = pd.DataFrame(rows)
    for c in ("start_s", "end_s", "duration_s", "gpus", "container_restarts", "procs"):
        df[c] = df[c].astype("int64")
    return df


def node_truth_frame(cluster: SimCluster) -> pd.DataFrame:
    """One row per node: measured energy (J) over its life and the share Kepler gives its system processes.

    Columns: ``node, instance_type, vcpus, start_s, end_s`` and ``<key>_j`` for each of `power.NODE_KEYS`
    (``pkg``/``dram`` are the RAPL zones; ``*07`` Kepler 0.7's split; ``*10`` Kepler >= 0.10's active part;
    ``sys_*`` the system processes' shares).
    """
    rows = []
    for n in cluster.nodes:
        cv = node_curves(n, cluster.node_power[n.name], cluster.start_s, cluster.step_s)
        row: dict[str, Any] = {"node": n.name, "instance_type": n.instance_type, "vcpus": n.vcpus,
                               "start_s": n.start_s, "end_s": n.end_s}
        row.update({f"{k}_j": float(cv.cum[k][-1]) for k in NODE_KEYS})
        rows.append(row)
    return pd.DataFrame(rows)
