"""Prediction intervals by split/cross-conformal calibration on group-CV residuals, in log space.

Why log space: errors of a power model are multiplicative (a 2× miss on a 1 W pod and on a
500 W pod are the same kind of miss), so the interval is `[pred · e^q_lo, pred · e^q_hi]`, with
`q_lo`, `q_hi` empirical quantiles of `log(measured) − log(predicted)` over out-of-fold rows
(each predicted by a model that never saw its workload). The finite-sample rank correction of
split conformal prediction gives coverage ≥ level for exchangeable data; plain numpy, no dependency.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from app.physics import log_power

DEFAULT_LEVEL = 0.8


@dataclass(frozen=True)
class LogInterval:
    """Calibrated multiplicative interval: `low = pred · exp(q_low)`, `high = pred · exp(q_high)`."""

    level: float
    q_low: float
    q_high: float
    n_calibration: int

    def bounds(self, pred: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(pred, dtype=np.float64)
        return p * math.exp(self.q_low), p * math.exp(self.q_high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogInterval:
        return cls(level=float(d["level"]), q_low=float(d["q_low"]), q_high=float(d["q_high"]),
                   n_calibration=int(d["n_calibration"]))


def log_residuals(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """`log(measured) − log(predicted)`, rows without a finite prediction dropped."""
    r = log_power(y_true) - log_power(y_pred)
    return r[np.isfinite(r)]


def calibrate(residuals: np.ndarray, level: float = DEFAULT_LEVEL) -> LogInterval:
    """Equal-tailed conformal quantiles of log residuals at the given level (0 < level < 1).

    Lower tail at rank ⌊(n+1)·α/2⌋, upper at ⌈(n+1)·(1−α/2)⌉ (1-based, clipped to [1, n]).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be between 0 and 1, got {level}")
    r = np.sort(np.asarray(residuals, dtype=np.float64))
    n = len(r)
    if n == 0:
        raise ValueError("no residuals to calibrate the interval on")
    alpha = 1.0 - level
    lo_rank = max(1, min(n, math.floor((n + 1) * alpha / 2 + 1e-9)))  # 1e-9: 1 − 0.8 ≠ 0.2 in floats
    hi_rank = max(1, min(n, math.ceil((n + 1) * (1 - alpha / 2) - 1e-9)))
    return LogInterval(level=level, q_low=float(min(r[lo_rank - 1], 0.0)), q_high=float(max(r[hi_rank - 1], 0.0)),
                       n_calibration=n)


def coverage(y_true: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of rows whose measured value lies in [low, high]."""
    y = np.asarray(y_true, dtype=np.float64)
    return float(np.mean((y >= low) & (y <= high))) if len(y) else float("nan")
