"""What a trained artifact adds to a bare prediction: interval, explanations, OOD flag and prior blend.

Built from the `extras` saved beside the model (`app.pipelines.training.train_tuned_model`): the conformal
interval (`app.ml.conformal`), the training workloads in the model's row order (identity, measured
power, mean pod duration) and the typical nearest-neighbour distance of the training set. A model
saved without extras serves exactly as before: `active` is False and nothing here runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from app.core.kinds import BATCH_KINDS
from app.core.schema import ExplainedNeighbor, Explanation, InferenceRequest, Neighbor
from app.ml.conformal import LogInterval
from app.ml.physics import MIN_POWER_W, W_PER_GPU, informative, log_power, physical_max_w, physics_power_w
from app.ml.tuning import blend_prior, prior_weight

OOD_PRIOR_WEIGHT = 0.5
"""`out_of_distribution` by distance: the prior weighs more than the neighbours (nearest training workload
beyond twice the typical distance). Calibrated on `tests/data/corpus`: ordinary manifests stay below it."""
EXPLAIN_NEIGHBORS = 5
"""Training workloads listed by `explain=True` (at least the model's own k)."""


class Served(NamedTuple):
    """Per-request outputs of `ServingExtras.query` (power already in watts, blended when OOD).

    The neighbours (nearest first) are kept for explanations; the usage is their mean (`usage`).
    A named tuple: built once per prediction, where a frozen dataclass's `__init__` costs more.
    """

    power_w: float
    low_w: float
    high_w: float
    out_of_distribution: bool
    prior_weight: float
    neighbor_dist: list[float]
    neighbor_idx: list[int]
    cpu_cores: float | None = None
    mem_bytes: float | None = None


def _sequential_sum(values: list[float]) -> float:
    """Left to right from 0.0, as written (Python 3.12's `sum` of floats compensates, and rounds otherwise)."""
    out = 0.0
    for v in values:
        out += v
    return out


class Arithmetic(NamedTuple):
    """The operations of a one-row query whose last bit depends on who computes them: numpy's exp and log
    are not the C library's, and numpy sums a row in its own order (pairwise). +, −, ×, ÷ are the
    same everywhere (IEEE 754, correctly rounded)."""

    exp: Callable[[float], float]
    log: Callable[[float], float]
    total: Callable[[list[float]], float]


PYTHON = Arithmetic(math.exp, math.log, _sequential_sum)
"""/predict's: its answers have always been computed so (and stay as they were)."""
NUMPY = Arithmetic(lambda v: float(np.exp(v)), lambda v: float(np.log(v)),
                   lambda values: float(np.add.reduce(np.array(values))))
"""The batch path's (`ServingExtras.query`): numpy's functions on one value, and its sum of one row."""


@dataclass
class ServingExtras:
    """The serving extras of one model (`from_extras`), which every query must be given."""

    interval: LogInterval | None = None
    ood_distance: float | None = None
    table: dict[str, list[Any]] = field(default_factory=dict)
    active: bool = False
    targets: list[float] = field(default_factory=list)
    """The model's fitted log targets and prior offsets per training row, as Python floats for `_query_one`."""
    offsets: list[float] = field(default_factory=list)
    gpus: list[float] = field(default_factory=list)
    """GPUs and prior without GPUs (W) per training row, for the GPU part of `pair_shift` (empty: a model
    saved before it)."""
    base_w: list[float] = field(default_factory=list)

    @classmethod
    def from_extras(cls, extras: dict[str, Any], model: Any) -> ServingExtras:
        table = extras.get("training_workloads") or {}
        n_rows = getattr(model, "X_", np.empty((0, 0))).shape[0]
        ok = bool(extras.get("interval")) and len(table.get("workload_name", [])) == n_rows > 0
        if not ok:
            return cls()
        offsets = getattr(model, "offset_", None)
        gpus, base_w = getattr(model, "gpus_", None), getattr(model, "base_w_", None)
        return cls(interval=LogInterval.from_dict(extras["interval"]), ood_distance=float(extras["ood_distance"]),
                   table=table, active=True, targets=np.asarray(model.y_fit_, dtype=np.float64).tolist(),
                   offsets=[] if offsets is None else np.asarray(offsets, dtype=np.float64).tolist(),
                   gpus=[] if gpus is None else np.asarray(gpus, dtype=np.float64).tolist(),
                   base_w=[] if base_w is None else np.asarray(base_w, dtype=np.float64).tolist())

    def query(self, model: Any, X: np.ndarray, requests: Sequence[InferenceRequest], to_watts: float) -> list[Served]:
        """Predict, flag and blend, and bound a batch of encoded requests."""
        assert self.interval is not None and self.ood_distance is not None
        k = int(model.n_neighbors_)
        dist, idx = model.kneighbors_unchecked(X, max(k, EXPLAIN_NEIGHBORS))
        prior = np.array([physics_power_w(r) for r in requests])
        if getattr(model, "needs_offset", False):
            offsets = np.where([informative(r) for r in requests], log_power(prior), np.nan)
            pred = model.predict_from_neighbors(dist[:, :k], idx[:, :k], offsets, [r.gpu_count for r in requests])
        else:
            pred = model.predict_unchecked(X)
        pred = np.maximum(pred * to_watts, 0.0)
        weight = prior_weight(dist[:, 0], self.ood_distance)
        cap = np.array([physical_max_w(r) for r in requests])
        power = np.minimum(blend_prior(pred, prior, weight), cap)
        low, high = self.interval.bounds(power)
        high = np.minimum(high, cap)
        out = []
        for i in range(len(requests)):
            near = idx[i].tolist()
            out.append(Served(float(power[i]), float(low[i]), float(high[i]), bool(weight[i] > OOD_PRIOR_WEIGHT),
                              float(weight[i]), dist[i].tolist(), near, *self.usage(near[:k], requests[i])))
        return out

    def query_one(self, model: Any, x: np.ndarray, request: InferenceRequest, to_watts: float) -> Served:
        """`query` for one encoded request (1-D) in Python's arithmetic: the API's per-request path (/predict)."""
        if not getattr(model, "needs_offset", False):
            return self.query(model, x[None, :], [request], to_watts)[0]
        k = int(model.n_neighbors_)
        dist, idx = model.nearest_one(x, max(k, EXPLAIN_NEIGHBORS))
        return self._query_one(model, dist, idx, request, to_watts, k, PYTHON)

    def query_rows(self, model: Any, X: np.ndarray, requests: Sequence[InferenceRequest],
                   to_watts: float) -> list[Served]:
        """`query_one` for each row of a block, to the bit: the block's neighbour search (the same rows and
        distances as `nearest_one`'s, see `KNNEnergyRegressor.kneighbors_unchecked`), then each row's
        formulas in `query_one`'s arithmetic (`PYTHON`). The API's path for concurrent misses
        (`Predictor.misses`), whose answers must not depend on how requests happened to be grouped.
        """
        if not getattr(model, "needs_offset", False):
            return self.query(model, X, requests, to_watts)
        k = int(model.n_neighbors_)
        dist, idx = model.kneighbors_unchecked(X, max(k, EXPLAIN_NEIGHBORS))
        return [self._query_one(model, d, i, r, to_watts, k, PYTHON)
                for d, i, r in zip(dist.tolist(), idx.tolist(), requests, strict=True)]

    def query_row(self, model: Any, x: np.ndarray, request: InferenceRequest, to_watts: float) -> Served:
        """`query` of a batch of one row, to the bit, without a batch's numpy calls: the batch's neighbour
        search, then the formulas in scalar arithmetic with numpy's own exp, log and sums (`NUMPY`).

        `Predictor.predict_many`'s path for a single missing spec (a YAML body with one workload), whose
        answers are the batch path's; a test checks they are equal, float for float.
        """
        if not getattr(model, "needs_offset", False):
            return self.query(model, x[None, :], [request], to_watts)[0]
        k = int(model.n_neighbors_)
        dist, idx = model.kneighbors_unchecked(x[None, :], max(k, EXPLAIN_NEIGHBORS))
        return self._query_one(model, dist[0].tolist(), idx[0].tolist(), request, to_watts, k, NUMPY)

    def _query_one(self, model: Any, dist: list[float], idx: list[int], request: InferenceRequest,
                   to_watts: float, k: int, arithmetic: Arithmetic) -> Served:
        """`query` for one request in scalar arithmetic.

        The same formulas as the batch path (`predict_from_neighbors`, `pair_shift`,
        `neighbor_average`, `prior_weight`, `blend_prior`, `LogInterval.bounds`), on Python floats:
        for one row, each numpy call costs more than its arithmetic. `arithmetic` gives the operations
        whose last bit depends on who computes them (see `Arithmetic`). Tests compare both paths.
        """
        assert self.interval is not None and self.ood_distance is not None
        exp, log, total = arithmetic
        prior = physics_power_w(request)
        offset = log(max(prior, MIN_POWER_W)) if informative(request) else math.nan
        near = idx[:k]
        d = dist[:k]
        targets = [self.targets[n] for n in near]
        scale = float(model.offset_scale)
        for j, n in enumerate(near):
            shift = self.shift(offset, request.gpu_count, n, log)
            if shift is not None:
                targets[j] += scale * shift
        weights = neighbor_weights(d, model.weights)
        avg = total([wj * t for t, wj in zip(targets, weights, strict=True)]) / total(weights)
        pred = max(exp(avg) * to_watts, 0.0)
        nearest, typical = dist[0], self.ood_distance
        if not math.isfinite(typical) or typical <= 0:
            weight = (1.0 if nearest > 0 else 0.0) if typical == 0 else 0.0
        else:
            weight = 1.0 - typical / nearest if nearest > typical else 0.0
        cap = physical_max_w(request)
        power = min(exp((1.0 - weight) * log(max(pred, MIN_POWER_W)) + weight * log(max(prior, MIN_POWER_W))), cap)
        low, high = power * math.exp(self.interval.q_low), min(power * math.exp(self.interval.q_high), cap)
        return Served(power, low, high, weight > OOD_PRIOR_WEIGHT, weight, dist, idx, *self.usage(near, request))

    def shift(self, offset: float, gpus: int, n: int, log: Callable[[float], float]) -> float | None:
        """`pair_shift` for one query and training row `n`, in scalar arithmetic; None: the neighbour as is.

        The full prior ratio where both priors are informative; else the GPU part alone when the GPU counts
        differ (and the model carries it); else nothing.
        """
        full = offset - self.offsets[n]
        if math.isfinite(full):
            return full
        if self.gpus and gpus != self.gpus[n]:
            base = self.base_w[n]
            return log(base + W_PER_GPU * gpus) - log(base + W_PER_GPU * self.gpus[n])
        return None

    def neighbors(self, dist: Sequence[float], idx: Sequence[int]) -> list[Neighbor]:
        t = self.table
        return [Neighbor(namespace=t["namespace"][j], workload_kind=t["workload_kind"][j],
                         workload_name=t["workload_name"][j], distance=float(d),
                         measured_avg_power_w=float(t["measured_avg_power_w"][j]))
                for d, j in zip(dist, idx, strict=True)]

    def usage(self, near: Sequence[int], request: InferenceRequest) -> tuple[float | None, float | None]:
        """Predicted CPU cores and memory bytes per pod: the mean measured usage of the nearest workloads
        (the model's k), never above the pod's own limits (a container cannot use more).

        This is a k-NN regressor fitted on the usage labels, sharing the power model's neighbour
        search; absent when the training labels had no usage columns.
        """
        table = self.table
        cpu = _finite_mean(table.get("cpu_cores_used"), near)
        mem = _finite_mean(table.get("mem_bytes_used"), near)
        if cpu is not None and request.effective_lim_cpu_mcpu is not None:
            cpu = min(cpu, request.effective_lim_cpu_mcpu / 1000.0)
        if mem is not None and request.effective_lim_mem_mib is not None:
            mem = min(mem, request.effective_lim_mem_mib * 2.0**20)
        return cpu, mem

    def explain(self, model: Any, served: Served, request: InferenceRequest, to_watts: float) -> Explanation:
        """How `served.power_w` follows from its neighbours (the formula in `Explanation`'s docstring).

        Recomputed here from the same fitted arrays, off the hot path: explanations are asked for rarely.
        """
        k = int(model.n_neighbors_)
        near, dist = served.neighbor_idx[:k], served.neighbor_dist[:k]
        prior = physics_power_w(request)
        offset = math.log(max(prior, MIN_POWER_W)) if informative(request) else math.nan
        scale_exp = float(getattr(model, "offset_scale", 0.0))
        raw = neighbor_weights(dist, model.weights)
        total = sum(raw)
        t = self.table
        neighbors = []
        for j, d, w in zip(near, dist, raw, strict=True):
            shift = self.shift(offset, request.gpu_count, j, math.log) if self.offsets else None
            scale = 1.0 if shift is None else math.exp(scale_exp * shift)
            full = shift is not None and math.isfinite(offset - self.offsets[j])
            scaled_by = "none" if shift is None else "prior ratio" if full else "GPUs"
            measured = math.exp(self.targets[j]) * to_watts
            neighbors.append(ExplainedNeighbor(
                namespace=t["namespace"][j], workload_kind=t["workload_kind"][j], workload_name=t["workload_name"][j],
                distance=float(d), measured_avg_power_w=float(t["measured_avg_power_w"][j]), scale=scale,
                scaled_by=scaled_by, scaled_power_w=measured * scale, weight=w / total,
                prior_power_w=self.base_w[j] + W_PER_GPU * self.gpus[j] if self.gpus else None,
                gpus=int(self.gpus[j]) if self.gpus else None))
        knn = math.exp(sum(n.weight * math.log(n.scaled_power_w) for n in neighbors))
        return Explanation(neighbors=neighbors, knn_power_w=knn, prior_power_w=prior,
                           prior_weight=served.prior_weight, typical_distance=self.ood_distance,
                           offset_scale=scale_exp,
                           physical_max_w=physical_max_w(request))

    def run_duration_s(self, model: Any, vector: np.ndarray, idx: Sequence[int]) -> float | None:
        """Median mean-pod duration of the nearest measured Jobs/CronJobs (the listed neighbours first)."""
        kinds = np.asarray(self.table["workload_kind"])
        durations = np.asarray(self.table.get("duration_s", []), dtype=np.float64)
        if len(durations) != len(kinds):
            return None
        batch = np.isin(kinds, BATCH_KINDS) & np.isfinite(durations) & (durations > 0)
        near = [j for j in idx if batch[j]]
        if not near:
            rows = np.flatnonzero(batch)
            if len(rows) == 0:
                return None
            q = model._prepare(vector[None, :])[0]
            d = np.linalg.norm(model.X_[rows] - q, axis=1)
            near = list(rows[np.argsort(d, kind="stable")[:EXPLAIN_NEIGHBORS]])
        return float(np.median(durations[near]))


def neighbor_weights(dist: Sequence[float], weights: str) -> list[float]:
    """The k neighbours' weights as `neighbor_average` uses them, for one row: equal ("uniform"), or
    1/distance, or, when some distance is 0, 1 for the exact matches and 0 for the rest (as
    scikit-learn does). Shared by the one-row prediction and its explanation."""
    if weights != "distance":
        return [1.0] * len(dist)
    if 0.0 in dist:
        return [1.0 if d == 0.0 else 0.0 for d in dist]
    return [1.0 / d for d in dist]


def _finite_mean(values: list[float] | None, rows: Sequence[int]) -> float | None:
    """Mean of `values[rows]` over the finite ones (None when there are none, or no column)."""
    if not values:
        return None
    total, n = 0.0, 0
    isfinite = math.isfinite
    for j in rows:
        v = values[j]
        if isfinite(v):
            total += v
            n += 1
    return total / n if n else None
