"""Power, energy and CO2e difference between two sets of manifests (`python -m app diff BASE HEAD`).

What infracost does for cloud cost, for watts: each side is a manifest file, a directory of manifests
(recursive `*.yaml`, `*.yml`, `*.json`, read in sorted order) or `-` (stdin: `helm template …`,
`kustomize build …`). Both sides are predicted by the same predictor with the same options, and
workloads are matched by (namespace, kind, name):

* added (only in HEAD), removed (only in BASE), changed (spec hash or replicas differ), unchanged;
* Δ = HEAD − BASE of the all-replica power (W), energy per horizon (kWh, a month by default) and
  CO2e (g, when a grid intensity is given);
* the interval of a Δ: when both sides have the same per-pod prediction (e.g. a DaemonSet's node
  count changed), they share one error, so the bounds move together (`Δreplicas × per-pod bounds`);
  otherwise the two predictions' errors are not known to be related and the bounds are the
  conservative `[low_head − high_base, high_head − low_base]` (an added or removed workload: its own
  interval). Totals add the bounds.

A workload named twice on one side is refused (the `helm template` of a chart and its copy in the
same directory would otherwise count twice). No I/O beyond reading the inputs; rendering lives in
the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.adapters.files import read_requests
from app.core.errors import InputError
from app.core.schema import InferenceRequest, Prediction, SkippedDocument
from app.serving.predictor import Predictor

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
Key = tuple[str, str, str]


@dataclass
class Side:
    """One side's workloads (by identity), what was skipped, and where they came from."""

    label: str
    requests: dict[Key, tuple[InferenceRequest, str]] = field(default_factory=dict)
    skipped: list[tuple[str, SkippedDocument]] = field(default_factory=list)
    files: int = 0


def read_side(path: str) -> Side:
    """Workloads from a file, a directory tree of manifests, or `-` (stdin)."""
    side = Side(label="<stdin>" if path == "-" else path)
    p = Path(path)
    if path != "-" and p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in MANIFEST_SUFFIXES)
        if not files:
            raise InputError("no *.yaml, *.yml or *.json manifests in this directory", source=path)
    else:
        files = [p] if path != "-" else ["-"]  # type: ignore[list-item]
    for f in files:
        result = read_requests(f)
        side.files += 1
        side.skipped += [(result.source, s) for s in result.skipped]
        for req in result.requests:
            key = req.workload_key
            if key in side.requests:
                raise InputError(f"{key[1]} {key[0]}/{key[2]} is defined twice (also in {side.requests[key][1]})",
                                 source=result.source)
            side.requests[key] = (req, result.source)
    return side


@dataclass(frozen=True)
class Quantity:
    """A value with its interval (bounds may be None when the model has no interval)."""

    value: float
    low: float | None = None
    high: float | None = None


@dataclass
class Change:
    key: Key
    status: str  # "added" | "removed" | "changed" | "unchanged"
    base: Prediction | None
    head: Prediction | None
    delta_w: Quantity
    delta_kwh: Quantity
    delta_co2_g: Quantity | None


@dataclass
class DiffResult:
    changes: list[Change]
    hours: float
    grid_gco2_per_kwh: float | None
    base_total_w: float
    head_total_w: float
    delta_w: Quantity
    delta_kwh: Quantity
    delta_co2_g: Quantity | None
    model_version: str
    skipped: list[tuple[str, SkippedDocument]]

    @property
    def delta_percent(self) -> float:
        """Δ W as a percentage of the base total (∞ when the base draws nothing and the head does)."""
        if self.base_total_w > 0:
            return 100.0 * self.delta_w.value / self.base_total_w
        return 0.0 if self.delta_w.value == 0 else math.copysign(math.inf, self.delta_w.value)

    @property
    def listed(self) -> list[Change]:
        return [c for c in self.changes if c.status != "unchanged"]


