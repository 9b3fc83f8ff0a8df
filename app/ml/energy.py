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
from app.workloads.schedule import DAYS_PER_YEAR, runs_per_day

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
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
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
