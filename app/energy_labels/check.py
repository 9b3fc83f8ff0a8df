"""`labels --check`: which series the label builder needs are present on a server, and what is lost without each."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from app.core import kepler as k
from app.energy_labels.counters import RangeSource
from app.energy_labels.kepler import detect_schema

CHECK_SERIES: tuple[tuple[str, str, str], ...] = (
    (k.ENERGY_SERIES[k.SCHEMA_010], "Kepler ≥ 0.10 energy", "no Kepler ≥ 0.10 energy"),
    (k.ENERGY_SERIES[k.SCHEMA_07], "Kepler ≤ 0.7 energy", "no Kepler ≤ 0.7 energy"),
    ("kube_pod_owner", "pod owners", "workloads guessed from pod-name suffixes (owner_source=suffix)"),
    ("kube_replicaset_owner", "ReplicaSet → Deployment",
     "Deployments guessed by stripping the ReplicaSet hash from its name"),
    ("kube_job_owner", "Job → CronJob", "CronJobs guessed by stripping the scheduled-minute suffix from Job names"),
    ("container_cpu_usage_seconds_total", "cAdvisor CPU", "no cpu_cores_used column"),
    ("container_memory_working_set_bytes", "cAdvisor memory", "no mem_bytes_used column"),
    ("container_fs_reads_bytes_total", "cAdvisor fs reads", "no fs_read_bytes_per_s column"),
    ("container_fs_writes_bytes_total", "cAdvisor fs writes", "no fs_write_bytes_per_s column"),
    ("container_network_receive_bytes_total", "cAdvisor network rx", "no net_rx_bytes_per_s column"),
    ("container_network_transmit_bytes_total", "cAdvisor network tx", "no net_tx_bytes_per_s column"),
)


@dataclass
class CheckReport:
    rows: list[dict[str, Any]]
    schema: str | None

    @property
    def usable(self) -> bool:
        return self.schema is not None

    def lines(self) -> list[str]:
        out = []
        for r in self.rows:
            if r["series"]:
                out.append(f"present  {r['metric']}: {r['series']} series, {r['samples']} samples ({r['what']})")
            else:
                out.append(f"MISSING  {r['metric']}: {r['cost']}")
        if self.schema:
            out.append(f"detected Kepler schema: {self.schema}")
        else:
            out.append("detected Kepler schema: none — no energy labels can be built from this server")
        return out


def check_source(source: RangeSource, start: float, end: float) -> CheckReport:
    """Which series the builder needs are present in [start, end], with series and sample counts."""
    w = max(1, math.ceil(end - start))
    rows = []
    for metric, what, cost in CHECK_SERIES:
        n_series = source.query(f"count(last_over_time({metric}[{w}s]))", end)
        n_samples = source.query(f"sum(count_over_time({metric}[{w}s]))", end)
        rows.append({"metric": metric, "what": what, "cost": cost,
                     "series": int(n_series[0].samples[0][1]) if n_series else 0,
                     "samples": int(n_samples[0].samples[0][1]) if n_samples else 0})
    schema = detect_schema([r["metric"] for r in rows if r["series"]])
    return CheckReport(rows, schema)
