"""Times and durations as users type them: Unix seconds, RFC 3339, `now`, and relative `6h`, `10d`, `90m`."""

from __future__ import annotations

import datetime as dt
import re
import time

from app.core.errors import InputError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """`60s`, `5m`, `1h`, `7d` or a number of seconds → seconds (> 0)."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        s = text.strip()
        m = _DURATION.match(s)
        if m:
            seconds = float(m.group(1)) * _UNITS[m.group(2)]
        else:
            try:
                seconds = float(s)
            except ValueError:
                raise InputError(f"invalid {what} {text!r}: use e.g. 60s, 5m, 1h, 7d", source="arguments") from None
    if not seconds > 0:
        raise InputError(f"invalid {what} {text!r}: must be positive", source="arguments")
    return seconds


def parse_time(text: str | float | int, now: float | None = None, what: str = "time") -> float:
    """Absolute Unix seconds from `now`, `6h` (6 hours ago), Unix seconds, or RFC 3339."""
    now = time.time() if now is None else now
    if isinstance(text, int | float):
        return float(text)
    s = text.strip()
    if s == "now":
        return now
    if _DURATION.match(s):
        return now - parse_duration(s, what)
    try:
        return float(s)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"invalid {what} {text!r}: use Unix seconds, RFC 3339 (2026-01-01T00:00:00Z), now, or 6h (ago)",
            source="arguments",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
