"""The Kepler schemas, in one table: which counter is the energy label and how its series group.

Kepler ≤ 0.7 exports `kepler_container_joules_total` (and per-component `…_package_…`, `…_dram_…`,
`…_gpu_…`, `…_other_…`), labelled `container_namespace`, `pod_name`, `container_id` and `mode`
(`dynamic` or `idle`; the modes of one container reset together, so they are summed on the server).
Kepler ≥ 0.10 exports `kepler_pod_cpu_joules_total` per `zone` (package, core, uncore, dram, psys;
zones overlap and are never summed), labelled `pod_namespace`, `pod_name`, `pod_id`, `node_name` and
`state` (`running`, plus a lingering `terminated` copy, collapsed with `max`), dynamic energy only.
Sources: Kepler's metric documentation (docs/design/metrics.md in sustainable-computing-io/kepler
for 0.7; docs/user/metrics.md for 0.10+). The simulator's exporters write these same names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.errors import InputError

KEPLER07_METRICS = {
    "total": "kepler_container_joules_total",
    "package": "kepler_container_package_joules_total",
    "dram": "kepler_container_dram_joules_total",
    "gpu": "kepler_container_gpu_joules_total",
    "other": "kepler_container_other_joules_total",
}
KEPLER010_METRIC = "kepler_pod_cpu_joules_total"
KEPLER010_ZONES = ("package", "core", "uncore", "dram", "psys")


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
