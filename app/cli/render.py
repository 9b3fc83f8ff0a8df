"""Human and machine renderings of predictions: `predict --format table|markdown|json|ndjson`.

Rule: machine formats (ndjson, json) carry every field exactly as the API returns it; human formats
(table, markdown) show one row per workload with numbers rounded to 3 significant digits (the model's
error is tens of percent: more digits would be noise), per-pod and all-replica quantities in separate,
labelled columns, energy and CO2e over the horizon the command used (a month by default), and footer
lines saying which grid intensity, PUE and interval level were used. `diff` reuses `sig`, `signed`
and `grid` here so both commands print numbers alike.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from app.core.schema import MultiPrediction, Prediction, SkippedDocument
from app.ml.energy import DAYS_PER_MONTH

MONTH_HOURS = DAYS_PER_MONTH * 24.0
"""Hours in an average month (365.25 / 12 days): the human formats' default horizon."""
FORMATS = ("table", "markdown", "json", "ndjson")
HUMAN_FORMATS = ("table", "markdown")


def sig(x: float | None, digits: int = 3) -> str:
    """`x` rounded to `digits` significant digits, without exponent between 1e-4 and 1e15 ("–" for None)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    exp = math.floor(math.log10(abs(x)))
    if exp < -4 or exp >= 15:
        return f"{x:.{digits - 1}e}"
    decimals = digits - 1 - exp
    value = round(x, decimals)
    if value != 0 and math.floor(math.log10(abs(value))) > exp:  # 9.996 → 10.0: one digit fewer after the point
        decimals -= 1
    return f"{value:.{max(decimals, 0)}f}"


def signed(x: float | None, digits: int = 3) -> str:
    """`sig` with an explicit + for positive numbers (for deltas)."""
    text = sig(x, digits)
    return "+" + text if x is not None and x > 0 else text


def interval(low: float | None, high: float | None, fmt: Any = sig) -> str:
    """`(low–high)`; signed bounds get ` … ` so a minus sign is never read as the dash."""
    if low is None or high is None:
        return ""
    return f"({fmt(low)}–{fmt(high)})" if fmt is sig else f"({fmt(low)} … {fmt(high)})"


def grid(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool,
         right: Sequence[bool] | None = None) -> str:
    """A text table (columns padded, numbers right-aligned) or a GitHub-flavoured markdown table."""
    right = right or [False] * len(headers)
    if markdown:
        sep = ["---:" if r else "---" for r in right]
        lines = [headers, sep, *rows]
        return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines)
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def workload_label(p: Prediction) -> str:
    return f"{p.workload_kind} {p.namespace}/{p.workload_name}"


def horizon_label(hours: float) -> str:
    return "month" if math.isclose(hours, MONTH_HOURS) else f"{sig(hours)} h"


def energy_note(p: Prediction) -> str:
    """A marker for energy that does not cover the requested horizon (a Job's single run)."""
    return " per run" if p.hours_basis == "per-run" else ""


def prediction_rows(preds: Sequence[Prediction]) -> list[list[str]]:
    rows = []
    for p in preds:
        kg = None if p.pred_co2_g_all_replicas is None else p.pred_co2_g_all_replicas / 1000.0
        rows.append([
            workload_label(p),
            str(p.replicas),
            f"{sig(p.pred_power_w_per_pod)} {interval(p.pred_avg_power_w_low, p.pred_avg_power_w_high)}".rstrip(),
            sig(p.pred_power_w_all_replicas),
            sig(p.pred_energy_kwh_all_replicas) + energy_note(p),
            sig(kg) + (energy_note(p) if kg is not None else ""),
            "OOD" if p.out_of_distribution else "",
        ])
    return rows


def footer(preds: Sequence[Prediction], hours: float, grid_gco2_per_kwh: float | None, pue: float) -> list[str]:
    """What the numbers assume, one fact a line."""
    level = next((p.interval_level for p in preds if p.interval_level is not None), None)
    lines = []
    if level is not None:
        lines.append(f"W per pod: prediction ({level:.0%} interval); W total = replicas × W per pod.")
    lines.append(f"Energy over a {horizon_label(hours)} ({sig(hours)} h) for all replicas, PUE {sig(pue)}; "
                 "Jobs: one run (\"per run\"); CronJobs: their scheduled runs.")
    if grid_gco2_per_kwh is None:
        lines.append("CO2e: no grid intensity given (set GRID_GCO2_PER_KWH or --grid-gco2-per-kwh).")
    else:
        lines.append(f"CO2e at {sig(grid_gco2_per_kwh)} gCO2e/kWh (GRID_GCO2_PER_KWH / --grid-gco2-per-kwh).")
    if any(p.out_of_distribution for p in preds):
        lines.append("OOD: far from every training workload; the physics prior weighs in and the interval "
                     "is less reliable.")
    models = sorted({p.model_version for p in preds})
    if models:
        lines.append(f"model {', '.join(models)}")
    return lines


def render_predictions(preds: Sequence[Prediction], fmt: str, *, skipped: Sequence[SkippedDocument] = (),
                       hours: float | None = None, grid_gco2_per_kwh: float | None = None,
                       pue: float = 1.0) -> str:
    """The whole output of `predict` in `fmt` (ends with a newline unless empty)."""
    if fmt == "ndjson":
        return "".join(p.model_dump_json(exclude_none=True) + "\n" for p in preds)
    if fmt == "json":
        multi = MultiPrediction(predictions=list(preds), skipped=list(skipped),
                                pred_power_w_total=sum(p.pred_power_w_total for p in preds))
        return json.dumps(multi.model_dump(mode="json", exclude_none=True), indent=2) + "\n"
    if fmt not in HUMAN_FORMATS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    span = horizon_label(hours if hours is not None else MONTH_HOURS)
    headers = ["workload", "replicas", "W per pod (interval)", "W total", f"kWh/{span}", f"kg CO2e/{span}", "OOD"]
    rows = prediction_rows(preds)
    total_w = sum(p.pred_power_w_all_replicas or 0.0 for p in preds)
    kwh = [p.pred_energy_kwh_all_replicas for p in preds]
    co2 = [p.pred_co2_g_all_replicas for p in preds]
    rows.append(["total", str(sum(p.replicas for p in preds)), "", sig(total_w),
                 sig(sum(k for k in kwh if k is not None)) if any(k is not None for k in kwh) else "–",
                 sig(sum(c for c in co2 if c is not None) / 1000.0) if any(c is not None for c in co2) else "–", ""])
    markdown = fmt == "markdown"
    table = grid(headers, rows, markdown, right=[False, True, True, True, True, True, False])
    notes = footer(preds, hours if hours is not None else MONTH_HOURS, grid_gco2_per_kwh, pue)
    notes += [f"skipped document {s.document}: {s.reason}" for s in skipped]
    if markdown:
        return table + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return table + "\n\n" + "\n".join(notes) + "\n"
