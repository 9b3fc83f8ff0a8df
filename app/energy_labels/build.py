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

import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from app.core.errors import InputError, UpstreamError
from app.core.k8snames import RS_NAME, SAFE_ALPHABET

log = logging.getLogger(__name__)

SeriesChunk = list[tuple[dict[str, str], np.ndarray, np.ndarray]]

KEPLER07_METRICS = {
    "total": "kepler_container_joules_total",
    "package": "kepler_container_package_joules_total",
    "dram": "kepler_container_dram_joules_total",
    "gpu": "kepler_container_gpu_joules_total",
    "other": "kepler_container_other_joules_total",
}
KEPLER010_METRIC = "kepler_pod_cpu_joules_total"
KEPLER010_ZONES = ("package", "core", "uncore", "dram", "psys")
OWNER_SERIES = ("kube_pod_owner", "kube_replicaset_owner", "kube_job_owner")
CADVISOR_SERIES = (
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    "container_fs_reads_bytes_total",
    "container_fs_writes_bytes_total",
    "container_network_receive_bytes_total",
    "container_network_transmit_bytes_total",
)
USAGE_COLUMNS = ("cpu_cores_used", "mem_bytes_used", "fs_read_bytes_per_s", "fs_write_bytes_per_s",
                 "net_rx_bytes_per_s", "net_tx_bytes_per_s")
JOB_COLUMNS = ("namespace", "workload_kind", "workload_name", "pod", "pod_uid", "node", "owner_source",
               "start_s", "end_s", "duration_s", "total_energy_j", "avg_power_w", "energy_step_j")
NONE = ("", "<none>")
_SAFE = SAFE_ALPHABET  # ReplicaSet hashes and pod suffixes use it
_RS_POD = re.compile(rf"^(?P<base>.+)-(?P<hash>[{_SAFE}]{{6,10}})-[{_SAFE}]{{5}}$")
_CRON_POD = re.compile(rf"^(?P<base>.+)-(?P<minute>\d{{8,}})-[{_SAFE}]{{5}}$")
_STS_POD = re.compile(r"^(?P<base>.+)-(?P<ordinal>\d{1,4})$")
_RS_NAME = RS_NAME
_CRON_JOB_NAME = re.compile(r"^(?P<base>.+)-\d{8,}$")
_OWNER_WINDOW_S = 86_400.0  # owner series are read in ≤ 1-day windows (stays under query.max-samples)


class RangeSource(Protocol):
    """What the label builder needs from Prometheus (`app.adapters.prometheus.PromClient` implements it)."""

    def query(self, expr: str, at: float | None = None) -> list[Any]: ...

    def iter_range(self, expr: str, start: float, end: float, step: float,
                   chunk_points: int | None = None) -> Iterator[SeriesChunk]: ...

    def metric_names(self, start: float | None = None, end: float | None = None,
                     match: str | None = None) -> list[str]: ...


# ------------------------------------------------------------------------------------------------
# Which series are the label
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterQuery:
    """A counter aggregated on the server over dimensions that reset together.

    `by` names the series identity (last element: the label used to target follow-up queries);
    `pod_labels` maps (namespace, pod, uid) onto labels of `by` (uid may be None).
    """

    metric: str
    matchers: tuple[str, ...]
    by: tuple[str, ...]
    agg: str
    pod_labels: tuple[str, str, str | None]
    ts_matchers: tuple[str, ...] = ()
    node_label: str | None = None

    def _sel(self, extra: Sequence[str] = ()) -> str:
        ms = [*self.matchers, *extra]
        return self.metric + ("{" + ",".join(ms) + "}" if ms else "")

    def _by(self) -> str:
        return ", ".join(self.by + ((self.node_label,) if self.node_label else ()))

    def expr(self, extra: Sequence[str] = ()) -> str:
        return f"{self.agg} by ({self._by()}) ({self._sel(extra)})"

    def peak_expr(self, window_s: float, extra: Sequence[str] = ()) -> str:
        return f"{self.agg} by ({self._by()}) (max_over_time({self._sel(extra)}[{math.ceil(window_s)}s]))"

    def ts_expr(self, extra: Sequence[str] = ()) -> str:
        return f"max by ({self._by()}) (timestamp({self._sel((*self.ts_matchers, *extra))}))"


@dataclass(frozen=True)
class EnergySource:
    """The chosen Kepler schema, metric, zone and modes: written next to the labels."""

    schema: str
    query: CounterQuery
    zone: str
    modes: str

    @property
    def description(self) -> str:
        return f"{self.query.metric} zone={self.zone} modes={self.modes}"


