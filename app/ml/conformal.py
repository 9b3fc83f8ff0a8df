"""Prediction intervals by split/cross-conformal calibration on group-CV residuals, in log space.

Why log space: errors of a power model are multiplicative (a 2× miss on a 1 W pod and on a
500 W pod are the same kind of miss), so the interval is `[pred · e^q_lo, pred · e^q_hi]`, with
`q_lo`, `q_hi` empirical quantiles of `log(measured) − log(predicted)` over out-of-fold rows
(each predicted by a model that never saw its workload). The finite-sample rank correction of
split conformal prediction gives coverage ≥ level for exchangeable data; plain numpy, no dependency.

Why weighted by workload: pods are not exchangeable, they come in clusters. A DaemonSet puts 40
pods behind one workload-level miss, so with one weight per pod whether that single miss falls in
a tail moved the measured coverage by ±10 points from one cluster to the next. A spec sent to the
service is a *new workload*, so each training workload counts once: its pods share weight 1, and
the test point is one more workload (weighted conformal prediction, Tibshirani et al. 2019, with
the weights of a group-level exchangeability). With one row per workload this is exactly the
classic rank rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from app.ml.physics import log_power

DEFAULT_LEVEL = 0.8


@dataclass(frozen=True)
class LogInterval:
    """Calibrated multiplicative interval: `low = pred · exp(q_low)`, `high = pred · exp(q_high)`."""

    level: float
    q_low: float
    q_high: float
    n_calibration: int
    n_workloads: int | None = None

    def bounds(self, pred: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(pred, dtype=np.float64)
        return p * math.exp(self.q_low), p * math.exp(self.q_high)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogInterval:
        groups = d.get("n_workloads")
        return cls(level=float(d["level"]), q_low=float(d["q_low"]), q_high=float(d["q_high"]),
                   n_calibration=int(d["n_calibration"]), n_workloads=None if groups is None else int(groups))


def log_residuals(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """`log(measured) − log(predicted)`; NaN where the prediction is not finite (drop before calibrating)."""
    return log_power(y_true) - log_power(y_pred)


def group_weights(groups: np.ndarray | None, n: int) -> np.ndarray:
    """Weight `1 / (rows in the row's group)` per row, so that each group's rows sum to 1."""
    if groups is None:
        return np.ones(n)
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    if len(inverse) != n:
        raise ValueError(f"groups must have one value per residual ({n}), got {len(inverse)}")
    return 1.0 / counts[inverse]


def _upper_quantile(r: np.ndarray, w: np.ndarray, q: float) -> float:
    """Smallest residual whose cumulative weight reaches `q` of (all weights + one test group).

    The test point's mass (1, one new workload) sits at +∞; when `q` needs it the interval would be
    unbounded, and like the rank rule clipped to `[1, n]` this returns the largest residual instead.
    """
    order = np.argsort(r, kind="stable")
    cum = np.cumsum(w[order]) / (w.sum() + 1.0)
    i = int(np.searchsorted(cum, q - 1e-9))  # 1e-9: 1 − 0.8 ≠ 0.2 in floats
    return float(r[order[min(i, len(r) - 1)]])


def calibrate(residuals: np.ndarray, level: float = DEFAULT_LEVEL, groups: np.ndarray | None = None) -> LogInterval:
    """Equal-tailed conformal quantiles of log residuals at the given level (0 < level < 1).

    Without `groups` every residual weighs 1: the lower tail is the residual at rank ⌊(n+1)·α/2⌋,
    the upper at ⌈(n+1)·(1−α/2)⌉ (1-based, clipped to [1, n]). With `groups` (the workload of each
    residual) each group weighs 1 in total, and the ranks become cumulative weights. Non-finite
    residuals (no prediction) are dropped.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must be between 0 and 1, got {level}")
    r = np.asarray(residuals, dtype=np.float64)
    keep = np.isfinite(r)
    r = r[keep]
    if len(r) == 0:
        raise ValueError("no residuals to calibrate the interval on")
    g = None if groups is None else np.asarray(groups)[keep]
    w = group_weights(g, len(r))
    alpha = 1.0 - level
    q_high = _upper_quantile(r, w, 1.0 - alpha / 2)
    q_low = -_upper_quantile(-r, w, 1.0 - alpha / 2)
    return LogInterval(level=level, q_low=min(q_low, 0.0), q_high=max(q_high, 0.0), n_calibration=len(r),
                       n_workloads=None if g is None else len(np.unique(g)))


def coverage(y_true: np.ndarray, low: np.ndarray, high: np.ndarray, groups: np.ndarray | None = None) -> float:
    """Share of rows whose measured value lies in [low, high]; with `groups`, each group weighs the same."""
    y = np.asarray(y_true, dtype=np.float64)
    if not len(y):
        return float("nan")
    inside = ((y >= low) & (y <= high)).astype(np.float64)
    w = group_weights(groups, len(y))
    return float(np.sum(inside * w) / np.sum(w))
