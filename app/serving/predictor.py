"""One predictor object for the API, the CLI and the benchmarks.

Loads the encoder and model once, completes each request (pod_spec conversion, derived
resources), and caches the encoded vector and the model's output by spec hash (bounded LRU), so a
spec seen before is never encoded again.

The model is queried through `predict_unchecked` (the same code as `predict`, minus
scikit-learn's per-call input validation, which costs more than the neighbour search itself for one
row); the rows come from our own encoder (float64, right width, checked finite). Requests with a
number no float can hold (inf, or an integer beyond 2^53) are refused with an `InputError` naming
the field, before they reach the encoder.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from app.core.errors import ArtifactError, InputError
from app.core.kinds import BATCH_KINDS
from app.core.schema import POWER_TARGETS, STEP_SECONDS, InferenceRequest, Prediction, check_numbers
from app.ml.artifacts import load_pair
from app.ml.energy import MAX_NODES, check_horizon, horizon_energy
from app.ml.features import WorkloadEncoder
from app.ml.model import KNNEnergyRegressor
from app.serving.extras import Served, ServingExtras
from app.workloads.convert import complete_request
from app.workloads.plausibility import implausible

"""Targets the model can be trained on, with the factor that turns the target into watts."""

_set = object.__setattr__
_PREDICTION_FIELDS = dict.fromkeys(Prediction.model_fields)
"""Every field of `Prediction` in declaration order (the order validation fills `__dict__` in), all None."""


def _new_prediction(fields: dict[str, Any]) -> Prediction:
    """`Prediction.model_validate(fields)` for values of exactly the declared types, without validating them.

    `_prediction` fills `fields` from our own arithmetic (str, int, float, bool, list of str), which
    validation would return unchanged, and on every request that costs more than the rest of building
    the response. This is what validation leaves: every field in declaration order (the unset ones at
    their default, None), the given ones as set, no extra or private values. A test compares both on
    real predictions, field types included.
    """
    values = _PREDICTION_FIELDS.copy()
    values.update(fields)
    pred = Prediction.__new__(Prediction)
    _set(pred, "__dict__", values)
    _set(pred, "__pydantic_fields_set__", set(fields))
    _set(pred, "__pydantic_extra__", None)
    _set(pred, "__pydantic_private__", None)
    return pred

MIN_BATCH = 4
"""Missed specs computed together from this many on (`Predictor.misses`): below it one-row paths are faster."""


class _Cached(NamedTuple):
    """What the cache keeps per spec hash: the encoded row, the power, and what serving extras add.

    A named tuple: cheaper to build than a frozen dataclass on the per-request path.
    """

    vector: np.ndarray
    power_w: float
    served: Served | None = None
    """Interval, OOD flag, neighbours and usage, when the model carries serving extras."""
    reasons: tuple[str, ...] = ()
    """Why the spec is implausible (`app.workloads.plausibility`); the spec hash covers every field it reads."""


class Predictor:
    """Encoder + model + card; `predict()` is safe to call from many threads."""

    def __init__(
        self,
        encoder: WorkloadEncoder,
        model: KNNEnergyRegressor,
        card: dict[str, Any],
        cache_size: int = 4096,
        extras: dict[str, Any] | None = None,
        pue: float = 1.0,
    ) -> None:
        target = card.get("target", "avg_power_w")
        if target not in POWER_TARGETS:
            raise ArtifactError(f"model target {target!r} is not a power/energy target ({', '.join(POWER_TARGETS)})")
        if getattr(model, "n_features_in_", None) != encoder.n_features_out_:
            raise ArtifactError(
                f"model expects {getattr(model, 'n_features_in_', '?')} features but the encoder makes "
                f"{encoder.n_features_out_}: they were built from different runs; retrain with this encoder"
            )
        self.encoder = encoder
        self.model = model
        self.card = card
        self._to_watts = POWER_TARGETS[target]
        # the unvalidated path for models that offer it (KNNEnergyRegressor and subclasses, which keep its
        # contract: `predict_unchecked(X) == predict(X)` for a finite float64 X of the right width)
        self._fast = hasattr(model, "predict_unchecked")
        self.model_version = str(card.get("model_version", "unknown"))
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0
        """Cache look-ups that found / did not find the spec hash (counted under the lock; /metrics reads them)."""
        self.pue = pue
        # interval, explanations, OOD blend: only for artifacts saved with their extras
        self._serving = ServingExtras.from_extras(extras or {}, model)

    @classmethod
    def load(cls, encoder_path: str | Path, model_path: str | Path, cache_size: int = 4096,
             pue: float = 1.0) -> Predictor:
        encoder, model, card, extras = load_pair(encoder_path, model_path)
        return cls(encoder, model, card, cache_size=cache_size, extras=extras, pue=pue)

    # -- core ----------------------------------------------------------------------------------------
    def _lookup(self, key: str) -> _Cached | None:
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.cache_hits += 1
            else:
                self.cache_misses += 1
            return hit

    def _store(self, key: str, value: _Cached) -> None:
        if self._cache_size <= 0:
            return
        with self._lock:
            self._cache[key] = value
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def predict_many(
        self,
        requests: Sequence[InferenceRequest],
        source: str = "<request>",
        *,
        explain: bool = False,
        hours: float | None = None,
        grid_gco2_per_kwh: float | None = None,
        pue: float | None = None,
        nodes: int | None = None,
    ) -> list[Prediction]:
        """Predict for each request (completed first), batching the ones not in the cache.

        Optional: `explain` lists the nearest training workloads (when the model carries them);
        `hours` adds energy over that horizon (`app.ml.energy`), `grid_gco2_per_kwh` the emissions,
        `pue` overrides the predictor's PUE; `nodes` is the node count a DaemonSet runs on (its replicas;
        other kinds keep theirs).
        """
        done, hashes, results = self.prepare_many(requests, source, hours=hours,
                                                  grid_gco2_per_kwh=grid_gco2_per_kwh, nodes=nodes)
        missing = [i for i, hit in enumerate(results) if hit is None]
        if missing:
            computed = self.misses([done[i] for i in missing], [hashes[i] for i in missing], batch_arithmetic=True)
            for i, item in zip(missing, computed, strict=True):
                results[i] = item
        return self.finish_many(done, hashes, results, source, explain=explain,  # type: ignore[arg-type]
                                hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh, pue=pue, nodes=nodes)

    def prepare_many(self, requests: Sequence[InferenceRequest], source: str = "<request>", *,
                     hours: float | None = None, grid_gco2_per_kwh: float | None = None, nodes: int | None = None,
                     ) -> tuple[list[InferenceRequest], list[str], list[_Cached | None]]:
        """`prepare` for several requests: every request is completed, then every one's numbers checked."""
        _check_options(hours, grid_gco2_per_kwh, source, nodes)
        done = [complete_request(r, source) for r in requests]
        for r in done:
            check_numbers(r, source)
        hashes = [r.spec_hash() for r in done]
        return done, hashes, [self._lookup(h) for h in hashes]

    def finish_many(self, done: Sequence[InferenceRequest], hashes: Sequence[str], results: Sequence[_Cached],
                    source: str = "<request>", *, explain: bool = False, hours: float | None = None,
                    grid_gco2_per_kwh: float | None = None, pue: float | None = None, nodes: int | None = None,
                    ) -> list[Prediction]:
        """`finish` for several requests, from `prepare_many` with every miss filled."""
        return [self.finish(r, h, c, source, explain=explain, hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh,
                            pue=pue, nodes=nodes) for r, h, c in zip(done, hashes, results, strict=True)]

    def predict(
        self,
        request: InferenceRequest,
        source: str = "<request>",
        *,
        explain: bool = False,
        hours: float | None = None,
        grid_gco2_per_kwh: float | None = None,
        pue: float | None = None,
        nodes: int | None = None,
    ) -> Prediction:
        """One request, options as for `predict_many`: the CLI's and the tests' path, no lists or batches.

        The same steps and arithmetic as `predict_many` (a test compares both on every simulated workload).
        The API runs the same three steps with the miss computed by a `MissBatcher` (`app.serving.batching`).
        """
        req, spec_hash, cached = self.prepare(request, source, hours=hours, grid_gco2_per_kwh=grid_gco2_per_kwh,
                                              nodes=nodes)
        if cached is None:
            cached = self._miss_one(req)
            self._store(spec_hash, cached)
        return self.finish(req, spec_hash, cached, source, explain=explain, hours=hours,
                           grid_gco2_per_kwh=grid_gco2_per_kwh, pue=pue, nodes=nodes)

    def prepare(self, request: InferenceRequest, source: str = "<request>", *, hours: float | None = None,
                grid_gco2_per_kwh: float | None = None, nodes: int | None = None,
                ) -> tuple[InferenceRequest, str, _Cached | None]:
        """Step 1 of `predict`: check the options and numbers, complete the request, hash it, look it up.

        Returns the completed request, its spec hash and the cached power (None on a miss). Every
        `InputError` a request can raise is raised here, before any shared work.
        """
        _check_options(hours, grid_gco2_per_kwh, source, nodes)
        req = complete_request(request, source)
        check_numbers(req, source)
        spec_hash = req.spec_hash()
        return req, spec_hash, self._lookup(spec_hash)

    def misses(self, requests: Sequence[InferenceRequest], hashes: Sequence[str], *,
               batch_arithmetic: bool = False) -> list[_Cached]:
        """Step 2 for missed requests (completed, from `prepare`), computed together and stored in the cache.

        Two arithmetics for models with serving extras, each independent of how requests are grouped
        (tests check, float for float; a model without extras has one, its own `predict_unchecked`):
        - `predict`'s (the default, /predict): `_miss_one` for each row; from `MIN_BATCH` rows on, the rows
          are encoded together and searched as one block, then each row's formulas run as `_miss_one`'s;
        - `batch_arithmetic` (`predict_many`: YAML bodies, the CLI): `ServingExtras.query` over the
          block, in numpy's vectorised arithmetic, whose single-row twin is `query_row`.
        A spec hash present twice is computed once.
        """
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        unique = [requests[i] for i in first.values()]
        if batch_arithmetic or not self._serving.active:
            # without serving extras both arithmetics are the model's own (`predict_unchecked`, row by row)
            computed = self._block(unique)
        elif len(unique) < MIN_BATCH:
            computed = [self._miss_one(r) for r in unique]
        else:
            X = self.encoder.encode(unique)
            served = self._serving.query_rows(self.model, X, unique, self._to_watts)
            computed = [_Cached(X[row], s.power_w, s, tuple(implausible(r)))
                        for row, (r, s) in enumerate(zip(unique, served, strict=True))]
        by_hash = dict(zip(first, computed, strict=True))
        for h, item in by_hash.items():
            self._store(h, item)
        return [by_hash[h] for h in hashes]

    def _block(self, requests: Sequence[InferenceRequest]) -> list[_Cached]:
        """`misses` in the batch arithmetic: one block through the encoder, the search and the model."""
        # one row (a YAML body with one workload): `encode_one` gives `encode`'s floats (a test checks)
        X = self.encoder.encode_one(requests[0])[None, :] if len(requests) == 1 else self.encoder.encode(requests)
        if self._serving.active:
            served = (self._serving.query(self.model, X, requests, self._to_watts) if len(requests) > 1
                      else [self._serving.query_row(self.model, X[0], requests[0], self._to_watts)])
            return [_Cached(X[row], s.power_w, s, tuple(implausible(r)))
                    for row, (r, s) in enumerate(zip(requests, served, strict=True))]
        # one query block of the model's own loop, so the arithmetic is the same as model.predict's
        y = (self.model.predict_unchecked(X) if self._fast else self.model.predict(X)) * self._to_watts
        return [_Cached(X[row], float(max(y[row], 0.0))) for row in range(len(requests))]

    def finish(self, req: InferenceRequest, spec_hash: str, cached: _Cached, source: str = "<request>", *,
               explain: bool = False, hours: float | None = None, grid_gco2_per_kwh: float | None = None,
               pue: float | None = None, nodes: int | None = None) -> Prediction:
        """Step 3 of `predict`: the Prediction from the request (from `prepare`) and its cached power."""
        if nodes is not None:
            req = on_nodes(req, nodes)
        pred = self._prediction(req, spec_hash, cached)
        if explain or hours is not None:
            self._extend(pred, req, cached, explain=explain, hours=hours, grid=grid_gco2_per_kwh,
                         pue=self.pue if pue is None else pue, source=source)
        return pred

    def _miss_one(self, req: InferenceRequest) -> _Cached:
        x = self.encoder.encode_one(req)
        if self._serving.active:
            served = self._serving.query_one(self.model, x, req, self._to_watts)
            return _Cached(x, served.power_w, served, tuple(implausible(req)))
        X = x[None, :]
        y = self.model.predict_unchecked(X) if self._fast else self.model.predict(X)
        return _Cached(x, float(max(y[0] * self._to_watts, 0.0)))

    def _extend(self, pred: Prediction, req: InferenceRequest, cached: _Cached, *, explain: bool,
                hours: float | None, grid: float | None, pue: float, source: str) -> None:
        """Fill the explanation and horizon fields (they depend on the call's options: never cached)."""
        serving = self._serving
        served = cached.served
        if explain and served is not None:
            pred.neighbors = serving.neighbors(served.neighbor_dist, served.neighbor_idx)
            pred.explanation = serving.explain(self.model, served, req, self._to_watts)
        if hours is not None:
            duration = None
            if req.workload_kind in BATCH_KINDS and served is not None:
                duration = serving.run_duration_s(self.model, cached.vector, served.neighbor_idx)
            h = horizon_energy(req, pred.pred_avg_power_w, hours, run_duration_s=duration,
                               grid_gco2_per_kwh=grid, pue=pue, source=source)
            pred.hours, pred.pred_energy_j, pred.pred_energy_kwh = h.hours, h.energy_j, h.energy_kwh
            pred.pred_co2_g = h.co2_g
            pred.hours_requested, pred.hours_basis, pred.grid_gco2_per_kwh = hours, h.basis, grid  # type: ignore
            pred.pred_energy_j_all_replicas, pred.pred_energy_kwh_all_replicas = h.energy_j, h.energy_kwh
            pred.pred_co2_g_all_replicas = h.co2_g
            if pred.pred_avg_power_w_low is not None and pred.pred_avg_power_w > 0:
                # energy is linear in the per-pod power (durations and counts fixed): same interval ratios
                lo = pred.pred_avg_power_w_low / pred.pred_avg_power_w
                hi = pred.pred_avg_power_w_high / pred.pred_avg_power_w  # type: ignore[operator]
                pred.pred_energy_kwh_all_replicas_low = h.energy_kwh * lo
                pred.pred_energy_kwh_all_replicas_high = h.energy_kwh * hi
                if h.co2_g is not None:
                    pred.pred_co2_g_all_replicas_low, pred.pred_co2_g_all_replicas_high = h.co2_g * lo, h.co2_g * hi

    def _prediction(self, req: InferenceRequest, spec_hash: str, cached: _Cached) -> Prediction:
        power = cached.power_w
        replicas = req.replicas
        fields: dict[str, Any] = {
            "namespace": req.namespace,
            "workload_kind": req.workload_kind,
            "workload_name": req.workload_name,
            "spec_hash": spec_hash,
            "replicas": replicas,
            "pred_avg_power_w": power,
            "pred_energy_step_j": power * STEP_SECONDS,
            "pred_power_w_total": power * replicas,
            "model_version": self.model_version,
            "pred_power_w_per_pod": power,
            "pred_power_w_all_replicas": power * replicas,
        }
        served = cached.served
        if served is not None:
            fields["pred_avg_power_w_low"] = served.low_w
            fields["pred_avg_power_w_high"] = served.high_w
            fields["pred_power_w_all_replicas_low"] = served.low_w * replicas
            fields["pred_power_w_all_replicas_high"] = served.high_w * replicas
            fields["interval_level"] = self._serving.interval.level  # type: ignore[union-attr]
            reasons = cached.reasons
            fields["out_of_distribution"] = served.out_of_distribution or bool(reasons)
            if reasons:
                fields["ood_reasons"] = list(reasons)
            fields["prior_weight"] = served.prior_weight
            if served.cpu_cores is not None:
                fields["pred_cpu_cores"] = served.cpu_cores
            if served.mem_bytes is not None:
                fields["pred_mem_bytes"] = served.mem_bytes
        return _new_prediction(fields)

    def cache_info(self) -> dict[str, int]:
        return {"size": len(self._cache), "max": self._cache_size}


def on_nodes(req: InferenceRequest, nodes: int) -> InferenceRequest:
    """A DaemonSet's request with replicas = the node count it runs on; any other kind as it is.

    Applied after the per-pod prediction (its cache key and features are those of the manifest): the
    node count scales the all-replica fields, not the power of one pod.
    """
    if req.workload_kind != "DaemonSet" or req.replicas == nodes:
        return req
    return req.model_copy(update={"replicas": nodes})


def _check_options(hours: float | None, grid_gco2_per_kwh: float | None, source: str,
                   nodes: int | None = None) -> None:
    if nodes is not None and (isinstance(nodes, bool) or not isinstance(nodes, int) or not 0 <= nodes <= MAX_NODES):
        raise InputError(f"must be a whole number from 0 to {MAX_NODES}, got {nodes!r}", source=source, field="nodes")
    check_horizon(hours, grid_gco2_per_kwh, source)


def model_version_for(card: dict[str, Any]) -> str:
    """A short, stable id for a trained model: hash of its creation time and CV metrics."""
    raw = repr((card.get("created_at"), card.get("rows"), card.get("cv", {}).get("mean")))
    return hashlib.sha256(raw.encode()).hexdigest()[:12]
