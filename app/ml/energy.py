"""Energy and carbon over a horizon, from predicted average power per pod.

* Long-running workloads (Deployment, StatefulSet, DaemonSet, …, Pod): all replicas run the whole
  horizon: `E = replicas × P × hours × 3600 × PUE` joules.
* Job: one run. Pods = `completions` when set, else `parallelism`/replicas (at least 1); each pod
  runs for the duration of similar measured Jobs: `E = pods × P × duration × PUE`, whatever the
  horizon (the energy *per run*).
* CronJob: runs per day from the schedule × energy per run × hours / 24 (`hours=24` → per day).

`kWh = J / 3.6e6`; `gCO2e = kWh × grid intensity` (the PUE is already in the energy: the facility's
overhead draws from the same grid).

Bounds, so every answer is a finite number: `hours` ≤ `MAX_HOURS` (10 years), grid intensity ≤
`MAX_GRID_GCO2_PER_KWH`; a result that still overflows a float is refused with an `InputError`
naming `hours` rather than answered as infinity (which JSON can only write as null).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.core.errors import InputError
from app.core.kinds import BATCH_KINDS
from app.core.schema import InferenceRequest

J_PER_KWH = 3.6e6
MAX_HOURS = 87_600.0
"""Longest horizon accepted: 10 years (a forecast beyond a hardware generation means little)."""
MAX_GRID_GCO2_PER_KWH = 2_000.0
"""Highest grid carbon intensity accepted, gCO2e/kWh: about twice the most carbon-intensive national grids
(coal-heavy grids report ~700-1,100; a lignite plant alone ~1,200), so any real figure passes."""
MAX_NODES = 100_000
"""Largest node count for a DaemonSet (`?nodes=`, `--nodes`): Kubernetes is tested up to 5,000 nodes a cluster
(its documented scalability limit), so this leaves room for any real cluster while keeping every all-replica
figure far from float overflow."""
DAYS_PER_MONTH = 365.25 / 12
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_NAMES = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}


def _field(spec: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        base, _, step_s = part.partition("/")
        step = _number(step_s) if step_s else 1
        if step < 1:
            raise ValueError(f"step must be ≥ 1 in {part!r}")
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            a_s, b_s = base.split("-", 1)
            a, b = _value(a_s), _value(b_s)
        else:
            a = _value(base)
            b = hi if step_s else a
        if a < lo or b > hi or a > b:
            raise ValueError(f"{part!r} is outside {lo}-{hi}")
        out.update(range(a, b + 1, step))
    return out


def _value(s: str) -> int:
    s = s.strip().lower()
    return _NAMES[s] if s in _NAMES else _number(s, " nor a month or weekday name")


def _number(s: str, alternative: str = "") -> int:
    """A cron number: ASCII digits only (`int()` also takes `٣`, `+3` and `3_0`, and names nothing in its error)."""
    if not (s.isascii() and s.isdigit()):
        raise ValueError(f"{s!r} is {'neither' if alternative else 'not'} a number{alternative}")
    return int(s)


def runs_per_day(schedule: str) -> float:
    """Average runs per day of a cron schedule (5 fields or an @macro; `CRON_TZ=`/`TZ=` prefix ignored).

    Minutes × hours fire on every matching day; the day share is |dom|/30.44 or |dow|/7 (either
    restricted: cron fires when either matches, capped at every day), times |months|/12.
    """
    text = schedule.strip()
    if text.split(" ", 1)[0].upper().startswith(("CRON_TZ=", "TZ=")):
        text = text.split(" ", 1)[1].strip() if " " in text else ""
    text = _MACROS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = fields
    n_min = len(_field(minute, 0, 59))
    n_hour = len(_field(hour, 0, 23))
    doms = _field(dom, 1, 31)
    months = _field(month, 1, 12)
    dows = {d % 7 for d in _field(dow, 0, 7)}
    dom_any, dow_any = dom in ("*", "?"), dow in ("*", "?")
    if dom_any and dow_any:
        day_share = 1.0
    elif dow_any:
        day_share = min(1.0, len(doms) / DAYS_PER_MONTH)
    elif dom_any:
        day_share = len(dows) / 7
    else:
        day_share = min(1.0, len(doms) / DAYS_PER_MONTH + len(dows) / 7)
    return n_min * n_hour * day_share * len(months) / 12


@dataclass(frozen=True)
class Horizon:
    """Energy of a workload over a horizon; `hours` is what the energy covers (a Job: its run)."""

    hours: float
    energy_j: float
    energy_kwh: float
    co2_g: float | None
    basis: str = "horizon"
    """`horizon` (every replica runs `hours`), `per-run` (one Job run) or `schedule` (a CronJob's runs)."""


def job_pods(req: InferenceRequest) -> int:
    """Pods one run of a Job (or CronJob run) starts: completions, else parallelism, at least 1."""
    if req.completions:
        return int(req.completions)
    return max(int(req.parallelism or req.replicas or 1), 1)


def check_horizon(hours: float | None, grid_gco2_per_kwh: float | None, source: str = "<request>") -> None:
    """Refuse a horizon or grid intensity that is not a finite number within its bounds (the one check,
    used by the predictor for every caller; the API's query parser reports the same bounds first)."""
    for field, value, top in (("hours", hours, MAX_HOURS), ("grid_gco2_per_kwh", grid_gco2_per_kwh,
                                                             MAX_GRID_GCO2_PER_KWH)):
        if value is not None and not (0 <= value <= top):  # NaN fails too
            raise InputError(f"must be a number from 0 to {top:g}, got {value}", source=source, field=field)


def horizon_energy(
    req: InferenceRequest,
    power_w: float,
    hours: float,
    *,
    run_duration_s: float | None = None,
    grid_gco2_per_kwh: float | None = None,
    pue: float = 1.0,
    source: str = "<request>",
) -> Horizon:
    """Energy (and CO2 when a grid intensity is given) of the workload; see the module docstring.

    A Job or CronJob without a known run duration, and a CronJob without a schedule (the request form
    may leave it out), are treated as running the whole horizon: an upper bound, never a refusal.
    """
    check_horizon(hours, grid_gco2_per_kwh, source)
    if not 1.0 <= pue < math.inf:
        raise InputError(f"PUE must be a finite number ≥ 1, got {pue}", source=source, field="pue")
    batch = req.workload_kind in BATCH_KINDS and run_duration_s is not None
    if req.workload_kind == "CronJob" and req.schedule is None:
        batch = False
    if batch:
        run_j = job_pods(req) * power_w * float(run_duration_s)  # type: ignore[arg-type]
        if req.workload_kind == "Job":
            joules, covered, basis = run_j, float(run_duration_s) / 3600.0, "per-run"  # type: ignore[arg-type]
        else:
            try:
                per_day = runs_per_day(req.schedule or "")
            except (ValueError, KeyError) as exc:
                raise InputError(f"cannot read the CronJob schedule {req.schedule!r}: {exc}", source=source,
                                 what=f"CronJob {req.namespace}/{req.workload_name}", field="schedule") from None
            joules, covered, basis = run_j * per_day * hours / 24.0, hours, "schedule"
    else:
        joules, covered, basis = req.replicas * power_w * hours * 3600.0, hours, "horizon"
    joules *= pue
    kwh = joules / J_PER_KWH
    co2 = kwh * grid_gco2_per_kwh if grid_gco2_per_kwh is not None else None
    if not (math.isfinite(joules) and (co2 is None or math.isfinite(co2))):
        raise InputError(f"the energy over {hours:g} hours is beyond the range of a float; ask for a shorter "
                         "horizon", source=source, field="hours")
    return Horizon(hours=covered, energy_j=joules, energy_kwh=kwh, co2_g=co2, basis=basis)