def _all(p: Prediction | None, name: str) -> tuple[float, float | None, float | None]:
    """(value, low, high) of an all-replica quantity: `w`, `kwh` or `co2`; zeros for a missing side."""
    if p is None:
        return 0.0, 0.0, 0.0
    if name == "w":
        return p.pred_power_w_all_replicas or 0.0, p.pred_power_w_all_replicas_low, p.pred_power_w_all_replicas_high
    if name == "kwh":
        return (p.pred_energy_kwh_all_replicas or 0.0, p.pred_energy_kwh_all_replicas_low,
                p.pred_energy_kwh_all_replicas_high)
    return p.pred_co2_g_all_replicas or 0.0, p.pred_co2_g_all_replicas_low, p.pred_co2_g_all_replicas_high


def _delta(base: Prediction | None, head: Prediction | None, name: str, correlated: bool) -> Quantity:
    b, b_lo, b_hi = _all(base, name)
    h, h_lo, h_hi = _all(head, name)
    if None in (b_lo, b_hi, h_lo, h_hi):
        return Quantity(h - b)
    if correlated:  # one per-pod prediction on both sides: the bounds move together
        lo, hi = h_lo - b_lo, h_hi - b_hi  # type: ignore[operator]
        return Quantity(h - b, min(lo, hi), max(lo, hi))
    return Quantity(h - b, h_lo - b_hi, h_hi - b_lo)  # type: ignore[operator]


def _sum(items: Sequence[Quantity]) -> Quantity:
    value = sum(q.value for q in items)
    if any(q.low is None or q.high is None for q in items):
        return Quantity(value)
    return Quantity(value, sum(q.low for q in items), sum(q.high for q in items))  # type: ignore[misc]


def diff(base: Side, head: Side, predictor: Predictor, *, hours: float, grid_gco2_per_kwh: float | None = None,
         nodes: int | None = None) -> DiffResult:
    """Predict both sides and compare them workload by workload (see the module docstring)."""
    preds: list[dict[Key, Prediction]] = []
    for side in (base, head):
        reqs = [r for r, _ in side.requests.values()]
        out = predictor.predict_many(reqs, side.label, hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh,
                                     nodes=nodes)
        preds.append({k: p for k, p in zip(side.requests, out, strict=True)})
    before, after = preds
    changes = []
    for key in sorted(before.keys() | after.keys()):
        b, h = before.get(key), after.get(key)
        if b is None:
            status = "added"
        elif h is None:
            status = "removed"
        elif b.spec_hash == h.spec_hash and b.replicas == h.replicas:
            status = "unchanged"
        else:
            status = "changed"
        correlated = (b is not None and h is not None and b.pred_power_w_per_pod == h.pred_power_w_per_pod
                      and b.pred_avg_power_w_low == h.pred_avg_power_w_low)
        co2 = _delta(b, h, "co2", correlated) if grid_gco2_per_kwh is not None else None
        changes.append(Change(key, status, b, h, _delta(b, h, "w", correlated), _delta(b, h, "kwh", correlated),
                              co2))
    listed = [c for c in changes if c.status != "unchanged"]
    return DiffResult(
        changes=changes, hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh,
        base_total_w=sum(p.pred_power_w_all_replicas or 0.0 for p in before.values()),
        head_total_w=sum(p.pred_power_w_all_replicas or 0.0 for p in after.values()),
        delta_w=_sum([c.delta_w for c in listed]), delta_kwh=_sum([c.delta_kwh for c in listed]),
        delta_co2_g=_sum([c.delta_co2_g for c in listed if c.delta_co2_g]) if grid_gco2_per_kwh is not None else None,
        model_version=predictor.model_version, skipped=base.skipped + head.skipped,
    )


def gate(result: DiffResult, *, fail_above_watts: float | None = None,
         fail_above_percent: float | None = None) -> list[str]:
    """Reasons the CI gate fails (empty: it passes). Thresholds compare the total Δ W, not its bounds."""
    reasons = []
    if fail_above_watts is not None and result.delta_w.value > fail_above_watts:
        reasons.append(f"total power rises by {result.delta_w.value:.3g} W, above --fail-above-watts "
                       f"{fail_above_watts:g}")
    if fail_above_percent is not None and result.delta_percent > fail_above_percent:
        reasons.append(f"total power rises by {result.delta_percent:.3g} %, above --fail-above-percent "
                       f"{fail_above_percent:g}")
    return reasons
