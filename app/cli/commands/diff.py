"""`diff BASE HEAD`: the power a change to manifests adds or removes, for pull requests.

Exit codes: 0 = done (gate passed or none asked), 1 = a `--fail-above-*` gate tripped (the report is
still printed), 2 = bad input (one line on stderr). The domain logic is app.pipelines.diff; this
module parses flags and renders (markdown for a PR comment, a text table, or JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from app.core.settings import get_settings

STATUS_MARK = {"added": "+ added", "removed": "- removed", "changed": "~ changed"}


def register(sub: argparse._SubParsersAction) -> None:
    s = get_settings()
    d = sub.add_parser("diff", help="power/energy/CO2e difference between two sets of manifests (for PRs)",
                       description="Each side: a manifest file, a directory of manifests (recursive *.yaml, "
                       "*.yml, *.json) or - for stdin (e.g. `helm template … | python -m app diff base/ -`). "
                       "Exit 1 when a --fail-above-* gate trips, 2 on bad input.")
    d.add_argument("base", help="manifests before the change (file, directory or -)")
    d.add_argument("head", help="manifests after the change (file, directory or -)")
    d.add_argument("--format", choices=["markdown", "table", "json"], default="table",
                   help="markdown: a PR comment; table: text; json: every number (default: %(default)s)")
    d.add_argument("--hours", type=float, help="energy horizon in hours (default: a month, 730.5 h)")
    d.add_argument("--grid-gco2-per-kwh", type=float, default=s.grid_gco2_per_kwh,
                   help="grid carbon intensity for CO2e (default: GRID_GCO2_PER_KWH)")
    d.add_argument("--nodes", type=int, help="nodes a DaemonSet runs on (its replicas; default 1)")
    d.add_argument("--fail-above-watts", type=float, metavar="N",
                   help="exit 1 when the total power rises by more than N watts")
    d.add_argument("--fail-above-percent", type=float, metavar="P",
                   help="exit 1 when the total power rises by more than P percent of the base")
    d.add_argument("--encoder", default=str(s.encoder_path), help="default: %(default)s")
    d.add_argument("--model", default=str(s.model_path), help="default: %(default)s")
    d.set_defaults(func=diff_cmd)


def diff_cmd(args: argparse.Namespace) -> int:
    from app.cli.render import MONTH_HOURS
    from app.core.errors import InputError
    from app.pipelines.diff import diff, gate, read_side
    from app.serving.predictor import Predictor

    if args.base == "-" and args.head == "-":
        raise InputError("only one side can be read from stdin", source="-")
    for name in ("hours", "grid_gco2_per_kwh", "fail_above_watts", "fail_above_percent"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise InputError(f"must be a number >= 0, got {value}", source="--" + name.replace("_", "-"))
    base, head = read_side(args.base), read_side(args.head)
    predictor = Predictor.load(args.encoder, args.model, pue=get_settings().pue)
    hours = MONTH_HOURS if args.hours is None else args.hours
    result = diff(base, head, predictor, hours=hours, grid_gco2_per_kwh=args.grid_gco2_per_kwh, nodes=args.nodes)
    reasons = gate(result, fail_above_watts=args.fail_above_watts, fail_above_percent=args.fail_above_percent)
    sys.stdout.write(render_json(result, reasons) if args.format == "json" else
                     render_text(result, reasons, markdown=args.format == "markdown"))
    sys.stdout.flush()
    for reason in reasons:
        print(f"diff gate failed: {reason}", file=sys.stderr)
    return 1 if reasons else 0


def _quantity(q: Any) -> dict[str, float] | None:
    if q is None:
        return None
    out = {"value": q.value}
    if q.low is not None:
        out.update(low=q.low, high=q.high)
    return out


def render_json(result: Any, reasons: list[str]) -> str:
    """Every number, unrounded: Δ W all replicas, Δ kWh and Δ g CO2e over `hours`, with bounds."""
    pct = result.delta_percent  # null when the base draws nothing
    changes = []
    for c in result.changes:
        side = c.head or c.base
        changes.append({
            "namespace": c.key[0], "workload_kind": c.key[1], "workload_name": c.key[2], "status": c.status,
            "base_replicas": c.base.replicas if c.base else None, "head_replicas": c.head.replicas if c.head else None,
            "base_power_w_all_replicas": c.base.pred_power_w_all_replicas if c.base else None,
            "head_power_w_all_replicas": c.head.pred_power_w_all_replicas if c.head else None,
            "delta_power_w_all_replicas": _quantity(c.delta_w), "delta_energy_kwh": _quantity(c.delta_kwh),
            "delta_co2_g": _quantity(c.delta_co2_g), "hours_basis": side.hours_basis if side else None,
        })
    doc = {
        "hours": result.hours, "grid_gco2_per_kwh": result.grid_gco2_per_kwh, "model_version": result.model_version,
        "base_power_w_all_replicas": result.base_total_w, "head_power_w_all_replicas": result.head_total_w,
        "delta_power_w_all_replicas": _quantity(result.delta_w), "delta_percent": pct if math.isfinite(pct) else None,
        "delta_energy_kwh": _quantity(result.delta_kwh), "delta_co2_g": _quantity(result.delta_co2_g),
        "changes": changes, "gate_failures": reasons,
    }
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def render_text(result: Any, reasons: list[str], *, markdown: bool) -> str:
    from app.cli.render import grid, horizon_label, interval, sig, signed

    span = horizon_label(result.hours)
    co2 = result.grid_gco2_per_kwh is not None

    def cell(q: Any, scale: float = 1.0) -> str:
        if q is None:
            return "–"
        lo, hi = (None, None) if q.low is None else (q.low * scale, q.high * scale)
        return f"{signed(q.value * scale)} {interval(lo, hi, signed)}".rstrip()

    headers = ["", "workload", "replicas", "W before", "W after", "Δ W (interval)", f"Δ kWh/{span}"]
    if co2:
        headers.append(f"Δ kg CO2e/{span}")
    rows = []
    for c in result.listed:
        replicas = f"{c.base.replicas if c.base else '–'} → {c.head.replicas if c.head else '–'}"
        side = c.head or c.base
        name = f"{c.key[1]} {c.key[0]}/{c.key[2]}"
        if markdown:
            name = f"`{name}`"
        row = [STATUS_MARK[c.status], name, replicas,
               sig(c.base.pred_power_w_all_replicas) if c.base else "–",
               sig(c.head.pred_power_w_all_replicas) if c.head else "–",
               cell(c.delta_w), cell(c.delta_kwh) + (" per run" if side.hours_basis == "per-run" else "")]
        if co2:
            row.append(cell(c.delta_co2_g, 1e-3))
        rows.append(row)
    unchanged = len(result.changes) - len(result.listed)
    pct = result.delta_percent
    total = (f"{sig(result.base_total_w)} W → {sig(result.head_total_w)} W: {signed(result.delta_w.value)} W "
             f"{interval(result.delta_w.low, result.delta_w.high, signed)}".rstrip()
             + f" ({signed(pct)} %), {signed(result.delta_kwh.value)} kWh/{span}")
    if co2:
        total += f", {signed(result.delta_co2_g.value / 1000.0)} kg CO2e/{span}"
    notes = [f"{len(result.listed)} workload(s) changed, {unchanged} unchanged; W = all replicas; "
             f"intervals: conservative bounds of the difference of two predictions.",
             f"Energy over a {span} ({sig(result.hours)} h); Jobs: one run.",
             f"CO2e at {sig(result.grid_gco2_per_kwh)} gCO2e/kWh." if co2 else
             "CO2e: no grid intensity given (GRID_GCO2_PER_KWH or --grid-gco2-per-kwh).",
             f"model {result.model_version}"]
    notes += [f"gate failed: {r}" for r in reasons]
    right = [False, False, True, True, True, True, True] + ([True] if co2 else [])
    if markdown:
        head = "### Power diff (k8sPodPCP)\n\n"
        body = grid(headers, rows, True, right) if rows else "_No workload changed._"
        return (head + f"**Total: {total}**\n\n" + body + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    body = grid(headers, rows, False, right) if rows else "no workload changed"
    return body + "\n\n" + f"total: {total}\n" + "\n".join(notes) + "\n"
