"""Reset-aware counter increases over a step grid, streamed from a range source.

Each series' increase is computed like Prometheus' `increase()` without extrapolation: add
`v[i] - v[i-1]`, or `v[i]` after a drop. When a drop is seen between two grid points, one targeted
`max_over_time(…[step])` query recovers the pre-reset peak, so the energy between the last grid point
and the reset is not lost. Ranges are streamed chunk by chunk into numpy, carrying each series' last
value across chunks, so a week of a thousand pods stays well under a GiB.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from app.energy_labels.kepler import CounterQuery

log = logging.getLogger(__name__)

SeriesChunk = list[tuple[dict[str, str], np.ndarray, np.ndarray]]


class RangeSource(Protocol):
    """What the label builder needs from Prometheus (`app.adapters.prometheus.PromClient` implements it)."""

    def query(self, expr: str, at: float | None = None) -> list[Any]: ...

    def iter_range(self, expr: str, start: float, end: float, step: float,
                   chunk_points: int | None = None) -> Iterator[SeriesChunk]: ...

    def metric_names(self, start: float | None = None, end: float | None = None,
                     match: str | None = None) -> list[str]: ...


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
    born: bool = True
    """For a series first seen after the first grid point: counted from 0 (it started inside the window)."""


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

    def count_from_first_sample(self, key: tuple[str, ...]) -> None:
        """The series existed before its first visible sample: its first value is not energy of this window."""
        tr = self.tracks[key]
        if tr.first_i == 0 or not tr.born:
            return
        tr.born = False
        tr.total -= tr.first_v
        if self.keep_steps:
            tr.steps.append((np.array([tr.first_i]), np.array([-tr.first_v])))

    def feed_tail(self, key: tuple[str, ...], value: float) -> float:
        """Add the increase from the last grid point to a later sample (at `--end`); returns it."""
        tr = self.tracks.get(key)
        if tr is None:
            return 0.0
        increase = value - tr.prev if value >= tr.prev else value
        tr.total += increase
        tr.prev = value
        return increase

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


def stream_counter(source: RangeSource, q: CounterQuery, start: float, end: float, step: float,
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


def sample_times(source: RangeSource, q: CounterQuery, acc: CounterAccumulator, start: float, end: float,
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


def series_start(tr: _Track, times: dict[int, float], grid0: float, step: float, fallback: float) -> float:
    """The time the counter was 0: the first visible sample, extrapolated back along the next increase."""
    ts0 = times.get(tr.first_i, fallback)
    if tr.first_i == 0 or tr.first_v <= 0 or not tr.born:
        return ts0
    ts1 = times.get(tr.second_i)
    lo = grid0 + (tr.first_i - 1) * step  # the series was not visible at the previous grid point
    if ts1 is None or ts1 <= ts0 or not tr.second_v > tr.first_v:
        return max(lo, ts0 - step / 2)
    rate = (tr.second_v - tr.first_v) / (ts1 - ts0)
    return min(ts0, max(lo, ts0 - tr.first_v / rate))