def energy_source(schema: str, zone: str | None = None, mode_filter: str | None = None) -> EnergySource:
    """The counter that is the label: Kepler ≤ 0.7 default total (dynamic + idle), ≥ 0.10 zone package."""
    if schema == "0.7":
        z = zone or "total"
        if z not in KEPLER07_METRICS:
            raise InputError(f"unknown --zone {z!r} for Kepler 0.7; choose from {', '.join(KEPLER07_METRICS)}",
                             source="arguments")
        mf = mode_filter or "dynamic,idle"
        modes = sorted({m.strip() for m in mf.split(",") if m.strip()})
        if not modes or set(modes) - {"dynamic", "idle"}:
            raise InputError(f"invalid --mode-filter {mf!r}: use dynamic, idle or dynamic,idle", source="arguments")
        q = CounterQuery(KEPLER07_METRICS[z], (f'mode=~"{"|".join(modes)}"',),
                         ("container_namespace", "pod_name", "container_id"), "sum",
                         ("container_namespace", "pod_name", None))
        return EnergySource("0.7", q, z, "+".join(modes))
    if schema == "0.10":
        z = zone or "package"
        if z not in KEPLER010_ZONES:
            raise InputError(f"unknown --zone {z!r} for Kepler 0.10; choose one of {', '.join(KEPLER010_ZONES)} "
                             "(zones overlap and are never summed)", source="arguments")
        if mode_filter and mode_filter.strip() not in ("dynamic", ""):
            raise InputError("Kepler ≥ 0.10 reports only dynamic energy per pod: --mode-filter must be dynamic",
                             source="arguments")
        q = CounterQuery(KEPLER010_METRIC, (f'zone="{z}"',), ("pod_namespace", "pod_name", "pod_id"), "max",
                         ("pod_namespace", "pod_name", "pod_id"), ts_matchers=('state="running"',),
                         node_label="node_name")
        return EnergySource("0.10", q, z, "dynamic")
    raise InputError(f"unknown Kepler schema {schema!r}; use auto, 0.7 or 0.10", source="arguments")


def detect_schema(names: Sequence[str]) -> str | None:
    """`0.10` if `kepler_pod_cpu_joules_total` exists, else `0.7` if `kepler_container_joules_total` does."""
    present = set(names)
    if KEPLER010_METRIC in present:
        return "0.10"
    if any(m in present for m in KEPLER07_METRICS.values()):
        return "0.7"
    return None


# ------------------------------------------------------------------------------------------------
# Reset-aware counter increases, streamed
# ------------------------------------------------------------------------------------------------


@dataclass
class _Track:
    prev: float
    first_i: int
    first_v: float
    total: float = 0.0
    last_i: int = -1
    second_i: int = -1
    second_v: float = math.nan
    steps: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)


