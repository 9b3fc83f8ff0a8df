"""How often a CronJob runs: average runs per day of its cron schedule, calendar-exact.

Rule (the five-field cron of Kubernetes' CronJob controller, robfig/cron: minute, hour, day of month,
month, day of week; `@yearly` … `@hourly` macros; a `CRON_TZ=`/`TZ=` prefix): every matching minute of
every matching hour fires on each matching day. A day matches when its day of month *or* its weekday
matches if both fields are restricted, the restricted one if only one is, every day if neither is
(cron's rule). Days are counted over the four-year leap cycle (365.25 days a year; 29 February once
in four years), so `0 0 30 2 *` never fires (0 runs a day) and `0 0 31 * *` fires on the 7 months
that have a 31st, not on 12. Weekdays fall evenly on every date over the 400-year cycle, so a
restricted weekday field counts `|weekdays| / 7` of the days it could fire on.

Why here (the spec layer): the converter checks a schedule when it reads a CronJob, so a bad one is an
error naming the document and `spec.schedule`; the energy arithmetic (`app.ml.energy`) uses the same
count.
"""

from __future__ import annotations

import functools

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
NAMES = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
    "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
}
DAYS_PER_YEAR = 365.25
MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
LEAP_DAY_SHARE = 0.25
"""29 February exists one year in four."""


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
    return NAMES[s] if s in NAMES else _number(s, " nor a month or weekday name")


def _number(s: str, alternative: str = "") -> int:
    """A cron number: ASCII digits only (`int()` also takes `٣`, `+3` and `3_0`, and names nothing in its error)."""
    if not (s.isascii() and s.isdigit()):
        raise ValueError(f"{s!r} is {'neither' if alternative else 'not'} a number{alternative}")
    return int(s)


def _days_in_month(month: int, day: int) -> float:
    """How many of the years' `month`s have a day `day`, averaged over the leap cycle (0, 0.25 or 1)."""
    if day <= MONTH_DAYS[month - 1]:
        return 1.0
    return LEAP_DAY_SHARE if month == 2 and day == 29 else 0.0


@functools.lru_cache(maxsize=1024)
def runs_per_day(schedule: str) -> float:
    """Average runs per day of a cron schedule (module docstring); `ValueError` naming the part at fault.

    Memoised: the converter reads a CronJob's schedule and the energy arithmetic reads it again, and a
    cluster's CronJobs share a handful of schedules."""
    text = schedule.strip()
    if text.split(" ", 1)[0].upper().startswith(("CRON_TZ=", "TZ=")):
        text = text.split(" ", 1)[1].strip() if " " in text else ""
    text = MACROS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"a cron schedule has 5 fields, got {len(fields)}")
    minute, hour, dom, month, dow = fields
    n_min = len(_field(minute, 0, 59))
    n_hour = len(_field(hour, 0, 23))
    doms = _field(dom, 1, 31)
    months = _field(month, 1, 12)
    weekday_share = len({d % 7 for d in _field(dow, 0, 7)}) / 7
    dom_any, dow_any = dom in ("*", "?"), dow in ("*", "?")
    days = 0.0  # days a year it fires on
    for m in months:
        length = MONTH_DAYS[m - 1] + (LEAP_DAY_SHARE if m == 2 else 0.0)
        by_date = sum(_days_in_month(m, d) for d in doms)
        if dom_any and dow_any:
            days += length
        elif dow_any:
            days += by_date
        elif dom_any:
            days += length * weekday_share
        else:  # either field matches: the dates, plus the other days on a matching weekday
            days += by_date + (length - by_date) * weekday_share
    return n_min * n_hour * days / DAYS_PER_YEAR
