"""Per-pod energy labels (and cAdvisor usage) from Kepler and kube-state-metrics time series.

Domain logic only: it talks to Prometheus through the small `RangeSource` protocol (implemented by
`app.adapters.prometheus.PromClient`), so it never imports an HTTP library and can be fed by any source.

How energy is counted (the method, and why):

* Counters are read with range queries at the label step, aggregated on the server only over
  dimensions that reset together: Kepler ≤ 0.7 sums the `mode`s of one container
  (`sum by (container_namespace, pod_name, container_id)`), Kepler ≥ 0.10 collapses the
  `running`/`terminated` copies of one pod (`max by (pod_namespace, pod_name, pod_id)`). Zones are
  never summed. Attribution uses the Kepler labels only, never the ServiceMonitor's
  `namespace`/`pod`/`container`/`instance`/`job`, which name the exporter.
* Client side, each series' increase is reset-aware like Prometheus' `increase()` without
  extrapolation: add `v[i] - v[i-1]`, or `v[i]` after a drop. When a drop is seen between two grid
  points, one targeted `max_over_time(…[step])` query recovers the pre-reset peak, so the energy
  between the last grid point and the reset is not lost.
* A series that first appears *inside* the range counts from 0: Kepler and cAdvisor counters
  start at 0 with a new container/pod, so the energy between its start and the first grid point is
  its first visible value. A series already present at the first grid point counts from there.
* Ranges are streamed chunk by chunk into numpy, carrying each series' last value across chunks,
  so a week of a thousand pods stays well under a GiB.
* Pod start/end come from `timestamp()` of the same series, read only around each series' first
  grid points and its last hour: the end is the last sample; the start is the first visible sample
  extrapolated back to where the counter was 0 (clipped to the grid).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.core import kepler as k
from app.core.errors import InputError, UpstreamError
from app.energy_labels.counters import RangeSource, sample_times, series_start, stream_counter
from app.energy_labels.edges import add_tail, read_pod_start_times, settle_data_start
from app.energy_labels.kepler import EnergySource, detect_schema, energy_source
from app.energy_labels.owners import read_owners
from app.energy_labels.usage import add_usage
from app.workloads.owners import infer_daemonsets

JOB_COLUMNS = ("namespace", "workload_kind", "workload_name", "pod", "pod_uid", "node", "owner_source",
               "start_s", "end_s", "duration_s", "total_energy_j", "avg_power_w", "energy_step_j")


@dataclass
class LabelResult:
    frame: pd.DataFrame
    source: EnergySource
    owners_from_ksm: bool
    notes: list[str] = field(default_factory=list)


def resolve_schema(source: RangeSource, start: float, end: float, schema: str) -> str:
    if schema != "auto":
        return schema
    found = detect_schema(source.metric_names(start, end, match=f'{{__name__=~"{k.PREFIX}.*"}}'))
    if found is None:
        raise UpstreamError(f"no Kepler energy series ({' or '.join(k.ENERGY_SERIES.values())}) "
                            "in the range; run `labels --check` to see what the server has")
    return found


def build_labels(
    source: RangeSource,
    start: float,
    end: float,
    step: float = 60.0,
    mode: str = "job",
    schema: str = "auto",
    zone: str | None = None,
    mode_filter: str | None = None,
    usage: bool = True,
    chunk_points: int = 240,
    progress: Callable[[str], None] | None = None,
) -> LabelResult:
    """Per-pod labels over [start, end]: `job` mode one row per pod, `window` mode one per pod per step."""
    if end <= start:
        raise InputError(f"--end ({end:g}) must be after --start ({start:g})", source="arguments")
    if mode not in ("job", "window"):
        raise InputError(f"unknown --mode {mode!r}; use job or window", source="arguments")
    say = progress or (lambda _m: None)
    start = math.floor(start / step) * step  # step-aligned grid, as Prometheus' own rules do
    schema = resolve_schema(source, start, end, schema)
    es = energy_source(schema, zone, mode_filter)
    q = es.query
    say(f"energy: Kepler {schema}, {es.description}")
    acc = stream_counter(source, q, start, end, step, chunk_points, keep_steps=(mode == "window"))
    extent = sample_times(source, q, acc, start, end, step, chunk_points)
    say(f"{len(acc.tracks)} energy series")
    owners = read_owners(source, start, end)
    notes = []
    ns_l, pod_l, _ = q.pod_labels
    pod_started = read_pod_start_times(source, start, end)
    edge = settle_data_start(acc, extent, start, step,
                             lambda key: pod_started.get((acc.extra[key].get(ns_l, ""), acc.extra[key].get(pod_l, ""))))
    if (note := edge.note()) is not None:
        notes.append(("WARNING: most series start with the data, --start is before it. " if edge.mostly else "")
                     + note)
    last_grid = start + math.floor((end - start) / step + 1e-9) * step
    if mode == "job" and end - last_grid > 1e-6:
        add_tail(source, q, acc, extent, end)
    if not owners.has_pod_owners:
        notes.append("no kube_pod_owner series: workloads guessed from pod-name suffixes")
    uid_l = q.pod_labels[2]

    pods: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, tr in acc.tracks.items():
        lab = acc.extra[key]
        ns, pod = lab.get(ns_l, ""), lab.get(pod_l, "")
        if not pod:
            continue  # Kepler's system/kernel processes carry no pod
        uid = lab.get(uid_l, "") if uid_l else (owners.uid_of(ns, pod) or "")
        first_ts, last_ts, times = extent.get(key, (start + tr.first_i * step, start + tr.last_i * step, {}))
        s0 = series_start(tr, times, start, step, first_ts)
        rec = pods.setdefault((ns, pod, uid), {"start": s0, "end": last_ts, "energy": 0.0, "steps": [],
                                               "node": lab.get(q.node_label, "") if q.node_label else ""})
        rec["start"], rec["end"] = min(rec["start"], s0), max(rec["end"], last_ts)
        rec["energy"] += tr.total
        rec["steps"].extend(tr.steps)

    if not owners.has_pod_owners:
        owners.daemonsets = infer_daemonsets((ns, pod, rec["node"]) for (ns, pod, _), rec in pods.items())
    rows = []
    for (ns, pod, uid), rec in pods.items():
        kind, name, how = owners.resolve(ns, pod, uid or None)
        dur = max(rec["end"] - rec["start"], 0.0)
        avg = rec["energy"] / dur if dur > 0 else math.nan
        rows.append({"namespace": ns, "workload_kind": kind, "workload_name": name, "pod": pod,
                     "pod_uid": uid or None, "node": rec["node"] or None, "owner_source": how,
                     "start_s": rec["start"], "end_s": rec["end"], "duration_s": dur,
                     "total_energy_j": rec["energy"], "avg_power_w": avg, "energy_step_j": avg * step})
    frame = pd.DataFrame(rows, columns=list(JOB_COLUMNS))
    if usage and mode == "job" and len(frame):
        frame = add_usage(source, frame, start, end, step, chunk_points, notes)
    if mode == "window":
        frame = _window_frame(frame, pods, start, step)
    frame["kepler_schema"] = es.schema
    frame["energy_metric"] = q.metric
    frame["energy_zone"] = es.zone
    frame["energy_modes"] = es.modes
    frame = frame.sort_values(["namespace", "workload_kind", "workload_name", "pod"]
                              + (["timestamp_s"] if mode == "window" else []), kind="stable").reset_index(drop=True)
    return LabelResult(frame, es, owners.has_pod_owners, notes)


def _window_frame(jobs: pd.DataFrame, pods: dict[tuple[str, str, str], dict[str, Any]], start: float,
                  step: float) -> pd.DataFrame:
    """One row per pod per grid step: the energy in (t - step, t] at `timestamp_s` = t."""
    ident = jobs.set_index(["namespace", "pod", jobs["pod_uid"].fillna("")])
    parts = []
    for (ns, pod, uid), rec in pods.items():
        if not rec["steps"]:
            continue
        idx = np.concatenate([s[0] for s in rec["steps"]])
        d = np.concatenate([s[1] for s in rec["steps"]])
        uniq, inv = np.unique(idx, return_inverse=True)
        e = np.bincount(inv, weights=d)
        row = ident.loc[(ns, pod, uid)]
        live = start + uniq * step - step < row["end_s"]  # stale copies after the end add only zero steps
        uniq, e = uniq[live], e[live]
        parts.append(pd.DataFrame({
            "namespace": ns, "workload_kind": row["workload_kind"], "workload_name": row["workload_name"],
            "pod": pod, "pod_uid": uid or None, "node": row["node"], "owner_source": row["owner_source"],
            "timestamp_s": start + uniq * step, "energy_step_j": e, "avg_power_w": e / step,
        }))
    cols = ["namespace", "workload_kind", "workload_name", "pod", "pod_uid", "node", "owner_source", "timestamp_s",
            "energy_step_j", "avg_power_w"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
