"""The Kepler schemas, in one table: which counter is the energy label and how its series group.

Kepler ≤ 0.7 exports `kepler_container_joules_total` (and per-component `…_package_…`, `…_dram_…`,
`…_gpu_…`, `…_other_…`), labelled `container_namespace`, `pod_name`, `container_id` and `mode`
(`dynamic` or `idle`; the modes of one container reset together, so they are summed on the server).
Kepler ≥ 0.10 exports `kepler_pod_cpu_joules_total` per `zone` (package, core, uncore, dram, psys;
zones overlap and are never summed), labelled `pod_namespace`, `pod_name`, `pod_id`, `node_name` and
`state` (`running`, plus a lingering `terminated` copy, collapsed with `max`), dynamic energy only.
The names, labels, zones and modes are facts of Kepler's format, declared once in `app.core.kepler`
(with their sources); the simulator's exporters write the same table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.core import kepler as k
from app.core.errors import InputError

KEPLER07_METRICS = {zone: k.total(family) for zone, family in k.CONTAINER_07.items()}
KEPLER010_METRIC = k.ENERGY_SERIES[k.SCHEMA_010]


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
    if schema == k.SCHEMA_07:
        z = zone or "total"
        if z not in KEPLER07_METRICS:
            raise InputError(f"unknown --zone {z!r} for Kepler 0.7; choose from {', '.join(KEPLER07_METRICS)}",
                             source="arguments")
        mf = mode_filter or ",".join(k.MODES_07)
        modes = sorted({m.strip() for m in mf.split(",") if m.strip()})
        if not modes or set(modes) - set(k.MODES_07):
            raise InputError(f"invalid --mode-filter {mf!r}: use {', '.join(k.MODES_07)} or {','.join(k.MODES_07)}",
                             source="arguments")
        q = CounterQuery(KEPLER07_METRICS[z], (f'{k.MODE_07}=~"{"|".join(modes)}"',),
                         (k.NAMESPACE_07, k.POD_07, k.CONTAINER_ID), "sum", (k.NAMESPACE_07, k.POD_07, None))
        return EnergySource(k.SCHEMA_07, q, z, "+".join(modes))
    if schema == k.SCHEMA_010:
        z = zone or "package"
        if z not in k.ZONES:
            raise InputError(f"unknown --zone {z!r} for Kepler 0.10; choose one of {', '.join(k.ZONES)} "
                             "(zones overlap and are never summed)", source="arguments")
        if mode_filter and mode_filter.strip() not in (k.DYNAMIC, ""):
            raise InputError(f"Kepler ≥ 0.10 reports only {k.DYNAMIC} energy per pod: --mode-filter must be "
                             f"{k.DYNAMIC}", source="arguments")
        pod = (k.NAMESPACE_010, k.POD_010, k.POD_ID_010)
        q = CounterQuery(KEPLER010_METRIC, (f'{k.ZONE_010}="{z}"',), pod, "max", pod,
                         ts_matchers=(f'{k.STATE_010}="{k.STATE_RUNNING}"',), node_label=k.NODE_010)
        return EnergySource(k.SCHEMA_010, q, z, k.DYNAMIC)
    raise InputError(f"unknown Kepler schema {schema!r}; use auto, {' or '.join(k.SCHEMAS)}", source="arguments")


def detect_schema(names: Sequence[str]) -> str | None:
    """`0.10` if `kepler_pod_cpu_joules_total` exists, else `0.7` if any `kepler_container_*joules_total` does."""
    present = set(names)
    if KEPLER010_METRIC in present:
        return k.SCHEMA_010
    if any(m in present for m in KEPLER07_METRICS.values()):
        return k.SCHEMA_07
    return None
