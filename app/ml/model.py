"""The regressor and its group-aware evaluation.

`KNNEnergyRegressor` is a small brute-force k-nearest-neighbours regressor written for this
product's shape of data (thousands of rows, a few hundred dense features, one query per API
request): one matrix product per batch and no per-call library overhead, while following
scikit-learn's estimator contract (`check_estimator` passes) so it composes with CV tools.
Power spans orders of magnitude between workloads, so by default it averages neighbours in
log space (`log_target=True`), which makes relative errors, not absolute watts, drive the fit.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from app.core.errors import PodPowerError

_BLOCK = 2048
TIE_RTOL = 1e-9
"""How close to the k-th ranking key a row's key must be to be ranked by its exact distance (see
`KNNEnergyRegressor.kneighbors_unchecked`): about 10⁴ times the worst rounding of a key of 200 features."""


def _exact_distances(q: np.ndarray, rows: np.ndarray, cosine: bool) -> np.ndarray:
    """Distances from queries `q` (…, 1, d) to their kept rows (…, k, d), elementwise then summed
    along the last axis, the same way for one query and for a block (so both agree to the bit)."""
    if cosine:  # rows and queries are unit vectors after `_prepare`
        return np.maximum(1.0 - (q * rows).sum(axis=-1), 0.0)
    return np.sqrt(((q - rows) ** 2).sum(axis=-1))


_CHUNK = 16
"""Keys per chunk when a large model bounds each query's k-th key by chunk minima (`_kth_bound`)."""
SPARSE_KEYS_MIN_ROWS = 512
"""From this many training rows on, keys are computed from the queries' non-zero features only (`columns_`)."""


def _kth_bound(h: np.ndarray, k: int) -> np.ndarray:
    """Per row of keys `h` (b, n), a value at least its k-th smallest key, cheaply.

    Small rows: the k-th smallest itself (a partition). Long rows: the k-th smallest of the minima of
    chunks of `_CHUNK` keys, which is at least the k-th smallest key (the k chunks with the smallest
    minima hold k keys no larger): a partition of n / 16 values instead of n.
    """
    b, n = h.shape
    chunks = n // _CHUNK
    if chunks < 4 * k:
        return np.partition(h, k - 1, axis=1)[:, k - 1]
    minima = h[:, : chunks * _CHUNK].reshape(b, chunks, _CHUNK).min(axis=2)
    return np.partition(minima, k - 1, axis=1)[:, k - 1]