class CounterAccumulator:
    """Per-series reset-aware increases over a step grid, fed chunk by chunk.

    Series first seen after the first grid point count from 0 (counters start at 0 with their
    container); drops (resets) count the new value and are remembered so the caller can recover the
    pre-reset peak with `apply_peaks`.
    """

    def __init__(self, start: float, step: float, by: Sequence[str], keep_steps: bool = False) -> None:
        self.start, self.step, self.by, self.keep_steps = start, step, tuple(by), keep_steps
        self.tracks: dict[tuple[str, ...], _Track] = {}
        self.drops: list[tuple[tuple[str, ...], int, float]] = []  # (key, grid index, value before)
        self.extra: dict[tuple[str, ...], dict[str, str]] = {}

    def key(self, labels: dict[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(k, "") for k in self.by)

    def feed(self, chunk: SeriesChunk) -> None:
        for labels, t, v in chunk:
            if v.size == 0:
                continue
            key = self.key(labels)
            idx = np.rint((t - self.start) / self.step).astype(np.int64)
            tr = self.tracks.get(key)
            if tr is None:
                first_i = int(idx[0])
                tr = _Track(prev=float(v[0]) if first_i == 0 else 0.0, first_i=first_i, first_v=float(v[0]))
                self.tracks[key] = tr
                self.extra[key] = labels
            if tr.second_i < 0:
                later = np.nonzero(idx > tr.first_i)[0]
                if later.size:
                    tr.second_i, tr.second_v = int(idx[later[0]]), float(v[later[0]])
            before = np.concatenate(([tr.prev], v[:-1]))
            d = v - before
            dropped = d < 0
            if dropped.any():
                d[dropped] = v[dropped]
                for j in np.nonzero(dropped)[0]:
                    self.drops.append((key, int(idx[j]), float(before[j])))
            tr.total += float(d.sum())
            if self.keep_steps:
                tr.steps.append((idx, d))
            tr.prev, tr.last_i = float(v[-1]), int(idx[-1])

    def apply_peaks(self, peaks: dict[tuple[tuple[str, ...], int], float]) -> None:
        """Add back the energy between the last grid point before a reset and the reset itself."""
        for key, i, before in self.drops:
            peak = peaks.get((key, i))
            if peak is None or peak <= before:
                continue
            extra = peak - before
            tr = self.tracks[key]
            tr.total += extra
            if self.keep_steps:
                tr.steps.append((np.array([i]), np.array([extra])))


def _stream_counter(source: RangeSource, q: CounterQuery, start: float, end: float, step: float,
                    chunk_points: int, keep_steps: bool) -> CounterAccumulator:
    acc = CounterAccumulator(start, step, q.by, keep_steps)
    for chunk in source.iter_range(q.expr(), start, end, step, chunk_points):
        acc.feed(chunk)
    _recover_peaks(source, q, acc, start, step)
    return acc


def _recover_peaks(source: RangeSource, q: CounterQuery, acc: CounterAccumulator, start: float, step: float) -> None:
    """One `max_over_time` query per grid point with drops, restricted to the series that dropped."""
    if not acc.drops:
        return
    by_i: dict[int, set[str]] = {}
    for key, i, _ in acc.drops:
        by_i.setdefault(i, set()).add(key[-1])
    peaks: dict[tuple[tuple[str, ...], int], float] = {}
    for i, ids in sorted(by_i.items()):
        regex = "|".join(re.escape(x) for x in sorted(ids)).replace("\\", "\\\\")  # RE2 inside a PromQL string
        at = start + i * step
        for s in source.query(q.peak_expr(step, (f'{q.by[-1]}=~"{regex}"',)), at):
            peaks[(acc.key(s.labels), i)] = float(s.samples[0][1])
    log.info("recovered pre-reset energy for %d series at %d reset point(s)", len(acc.drops), len(by_i))
    acc.apply_peaks(peaks)


def _sample_times(source: RangeSource, q: CounterQuery, acc: CounterAccumulator, start: float, end: float,
                  step: float, chunk_points: int, tail_s: float = 3600.0
                  ) -> dict[tuple[str, ...], tuple[float, float, dict[int, float]]]:
    """Per series: first visible sample time, last sample time, and sample times at its first grid points.

    `timestamp()` is costly on the server, so it is read only where it matters: in the chunks holding
    each series' first two grid points and in the `tail_s` before it disappears (the last sample of
    Kepler ≥ 0.10's running copy lies there; the terminated copy lingers with fresh timestamps and is
    filtered out). One range query per chunk, restricted to the series that need it.
    """
    n_total = math.floor((end - start) / step + 1e-9) + 1
    per = chunk_points
    tail = math.ceil(tail_s / step)
    need: dict[int, set[str]] = {}
    for key, tr in acc.tracks.items():
        ident = key[-1]
        for i in (tr.first_i, tr.second_i):
            if i >= 0:
                need.setdefault(i // per, set()).add(ident)
        for k in range(max(0, tr.last_i - tail) // per, tr.last_i // per + 1):
            need.setdefault(k, set()).add(ident)
    out: dict[tuple[str, ...], list[Any]] = {}
    for k, ids in sorted(need.items()):
        cs = start + k * per * step
        ce = start + (min((k + 1) * per, n_total) - 1) * step
        regex = "|".join(re.escape(x) for x in sorted(ids)).replace("\\", "\\\\")
        expr = q.ts_expr((f'{q.by[-1]}=~"{regex}"',))
        for chunk in source.iter_range(expr, cs, ce, step, per):
            for labels, t, v in chunk:
                if v.size == 0:
                    continue
                key = tuple(labels.get(x, "") for x in q.by)
                idx = np.rint((t - start) / step).astype(np.int64)
                rec = out.get(key)
                if rec is None:
                    rec = out[key] = [float(v.min()), float(v.max()), {}]
                else:
                    rec[0], rec[1] = min(rec[0], float(v.min())), max(rec[1], float(v.max()))
                tr = acc.tracks.get(key)
                if tr is not None:
                    for i in (tr.first_i, tr.second_i):
                        hit = np.nonzero(idx == i)[0]
                        if hit.size:
                            rec[2][i] = float(v[hit[0]])
    return {k: (r[0], r[1], r[2]) for k, r in out.items()}


def _series_start(tr: _Track, times: dict[int, float], grid0: float, step: float, fallback: float) -> float:
    """The time the counter was 0: the first visible sample, extrapolated back along the next increase."""
    ts0 = times.get(tr.first_i, fallback)
    if tr.first_i == 0 or tr.first_v <= 0:
        return ts0
    ts1 = times.get(tr.second_i)
    lo = grid0 + (tr.first_i - 1) * step  # the series was not visible at the previous grid point
    if ts1 is None or ts1 <= ts0 or not tr.second_v > tr.first_v:
        return max(lo, ts0 - step / 2)
    rate = (tr.second_v - tr.first_v) / (ts1 - ts0)
    return min(ts0, max(lo, ts0 - tr.first_v / rate))


# ------------------------------------------------------------------------------------------------
# Owners
# ------------------------------------------------------------------------------------------------


@dataclass
class Owners:
    """kube-state-metrics owner records: pod → direct owner, ReplicaSet/Job → their controller."""

    pods_by_uid: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)  # uid → ns, pod, kind, name
    pods_by_name: dict[tuple[str, str], list[tuple[str, str, str]]] = field(default_factory=dict)  # → uid,kind,name
    replicasets: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    jobs: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    @property
    def has_pod_owners(self) -> bool:
        return bool(self.pods_by_uid or self.pods_by_name)

    def add_pod(self, labels: dict[str, str]) -> None:
        ns, pod, uid = labels.get("namespace", ""), labels.get("pod", ""), labels.get("uid", "")
        kind, name = labels.get("owner_kind", ""), labels.get("owner_name", "")
        ctrl = labels.get("owner_is_controller", "")
        if ctrl == "false" and (ns, pod) in self.pods_by_name:
            return  # prefer the controller owner
        if uid:
            self.pods_by_uid[uid] = (ns, pod, kind, name)
        recs = self.pods_by_name.setdefault((ns, pod), [])
        if (uid, kind, name) not in recs:
            recs.append((uid, kind, name))

    def uid_of(self, ns: str, pod: str) -> str | None:
        recs = self.pods_by_name.get((ns, pod), [])
        uids = {r[0] for r in recs if r[0]}
        return next(iter(uids)) if len(uids) == 1 else None

    def resolve(self, ns: str, pod: str, uid: str | None) -> tuple[str, str, str]:
        """(workload_kind, workload_name, owner_source) of the top controller."""
        rec: tuple[str, str] | None = None
        if uid and uid in self.pods_by_uid:
            rec = self.pods_by_uid[uid][2:]
        elif self.pods_by_name.get((ns, pod)):
            rec = self.pods_by_name[(ns, pod)][-1][1:]
        if rec is None:
            return (*suffix_owner(pod), "suffix")
        kind, name = rec
        if kind in NONE or kind == "Node":
            return "Pod", pod, "ksm"
        if kind == "ReplicaSet":
            top = self.replicasets.get((ns, name))
            if top is not None:
                return (top if top[0] not in NONE else ("ReplicaSet", name)) + ("ksm",)
            m = _RS_NAME.match(name)
            return ("Deployment", m.group("base"), "suffix") if m else ("ReplicaSet", name, "ksm")
        if kind == "Job":
            top = self.jobs.get((ns, name))
            if top is not None:
                return (top if top[0] not in NONE else ("Job", name)) + ("ksm",)
            m = _CRON_JOB_NAME.match(name)
            return ("CronJob", m.group("base"), "suffix") if m else ("Job", name, "ksm")
        return kind, name, "ksm"


def suffix_owner(pod: str) -> tuple[str, str]:
    """Documented fallback when kube_pod_owner is absent: guess the controller from the pod name.

    `<deploy>-<rs hash>-<5>` → Deployment, `<cronjob>-<unix minute>-<5>` → CronJob,
    `<sts>-<ordinal>` → StatefulSet; anything else is its own workload (kind Pod).
    """
    m = _CRON_POD.match(pod)
    if m:
        return "CronJob", m.group("base")
    m = _RS_POD.match(pod)
    if m:
        return "Deployment", m.group("base")
    m = _STS_POD.match(pod)
    if m:
        return "StatefulSet", m.group("base")
    return "Pod", pod


def _windows(start: float, end: float, width: float) -> list[tuple[float, float]]:
    out, t = [], start
    while True:
        e = min(end, t + width)
        out.append((t, e))
        if e >= end:
            return out
        t = e


def read_owners(source: RangeSource, start: float, end: float) -> Owners:
    """Owner records seen in [start, end] (last value per window of ≤ 1 day)."""
    own = Owners()
    groups = {
        "kube_pod_owner": "namespace, pod, uid, owner_kind, owner_name, owner_is_controller",
        "kube_replicaset_owner": "namespace, replicaset, owner_kind, owner_name",
        "kube_job_owner": "namespace, job_name, owner_kind, owner_name",
    }
    for s, e in _windows(start, end, _OWNER_WINDOW_S):
        w = max(1, math.ceil(e - s) + 1)
        for metric, by in groups.items():
            for series in source.query(f"group by ({by}) (last_over_time({metric}[{w}s]))", e):
                lab = series.labels
                if metric == "kube_pod_owner":
                    own.add_pod(lab)
                elif metric == "kube_replicaset_owner":
                    own.replicasets[(lab.get("namespace", ""), lab.get("replicaset", ""))] = (
                        lab.get("owner_kind", ""), lab.get("owner_name", ""))
                else:
                    own.jobs[(lab.get("namespace", ""), lab.get("job_name", ""))] = (
                        lab.get("owner_kind", ""), lab.get("owner_name", ""))
    return own


# ------------------------------------------------------------------------------------------------
# Building labels
# ------------------------------------------------------------------------------------------------


@dataclass
class LabelResult:
    frame: pd.DataFrame
    source: EnergySource
    owners_from_ksm: bool
    notes: list[str] = field(default_factory=list)


def resolve_schema(source: RangeSource, start: float, end: float, schema: str) -> str:
    if schema != "auto":
        return schema
    found = detect_schema(source.metric_names(start, end, match='{__name__=~"kepler_.*"}'))
    if found is None:
        raise UpstreamError("no Kepler energy series (kepler_pod_cpu_joules_total or kepler_container_joules_total) "
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
    acc = _stream_counter(source, q, start, end, step, chunk_points, keep_steps=(mode == "window"))
    extent = _sample_times(source, q, acc, start, end, step, chunk_points)
    say(f"{len(acc.tracks)} energy series")
    owners = read_owners(source, start, end)
    notes = []
    if not owners.has_pod_owners:
        notes.append("no kube_pod_owner series: workloads guessed from pod-name suffixes")
    ns_l, pod_l, uid_l = q.pod_labels

    pods: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, tr in acc.tracks.items():
        lab = acc.extra[key]
        ns, pod = lab.get(ns_l, ""), lab.get(pod_l, "")
        if not pod:
            continue  # Kepler's system/kernel processes carry no pod
        uid = lab.get(uid_l, "") if uid_l else (owners.uid_of(ns, pod) or "")
        first_ts, last_ts, times = extent.get(key, (start + tr.first_i * step, start + tr.last_i * step, {}))
        s0 = _series_start(tr, times, start, step, first_ts)
        rec = pods.setdefault((ns, pod, uid), {"start": s0, "end": last_ts, "energy": 0.0, "steps": [],
                                               "node": lab.get(q.node_label, "") if q.node_label else ""})
        rec["start"], rec["end"] = min(rec["start"], s0), max(rec["end"], last_ts)
        rec["energy"] += tr.total
        rec["steps"].extend(tr.steps)

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


# ------------------------------------------------------------------------------------------------
# cAdvisor usage
# ------------------------------------------------------------------------------------------------

_REAL_CONTAINERS = ('container!=""', 'container!="POD"', 'image!~".*/pause:.*"')


def add_usage(source: RangeSource, frame: pd.DataFrame, start: float, end: float, step: float,
              chunk_points: int, notes: list[str]) -> pd.DataFrame:
    """Per-pod cAdvisor usage over each pod's life: CPU cores, working set, fs and network byte rates.

    Containers only: the pause sandbox (`container="POD"`, pause image) and the pod cgroup
    (`container=""`) are excluded, except for network, which cAdvisor reports only for the pod's
    network namespace: taken from `container="POD"` when present, else from `container=""`.
    """
    names = set(source.metric_names(start, end, match='{__name__=~"container_.*"}'))
    frame = frame.copy()
    key = list(zip(frame["namespace"], frame["pod"], strict=True))
    dur = frame["duration_s"].to_numpy(dtype=float)
    counters = {
        "cpu_cores_used": ("container_cpu_usage_seconds_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "fs_read_bytes_per_s": ("container_fs_reads_bytes_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "fs_write_bytes_per_s": ("container_fs_writes_bytes_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "net_rx_bytes_per_s": ("container_network_receive_bytes_total", ('container=~"POD|"',),
                               ("namespace", "pod", "container", "id")),
        "net_tx_bytes_per_s": ("container_network_transmit_bytes_total", ('container=~"POD|"',),
                               ("namespace", "pod", "container", "id")),
    }
    for col, (metric, matchers, by) in counters.items():
        if metric not in names:
            frame[col] = math.nan
            notes.append(f"no {metric}: {col} left empty")
            continue
        q = CounterQuery(metric, matchers, by, "sum", ("namespace", "pod", None))
        acc = _stream_counter(source, q, start, end, step, chunk_points, keep_steps=False)
        per_pod: dict[tuple[str, str], dict[str, float]] = {}
        for k, tr in acc.tracks.items():
            bucket = per_pod.setdefault((k[0], k[1]), {})
            group = k[2] if col.startswith("net_") else ""
            bucket[group] = bucket.get(group, 0.0) + tr.total
        totals = []
        for kk in key:
            b = per_pod.get(kk)
            totals.append(math.nan if b is None else (b["POD"] if "POD" in b else sum(b.values())))
        frame[col] = np.asarray(totals) / np.where(dur > 0, dur, np.nan)
    metric = "container_memory_working_set_bytes"
    if metric not in names:
        frame["mem_bytes_used"] = math.nan
        notes.append(f"no {metric}: mem_bytes_used left empty")
        return frame
    life = {kk: (s, e) for kk, s, e in zip(key, frame["start_s"], frame["end_s"], strict=True)}
    sums: dict[tuple[str, str], list[float]] = {}
    first_seen: dict[str, int] = {}
    sel = metric + "{" + ",".join(_REAL_CONTAINERS) + "}"
    expr = f"sum by (namespace, pod, container, id) ({sel})"
    for chunk in source.iter_range(expr, start, end, step, chunk_points):
        # A restarted container's old series stays visible for the lookback window: at each grid
        # point keep only the newest container id of each container name.
        groups: dict[tuple[str, str, str], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        lo = None
        for labels, t, v in chunk:
            kk = (labels.get("namespace", ""), labels.get("pod", ""))
            if kk not in life or v.size == 0:
                continue
            idx = np.rint((t - start) / step).astype(np.int64)
            cid = labels.get("id", "")
            first = first_seen.setdefault(cid, int(idx[0]))
            groups.setdefault((*kk, labels.get("container", "")), []).append((first, idx, v))
            lo = int(idx.min()) if lo is None else min(lo, int(idx.min()))
        if lo is None:
            continue
        hi = max(int(i.max()) for ser in groups.values() for _, i, _ in ser) + 1
        grid = start + np.arange(lo, hi) * step
        pod_vals: dict[tuple[str, str], np.ndarray] = {}
        for (ns, pod, _c), series in groups.items():
            val = np.full(hi - lo, np.nan)
            for _, i, v in sorted(series, key=lambda x: x[0]):
                val[i - lo] = v
            have = pod_vals.get((ns, pod))
            pod_vals[(ns, pod)] = val if have is None else np.where(np.isnan(have), val, have + np.nan_to_num(val))
        for kk, val in pod_vals.items():
            s_, e_ = life[kk]
            inside = (grid >= s_) & (grid <= e_) & ~np.isnan(val)  # stale copies after the pod: not its life
            tot = sums.setdefault(kk, [0.0, 0.0])
            tot[0] += float(val[inside].sum())
            tot[1] += float(inside.sum())
    frame["mem_bytes_used"] = [sums[kk][0] / sums[kk][1] if kk in sums and sums[kk][1] else math.nan for kk in key]
    return frame


# ------------------------------------------------------------------------------------------------
# Checking a server
# ------------------------------------------------------------------------------------------------

CHECK_SERIES: tuple[tuple[str, str, str], ...] = (
    ("kepler_pod_cpu_joules_total", "Kepler ≥ 0.10 energy", "no Kepler ≥ 0.10 energy"),
    ("kepler_container_joules_total", "Kepler ≤ 0.7 energy", "no Kepler ≤ 0.7 energy"),
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
