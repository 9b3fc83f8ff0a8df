"""The edges of the data: counters older than the first sample, and samples after the last grid point.

The rule. A counter series first seen after the window's first grid point is either a new pod
(Kepler and cAdvisor counters start at 0 with their container: count its first value as energy of
the window) or the start of the *data* (Prometheus' retention edge, or Prometheus scraping since
after Kepler started: the counter had been running, and its first value is energy from before the
data). A series whose first sample is among the first samples Prometheus holds for the metric is
counted from zero only with evidence that the pod started inside the window:
`kube_pod_start_time` (kube-state-metrics) at or after the window start, or — without it — a first
value consistent with its age (first value ÷ its rate ≤ the time since the window start). Otherwise
it is counted from its first sample. Why: counting a week-old counter from zero books its whole
history into the window; on Kepler's own published 0.7 series that is 4.3× the energy.

A range query stops at the last grid point before `--end`; one instant query at `--end` adds the
increase of every running series up to its last sample before `--end`.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from app.energy_labels.counters import CounterAccumulator, RangeSource
from app.energy_labels.kepler import CounterQuery

log = logging.getLogger(__name__)

Extent = dict[tuple[str, ...], tuple[float, float, dict[int, float]]]
"""Per series: first sample time, last sample time, sample times at its first grid points."""


@dataclass(frozen=True)
class DataStart:
    """How many series began at the first sample of the data, and how they were counted."""

    data_start_s: float
    series: int
    at_data_start: int
    counted_from_first_sample: int

    def note(self) -> str | None:
        if not self.at_data_start:
            return None
        return (f"{self.at_data_start} of {self.series} energy series begin at the first sample Prometheus holds "
                f"(t={self.data_start_s:.0f}): {self.counted_from_first_sample} were already running and are "
                f"counted from that sample, {self.at_data_start - self.counted_from_first_sample} started inside "
                "the window and are counted from zero; energy before the data is not in these labels")

    @property
    def mostly(self) -> bool:
        return self.at_data_start * 2 > self.series


def settle_data_start(acc: CounterAccumulator, extent: Extent, grid0: float, step: float,
                      started: Callable[[tuple[str, ...]], float | None]) -> DataStart:
    """Decide, for every series first seen after the first grid point at the data's start, how it counts.

    `started(key)` is the pod's start time from kube-state-metrics, or None when not known.
    """
    if not extent:
        return DataStart(math.nan, len(acc.tracks), 0, 0)
    data_start = min(first for first, _, _ in extent.values())
    gaps = [times[tr.second_i] - times[tr.first_i] for key, tr in acc.tracks.items()
            if (times := extent.get(key, (0, 0, {}))[2]) and tr.first_i in times and tr.second_i in times
            and times[tr.second_i] > times[tr.first_i]]
    scrape = statistics.median(gaps) if gaps else step
    tolerance = max(step, 1.5 * scrape)
    at_start = from_first = 0
    for key, tr in acc.tracks.items():
        first_ts, _, times = extent.get(key, (math.inf, 0.0, {}))
        if tr.first_i == 0 or first_ts - data_start > tolerance:
            continue
        at_start += 1
        if not _born_inside(tr.first_v, tr.second_v, times.get(tr.first_i, first_ts), times.get(tr.second_i),
                            started(key), grid0, tolerance):
            acc.count_from_first_sample(key)
            from_first += 1
    result = DataStart(data_start, len(acc.tracks), at_start, from_first)
    if result.mostly:
        log.warning("%d of %d energy series begin at the first sample Prometheus holds (t=%.0f): --start is "
                    "before the data", at_start, len(acc.tracks), data_start)
    return result


def _born_inside(first_v: float, second_v: float, ts0: float, ts1: float | None, started: float | None,
                 grid0: float, tolerance: float) -> bool:
    if started is not None:
        return started >= grid0 - 1.0
    if first_v <= 0:
        return True
    if ts1 is None or ts1 <= ts0 or not second_v > first_v:
        return False  # no rate to date it by: a counter with energy on it at the data's start is older
    age = first_v / ((second_v - first_v) / (ts1 - ts0))
    return age <= (ts0 - grid0) + tolerance


def add_tail(source: RangeSource, q: CounterQuery, acc: CounterAccumulator, extent: Extent, end: float) -> int:
    """Count each series up to its last sample before `end`, past the last grid point; returns series extended."""
    values = {acc.key(s.labels): float(s.samples[0][1]) for s in source.query(q.expr(), end)}
    stamps = {acc.key(s.labels): float(s.samples[0][1]) for s in source.query(q.ts_expr(), end)}
    extended = 0
    for key, value in values.items():
        if key not in acc.tracks:
            continue  # first seen after the last grid point: less than one step of life
        if acc.feed_tail(key, value) > 0:
            extended += 1
        if key in extent and key in stamps:
            first, last, times = extent[key]
            extent[key] = (first, max(last, stamps[key]), times)
    return extended


def read_pod_start_times(source: RangeSource, start: float, end: float) -> dict[tuple[str, str], float]:
    """`kube_pod_start_time` per (namespace, pod), empty without kube-state-metrics."""
    window = max(1, math.ceil(end - start) + 1)
    out: dict[tuple[str, str], float] = {}
    for s in source.query(f"max by (namespace, pod) (last_over_time(kube_pod_start_time[{window}s]))", end):
        out[(s.labels.get("namespace", ""), s.labels.get("pod", ""))] = float(s.samples[0][1])
    return out