def _padded(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The True columns of each row of `mask` (b, n) in index order, padded to the longest row: (b, w)
    column indices and (b, w) validity."""
    counts = mask.sum(axis=1)
    width = int(counts.max())
    columns = np.argsort(~mask, axis=1, kind="stable")[:, :width]
    return columns, np.arange(width)[None, :] < counts[:, None]


class KNNEnergyRegressor(RegressorMixin, BaseEstimator):
    """k-NN regression with euclidean or cosine distance, optional distance weighting and log target.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours averaged per prediction (at most the training rows).
    weights : {"uniform", "distance"}, default="distance"
        Equal weights, or inverse-distance weights (exact matches alone when there are any).
    metric : {"euclidean", "cosine"}, default="euclidean"
    log_target : bool, default=True
        Average `log1p(y)` and return `expm1` of it (y must be ≥ 0).

    Attributes
    ----------
    X_ : ndarray of shape (n_samples, n_features)
        The training rows as the search reads them (unit rows for cosine).
    half_sq_norms_ : ndarray of shape (n_samples,)
        ½‖x‖² per row, the euclidean ranking key's constant part.
    max_half_sq_norm_ : float
        The largest of them: the scale of the ranking keys' rounding (see `kneighbors_unchecked`).
    columns_ : ndarray of shape (n_features, n_samples) or None
        `X_` transposed, for models of at least `SPARSE_KEYS_MIN_ROWS` rows: their ranking keys are
        computed from the columns of the queries' non-zero features only (None for smaller models).
    y_ : ndarray of shape (n_samples,)
        The training target.
    y_fit_ : ndarray of shape (n_samples,)
        The target as averaged (`log1p(y)` with `log_target`).
    n_neighbors_ : int
        The k in use: `min(n_neighbors, n_samples)`.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention: a class-level dict)
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "weights": [StrOptions({"uniform", "distance"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "log_target": ["boolean"],
    }

    def __init__(
        self, n_neighbors: int = 5, weights: str = "distance", metric: str = "euclidean", log_target: bool = True
    ) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.metric = metric
        self.log_target = log_target

    def fit(self, X: Any, y: Any) -> KNNEnergyRegressor:
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        if self.log_target and np.any(y < 0):
            raise ValueError("log_target=True needs a non-negative target")
        self._store_rows(X)
        self.y_ = y
        self.y_fit_ = np.log1p(y) if self.log_target else y
        self.n_neighbors_ = min(int(self.n_neighbors), X.shape[0])
        return self

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            norms = np.linalg.norm(X, axis=-1, keepdims=True)  # rows of a matrix, or one vector
            return X / np.where(norms > 0, norms, 1.0)
        return X

    def _store_rows(self, X: np.ndarray) -> None:
        """Keep the training rows as the search reads them, with half their squared norms (see `_rank`)."""
        self.set_search_rows(self._prepare(X))

    def set_search_rows(self, prepared: np.ndarray) -> None:
        """Set the already prepared training rows and what the search derives from them.

        `fit` and the artifact loader (`app.ml.artifacts`, which stores the prepared rows) both end here.
        """
        self.X_ = prepared
        self.sq_norms_ = np.einsum("ij,ij->i", prepared, prepared)
        self.half_sq_norms_ = 0.5 * self.sq_norms_
        self.max_half_sq_norm_ = float(self.half_sq_norms_.max()) if len(prepared) else 0.0
        self.columns_ = np.ascontiguousarray(prepared.T) if len(prepared) >= SPARSE_KEYS_MIN_ROWS else None

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "sq_norms_" in state and "half_sq_norms_" not in state:  # pickled by a version without it
            self.half_sq_norms_ = 0.5 * self.sq_norms_
        if "X_" in state and ("max_half_sq_norm_" not in state or "columns_" not in state):
            self.set_search_rows(self.X_)

    def _keys(self, q: np.ndarray, cosine: bool) -> np.ndarray:
        """The ranking keys (b, n) of a block of prepared queries (see `kneighbors_unchecked`)."""
        if self.columns_ is None:
            g = q @ self.X_.T
        else:  # the features no query of the block uses add nothing: skip their columns
            features = np.flatnonzero(q.any(axis=0))
            g = q[:, features] @ self.columns_[features]
        return -g if cosine else self.half_sq_norms_[None, :] - g

    def kneighbors(self, X: Any, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices of the nearest training rows, nearest first."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.kneighbors_unchecked(X, n_neighbors)

    def kneighbors_unchecked(self, X: np.ndarray, n_neighbors: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`kneighbors` for a fitted model and a finite float64 array of the right width, skipping validation.

        scikit-learn's input validation costs more than the search itself for one row; the
        predictor calls this on vectors its own encoder just built.

        The ranking, the same in `nearest_one` (so both give the same rows, to the bit, a test checks):
        - candidates: rows get a key `h` that orders them as the distance does and costs one
          operation on the product: euclidean `h = ½‖x‖² − q·x` (since `‖q − x‖² = ‖q‖² + 2h`, and `‖q‖²`
          is the same for every row), cosine `h = −q·x`. The candidates are the rows whose key is within
          `TIE_RTOL` of the k-th smallest key (found by partitioning, not sorting), relative to
          `½‖q‖² + max ½‖x‖²`, which bounds every term of a key: far more than the rounding of a key,
          whose last bits differ between a matrix product and a matrix-vector product, so every row that
          could tie with the k-th is a candidate in both;
        - order: the candidates' distances are computed directly (`_exact_distances`: the expansion
          loses digits for near-identical specs, where 1/d weights would amplify them), and the k nearest
          are kept, equal distances going to the lower training row.
        """
        k = min(n_neighbors or self.n_neighbors_, self.X_.shape[0])
        if X.shape[0] == 1:  # one row: `nearest_one` finds the same rows in fewer numpy calls (a test checks)
            one_dist, one_idx = self.nearest_one(X[0], k)
            return np.array([one_dist]), np.array([one_idx], dtype=np.intp)
        Q = self._prepare(X)
        cosine = self.metric == "cosine"
        dist = np.empty((Q.shape[0], k))
        idx = np.empty((Q.shape[0], k), dtype=np.intp)
        for start in range(0, Q.shape[0], _BLOCK):
            q = Q[start : start + _BLOCK]
            h = self._keys(q, cosine)
            row = np.arange(len(q))[:, None]
            tol = TIE_RTOL * (0.5 * np.einsum("ij,ij->i", q, q) + self.max_half_sq_norm_)
            if self.columns_ is None:  # a small model: each row's k smallest keys, then any tied with them
                smallest = np.argpartition(h, k - 1, axis=1)[:, :k]
                limit = h[row, smallest].max(axis=1) + tol
                inside = h <= limit[:, None]
                if int(inside.sum(axis=1).max()) == k:  # no key within tol of a k-th: the k smallest it is
                    candidates, valid = smallest, True
                else:
                    candidates, valid = _padded(inside)
            else:  # a large model: the keys under a cheap bound, then the k-th among them and any tied
                near, valid = _padded(h <= (_kth_bound(h, k) + tol)[:, None])
                near_keys = np.where(valid, h[row, near], np.inf)
                limit = np.partition(near_keys, k - 1, axis=1)[:, k - 1] + tol
                keep_near, valid = _padded(near_keys <= limit[:, None])
                candidates = near[row, keep_near]
            d = _exact_distances(q[:, None, :], self.X_[candidates], cosine)
            if valid is not True:
                d[~valid] = np.inf  # padding, not candidates
            keep = np.lexsort((candidates, d), axis=-1)[:, :k]
            idx[start : start + len(q)] = candidates[row, keep]
            dist[start : start + len(q)] = d[row, keep]
        return dist, idx

    def nearest_one(self, x: np.ndarray, n_neighbors: int | None = None) -> tuple[list[float], list[int]]:
        """`kneighbors_unchecked` for one 1-D row, as plain lists: the API's per-request search.

        The same candidates, distances and order (see `kneighbors_unchecked`) in fewer numpy calls,
        each of which costs more than its arithmetic here.
        """
        k = min(n_neighbors or self.n_neighbors_, self.X_.shape[0])
        q = self._prepare(x)
        cosine = self.metric == "cosine"
        if self.columns_ is None:
            h = self.X_ @ q
        else:
            features = np.flatnonzero(q)
            h = q[features] @ self.columns_[features]
        if cosine:
            np.negative(h, out=h)
        else:
            np.subtract(self.half_sq_norms_, h, out=h)
        tol = TIE_RTOL * (0.5 * float(q @ q) + self.max_half_sq_norm_)
        if self.columns_ is None:
            candidates = np.flatnonzero(h <= np.partition(h, k - 1)[k - 1] + tol)
        else:
            near = np.flatnonzero(h <= _kth_bound(h[None, :], k)[0] + tol)
            near_keys = h[near]
            candidates = near[near_keys <= np.partition(near_keys, k - 1)[k - 1] + tol]
        # `take` copies the same rows as `X_[candidates]` without fancy indexing's machinery
        d = _exact_distances(q, self.X_.take(candidates, axis=0), cosine)
        keep = np.lexsort((candidates, d))[:k]
        return d[keep].tolist(), candidates[keep].tolist()

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.predict_unchecked(X)

    def predict_unchecked(self, X: np.ndarray) -> np.ndarray:
        """`predict` without input validation (see `kneighbors_unchecked`)."""
        dist, idx = self.kneighbors_unchecked(X)
        targets = self.y_fit_[idx]
        if self.weights == "distance":
            with np.errstate(divide="ignore"):
                w = 1.0 / dist
            exact = ~np.isfinite(w)
            # rows with an exact match use only the exact matches, as scikit-learn does
            has_exact = exact.any(axis=1)
            w[has_exact] = exact[has_exact].astype(np.float64)
            pred = (w * targets).sum(axis=1) / w.sum(axis=1)
        else:
            pred = targets.mean(axis=1)
        return np.expm1(pred) if self.log_target else pred

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = bool(self.log_target)
        return tags


# -- evaluation --------------------------------------------------------------------------------------
def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE (target units), MAPE and median APE (%), R²; APE skips rows whose truth is 0."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    err = y_pred - y_true
    nz = y_true != 0
    ape = np.abs(err[nz] / y_true[nz]) * 100 if nz.any() else np.array([np.nan])
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    return {
        "mae": float(np.abs(err).mean()),
        "mape": float(ape.mean()),
        "median_ape": float(np.median(ape)),
        "r2": r2,
    }


MIN_CV_WORKLOADS = 2
"""Group CV holds whole workloads out, so it needs two: one to train on while the other is validated."""


def group_cv(
    make_model: Callable[[], Any],
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """GroupKFold CV: no group (workload) is ever in both the training and the validation fold.

    Returns per-fold and mean metrics for the model and for a constant-mean baseline, plus the
    out-of-fold predictions (for reports).
    """
    n_groups = len(np.unique(groups))
    if n_groups < MIN_CV_WORKLOADS:
        raise PodPowerError(f"group cross-validation needs at least {MIN_CV_WORKLOADS} workloads, got {n_groups}")
    splits = min(n_splits, n_groups)
    folds: list[dict[str, Any]] = []
    oof = np.full(len(y), np.nan)
    for i, (tr, va) in enumerate(GroupKFold(n_splits=splits).split(X, y, groups)):
        model = make_model().fit(X[tr], y[tr])
        pred = model.predict(X[va])
        oof[va] = pred
        baseline = np.full(len(va), y[tr].mean())
        folds.append({
            "fold": i,
            "train_rows": len(tr),
            "val_rows": len(va),
            "val_groups": len(np.unique(groups[va])),
            "model": regression_metrics(y[va], pred),
            "baseline_mean": regression_metrics(y[va], baseline),
        })
        if progress:
            progress(i + 1, splits)
    mean = {
        who: {m: float(np.mean([f[who][m] for f in folds])) for m in folds[0][who]}
        for who in ("model", "baseline_mean")
    }
    return {"n_splits": splits, "folds": folds, "mean": mean, "oof_pred": oof}
