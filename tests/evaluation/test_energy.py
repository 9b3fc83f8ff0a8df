"""Horizon energy and carbon arithmetic, and cron schedules, checked by hand."""

from __future__ import annotations

import re

import pytest

from app.core.errors import InputError
from app.core.schema import ContainerSpec, InferenceRequest
from app.ml.energy import horizon_energy, runs_per_day

C = [ContainerSpec(name="a", image="x")]


@pytest.mark.parametrize(("schedule", "per_day"), [
    ("*/15 * * * *", 96), ("0 2 * * *", 1), ("30 */6 * * *", 4), ("@hourly", 24), ("@daily", 1),
    ("0 0 * * 1-5", 5 / 7), ("0 9,17 * * mon", 2 / 7), ("CRON_TZ=UTC 0 3 * * *", 1),
    # calendar-exact over the leap cycle (365.25 days): a date that does not exist never fires
    ("0 0 30 2 *", 0.0), ("0 0 29 2 *", 0.25 / 365.25), ("0 0 31 * *", 7 / 365.25), ("@monthly", 12 / 365.25),
    ("@yearly", 1 / 365.25), ("0 0 * jan *", 31 / 365.25), ("0 0 * feb *", 28.25 / 365.25),
    ("0 0 1 * mon", (12 + (365.25 - 12) / 7) / 365.25),  # the 1st, or any Monday
])
def test_runs_per_day(schedule: str, per_day: float) -> None:
    assert runs_per_day(schedule) == pytest.approx(per_day)


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * *", "0 0 * * funday", "*/0 * * * *"])
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        runs_per_day(bad)


def test_deployment_energy_all_replicas_over_the_horizon() -> None:
    req = InferenceRequest(workload_kind="Deployment", workload_name="d", containers=C, replicas=3)
    h = horizon_energy(req, 10.0, 2.0, grid_gco2_per_kwh=400.0, pue=1.5)
    # 3 pods × 10 W × 7200 s × 1.5 = 324 000 J = 0.09 kWh → 36 g at 400 g/kWh
    assert (h.hours, h.energy_j, h.energy_kwh, h.co2_g) == pytest.approx((2.0, 324_000.0, 0.09, 36.0))


def test_no_grid_intensity_no_co2() -> None:
    req = InferenceRequest(workload_kind="Pod", workload_name="p", containers=C)
    assert horizon_energy(req, 1.0, 1.0).co2_g is None


def test_job_energy_is_per_run() -> None:
    req = InferenceRequest(workload_kind="Job", workload_name="j", containers=C, completions=4, parallelism=2,
                           replicas=2)
    h = horizon_energy(req, 50.0, 24.0, run_duration_s=1800.0)
    # 4 completions × 50 W × 1800 s, whatever the 24 h horizon
    assert (h.hours, h.energy_j) == pytest.approx((0.5, 360_000.0))


def test_cronjob_energy_from_its_schedule() -> None:
    req = InferenceRequest(workload_kind="CronJob", workload_name="c", containers=C, schedule="0 */4 * * *")
    h = horizon_energy(req, 2.0, 24.0, run_duration_s=600.0, grid_gco2_per_kwh=100.0)
    # 6 runs × 1 pod × 2 W × 600 s = 7200 J per day
    assert (h.hours, h.energy_j, h.co2_g) == pytest.approx((24.0, 7200.0, 7200.0 / 3.6e6 * 100.0))


def test_cronjob_with_a_bad_schedule_names_the_field() -> None:
    req = InferenceRequest(workload_kind="CronJob", workload_name="c", containers=C, schedule="every day")
    with pytest.raises(InputError, match="schedule"):
        horizon_energy(req, 2.0, 24.0, run_duration_s=600.0)


@pytest.mark.parametrize(("schedule", "message"), [
    ("H * * * *", "'h' is neither a number nor a month or weekday name"),  # Jenkins' hash syntax, not cron
    ("*/x * * * *", "'x' is not a number"),
    ("0 ٣ * * *", "'٣' is neither a number"),  # int() reads Arabic-Indic digits; cron does not
    ("*/+5 * * * *", "'+5' is not a number"),
])
def test_a_schedule_that_is_not_cron_says_which_part(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        runs_per_day(schedule)
