"""Compare predictors on the same group folds: no workload is in both training and validation.

Predictors (all see exactly the same folds and are scored on the same validation rows, as given):

* `mean` – the constant mean of the training rows' target;
* `physics` – `app.ml.physics.physics_power_w` from the requests alone (no training);
* `original_knn` – the original design: cosine distance on standardized features, k = 5, raw
  target, uniform weights, trained on the rows as given (per pod / per step);
* `tuned_knn` – `app.ml.tuning.fit_tuned`: one row per workload, log ratio to the physics prior,
  k and block weights chosen by an inner group CV (nested: the inner CV only sees the outer
  training fold), with a conformal interval calibrated on the inner out-of-fold residuals.

On simulated data, where each workload's true software family is known (`archetype`), a *family
reference* is scored beside them (`family_reference`): not a predictor a user could run, but the floor
that tells how much of the remaining error is the data's own noise rather than the model's.

Metrics over all out-of-fold rows pooled: MAE, MAPE, median APE, R², and for predictors with
intervals the coverage and the median width relative to the prediction. Coverage is given per pod
(every row weighs 1) and per workload (each workload's rows weigh 1 in total: the chance that a new
workload's pod falls in its interval, what the calibration aims at).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.core.errors import InputError
from app.ml.conformal import DEFAULT_LEVEL, coverage
from app.ml.dataset import KEY, features_frame, join
from app.ml.model import KNNEnergyRegressor, regression_metrics
from app.ml.physics import gpu_rows, log_power, physics_from_json, prior_offsets
from app.ml.tuning import Blocks, feature_blocks, fit_tuned, pair_shift

PREDICTORS = ("mean", "physics", "original_knn", "tuned_knn")
LABELS = {
    "mean": "constant mean",
    "physics": "physics prior (requests only)",
    "original_knn": "original KNN (cosine, k=5, raw target)",
    "tuned_knn": "tuned KNN (log ratio to physics, per workload, nested CV)",
}

Progress = Callable[[int, int], None]


@dataclass
class Evaluation:
    """Out-of-fold predictions (one row per evaluated row) and pooled metrics per predictor."""

    target: str
    level: float
    n_splits: int
    rows: int
    workloads: int
    oof: pd.DataFrame
    metrics: dict[str, dict[str, float]]
    fold_params: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    reference: dict[str, float] = field(default_factory=dict)
    """`reference_metrics` of the family reference (simulated rows only; empty otherwise)."""

    def ratio(self, metric: str = "median_ape", a: str = "tuned_knn", b: str = "original_knn") -> float:
        return self.metrics[a][metric] / self.metrics[b][metric]


def simulated_rows(seed: int = 7, n_workloads: int = 120, hours: float = 6.0,
                   encoder_params: Mapping[str, Any] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Training rows (per pod) of the simulated cluster, and the encoder's feature names.

    The encoder (`encoder_params`: `WorkloadEncoder`'s, e.g. `static_text=True`) is fitted on the cluster's
    own manifests, exactly as `encode fit` + `join` would.
    """
    from app.pipelines.encoding import fit_encoder
    from app.simulate import ground_truth_frame, simulate_cluster
    from app.workloads.convert import complete_request, requests_from_objects

    cluster = simulate_cluster(seed=seed, n_workloads=n_workloads, hours=hours)
    requests = [complete_request(r) for r in requests_from_objects(cluster.manifests, "simulated cluster").requests]
    encoder = fit_encoder(requests, **(encoder_params or {}))
    rows, _ = join(features_frame(requests, encoder.transform(requests)), ground_truth_frame(cluster))
    return rows, list(encoder.feature_names_)


FAMILY = "archetype"
"""The simulator's ground-truth software family of each row (`app.simulate.ground_truth_frame`)."""


def family_reference(train: pd.DataFrame, test: pd.DataFrame, target: str) -> np.ndarray:
    """What knowing each workload's true software family would give: a floor for any spec-only predictor.

    Rule: a test row's prediction is the geometric mean, over the training workloads of the same family,
    of their mean measured power, each scaled by the ratio of the physics priors exactly as the shipped
    model scales its neighbours (`pair_shift`); NaN when no training workload has that family. It uses
    the simulator's family label, which no manifest carries, so it is a reference, not a product: in
    the simulator a family's usage is drawn per workload (lognormal, `app.simulate.catalogue.Family`),
    independently of the spec, and no predictor that reads only the spec can see that draw.
    """
    have = train[train[target].notna()]
    workloads = have.groupby(list(KEY), sort=True).agg(y=(target, "mean"), family=(FAMILY, "first"),
                                                         request_json=("request_json", "first"))
    log_y = log_power(workloads["y"].to_numpy(dtype=np.float64))
    offsets = prior_offsets(workloads["request_json"])
    gpus, base_w = gpu_rows(workloads["request_json"])
    members = {f: np.flatnonzero(workloads["family"].to_numpy() == f) for f in workloads["family"].unique()}
    test_offsets = prior_offsets(test["request_json"])
    test_gpus = gpu_rows(test["request_json"])[0]
    out = np.full(len(test), np.nan)
    for i, family in enumerate(test[FAMILY].to_numpy()):
        rows = members.get(family)
        if rows is not None and len(rows):
            shifted = log_y[rows] + pair_shift(test_offsets[i : i + 1], offsets[rows], test_gpus[i : i + 1],
                                               gpus[rows], base_w[rows])[0]
            out[i] = float(np.exp(shifted.mean()))
    return out


TARGET_WIDTH = 2.0
"""Issue #17's interval target: a median width of at most 2× the prediction (at 80 % coverage, ±5 points)."""


def best_rescaled_median_ape(y: np.ndarray, pred: np.ndarray) -> float:
    """The lowest median APE (%) any constant rescaling `c · pred` reaches on these rows, `c` chosen with hindsight.

    Rule: with `t = pred / y`, a row's APE at scale `c` is `|c·t − 1|`, at most `m` exactly when
    `t ∈ [(1 − m)/c, (1 + m)/c]`, a window whose ends are `(1 + m)/(1 − m)` apart. So the smallest `m` with
    `h = ⌈n/2⌉` rows inside is `(R − 1)/(R + 1)` for the tightest ratio `R = t[j+h−1] / t[j]` over `h`
    consecutive sorted `t`. That is the median for odd `n`, and a lower bound of `np.median` (which averages
    the two middle errors) for even `n`: no rescaling does better. Rows with `y ≤ 0` or no prediction are skipped.
    """
    ok = np.isfinite(pred) & (pred > 0) & (y > 0)
    t = np.sort(pred[ok] / y[ok])
    if not len(t):
        return float("nan")
    h = (len(t) + 1) // 2
    ratio = float(np.min(t[h - 1:] / t[: len(t) - h + 1]))
    return (ratio - 1.0) / (ratio + 1.0) * 100.0


def best_band_coverage(y: np.ndarray, pred: np.ndarray, width: float = TARGET_WIDTH) -> float:
    """The largest share of rows any band `[pred·e^a, pred·e^b]` at most `width` × the prediction wide covers,
    `a` chosen with hindsight on these very rows.

    Rule: the band's width is `e^b − e^a ≤ width`, so `b = ln(width + e^a)` grows with `a`; raising `a` to the
    smallest residual inside never drops a row, so some band starting at a residual is optimal, and this checks
    every one (sorted residuals, `searchsorted`). An upper bound for every constant-width interval, conformal
    or not, around these predictions.
    """
    ok = np.isfinite(pred) & (pred > 0) & (y > 0)
    r = np.sort(np.log(y[ok]) - np.log(pred[ok]))
    if not len(r):
        return float("nan")
    top = np.log(width + np.exp(r))
    inside = np.searchsorted(r, top, side="right") - np.arange(len(r))
    return float(inside.max() / len(r))


def reference_metrics(y: np.ndarray, pred: np.ndarray, level: float = DEFAULT_LEVEL) -> dict[str, float]:
    """`regression_metrics` on the rows the reference predicts, how many those are, the width (× prediction)
    of the narrowest equal-tailed band holding `level` of its log residuals (no constant-width interval around a
    prediction this good covers `level` with less), and the two hindsight bounds: `best_rescaled_median_ape`
    and `best_band_coverage` at `TARGET_WIDTH`."""
    ok = np.isfinite(pred) & (y > 0)
    if not ok.any():
        return {}
    residuals = np.log(y[ok]) - log_power(pred[ok])
    q_low, q_high = np.quantile(residuals, [(1 - level) / 2, (1 + level) / 2])
    return {**regression_metrics(y[ok], pred[ok]), "rows": float(ok.sum()), "of_rows": float(len(y)),
            "level": level, "width": float(np.exp(q_high) - np.exp(q_low)),
            "best_rescaled_median_ape": best_rescaled_median_ape(y[ok], pred[ok]),
            "target_width": TARGET_WIDTH, "best_band_coverage": best_band_coverage(y[ok], pred[ok])}


def _original_knn(train: pd.DataFrame, val: pd.DataFrame, target: str) -> np.ndarray:
    model = make_pipeline(StandardScaler(),
                          KNNEnergyRegressor(n_neighbors=5, weights="uniform", metric="cosine", log_target=False))
    model.fit(np.stack(train["x"].to_numpy()), train[target].to_numpy(dtype=np.float64))
    return model.predict(np.stack(val["x"].to_numpy()))


def evaluate(
    rows: pd.DataFrame,
    target: str = "avg_power_w",
    *,
    n_splits: int = 5,
    level: float = DEFAULT_LEVEL,
    blocks: Blocks | None = None,
    progress: Progress | None = None,
    source: str = "",
) -> Evaluation:
    """Run every predictor on the same `GroupKFold` folds of `rows` (grouped by workload)."""
    for col in (*KEY, target, "x", "request_json"):
        if col not in rows.columns:
            raise InputError(f"training rows have no column {col!r} (make them with `python -m app join`)",
                             source=source or "training rows")
    rows = rows[rows[target].notna()].reset_index(drop=True)
    groups = (rows["namespace"] + "/" + rows["workload_kind"] + "/" + rows["workload_name"]).to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise InputError(f"evaluation needs at least 2 workloads, got {n_groups}", source=source or "training rows")
    splits = min(n_splits, n_groups)
    y = rows[target].to_numpy(dtype=np.float64)
    if blocks is None:
        blocks = feature_blocks(len(rows["x"].iloc[0]))
    oof = rows[[*KEY]].copy()
    oof["measured"] = y
    oof["fold"] = -1
    for name in PREDICTORS:
        oof[name] = np.nan
    oof["tuned_knn_low"] = np.nan
    oof["tuned_knn_high"] = np.nan
    oof["physics"] = physics_from_json(rows["request_json"])
    reference = FAMILY in rows.columns
    if reference:
        oof["family_reference"] = np.nan
    fold_params: list[dict[str, Any]] = []
    for i, (tr, va) in enumerate(GroupKFold(n_splits=splits).split(rows, y, groups)):
        train, val = rows.iloc[tr], rows.iloc[va]
        oof.loc[va, "fold"] = i
        oof.loc[va, "mean"] = float(y[tr].mean())
        oof.loc[va, "original_knn"] = _original_knn(train, val, target)
        if reference:
            oof.loc[va, "family_reference"] = family_reference(train, val, target)
        fit = fit_tuned(train, target, blocks=blocks, level=level, n_splits=splits)
        pred, low, high = fit.predict_rows(val)
        oof.loc[va, "tuned_knn"] = pred
        oof.loc[va, "tuned_knn_low"] = low
        oof.loc[va, "tuned_knn_high"] = high
        fold_params.append({"fold": i, **fit.tuned.best_params_, "q_low": fit.interval.q_low,
                            "q_high": fit.interval.q_high, "ood_distance": fit.ood_distance})
        if progress:
            progress(i + 1, splits)
    metrics: dict[str, dict[str, float]] = {}
    for name in PREDICTORS:
        metrics[name] = regression_metrics(y, oof[name].to_numpy(dtype=np.float64))
    low, high = oof["tuned_knn_low"].to_numpy(), oof["tuned_knn_high"].to_numpy()
    pred = oof["tuned_knn"].to_numpy()
    metrics["tuned_knn"]["coverage"] = coverage(y, low, high)
    metrics["tuned_knn"]["coverage_per_workload"] = coverage(y, low, high, groups=groups)
    metrics["tuned_knn"]["median_rel_width"] = float(np.median((high - low) / np.maximum(pred, 1e-12)))
    metrics["tuned_knn"]["mean_width_w"] = float(np.mean(high - low))
    ref = reference_metrics(y, oof["family_reference"].to_numpy(dtype=np.float64), level) if reference else {}
    return Evaluation(target=target, level=level, n_splits=splits, rows=len(rows), workloads=n_groups, oof=oof,
                      metrics=metrics, fold_params=fold_params, source=source, reference=ref)


def metrics_by_kind(ev: Evaluation) -> pd.DataFrame:
    """Median APE (%) per workload kind and predictor (rows = kinds)."""
    out = {}
    y = ev.oof["measured"].to_numpy()
    for name in PREDICTORS:
        ape = np.abs(ev.oof[name].to_numpy() - y) / np.where(y != 0, y, np.nan) * 100
        out[name] = pd.Series(ape).groupby(ev.oof["workload_kind"].to_numpy()).median()
    table = pd.DataFrame(out)
    table.insert(0, "rows", ev.oof.groupby("workload_kind").size())
    return table


# ------------------------------------------------------------------------------------------------
# Transfer: train on one simulated cluster, test on another with a different software mix
# ------------------------------------------------------------------------------------------------

HELD_OUT_FAMILIES = ("mongodb", "haproxy", "dotnet", "nats", "celery", "traefik")
TRANSFER_PREDICTORS = ("mean", "physics", "original_knn", "tuned_knn")


@dataclass
class Transfer:
    """Scores on a test cluster the models never saw, overall and split into seen / held-out families."""

    train_source: str
    test_source: str
    held_out: tuple[str, ...]
    rows: int
    workloads: int
    metrics: dict[str, dict[str, dict[str, float]]]  # group -> predictor -> metrics
    preds: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: dict[str, float] = field(default_factory=dict)
    """`reference_metrics` of the family reference on the test rows whose family was in training."""


def _median_log_error(y: np.ndarray, pred: np.ndarray) -> float:
    """Median |ln(pred / measured)|: the typical miss as a factor, fair when power spans decades."""
    ok = (y > 0) & (pred > 0)
    return float(np.median(np.abs(np.log(pred[ok] / y[ok])))) if ok.any() else float("nan")


def transfer_evaluation(
    seed: int = 7, test_seed: int = 8, n_workloads: int = 120, hours: float = 6.0,
    held_out: tuple[str, ...] = HELD_OUT_FAMILIES, target: str = "avg_power_w", level: float = DEFAULT_LEVEL,
    encoder_params: Mapping[str, Any] | None = None,
) -> Transfer:
    """Fit on cluster ``seed`` without the ``held_out`` families; score on cluster ``test_seed`` with all of them.

    Why: in-cluster group CV still shares the software mix (and the draw of each family's usage) between
    training and validation; a real cluster shares neither. The encoder is fitted on the training
    cluster only, as a shipped model's would be.
    """
    from app.pipelines.encoding import fit_encoder
    from app.simulate import ground_truth_frame, simulate_cluster
    from app.workloads.convert import complete_request, requests_from_objects

    train_c = simulate_cluster(seed=seed, n_workloads=n_workloads, hours=hours, exclude_families=held_out)
    test_c = simulate_cluster(seed=test_seed, n_workloads=n_workloads, hours=hours)
    reqs = {k: [complete_request(r) for r in requests_from_objects(c.manifests, f"cluster {k}").requests]
            for k, c in (("train", train_c), ("test", test_c))}
    encoder = fit_encoder(reqs["train"], **(encoder_params or {}))
    names = list(encoder.feature_names_)
    train, _ = join(features_frame(reqs["train"], encoder.transform(reqs["train"])), ground_truth_frame(train_c))
    test, _ = join(features_frame(reqs["test"], encoder.transform(reqs["test"])), ground_truth_frame(test_c))
    train = train[train[target].notna()].reset_index(drop=True)
    test = test[test[target].notna()].reset_index(drop=True)
    y = test[target].to_numpy(dtype=np.float64)
    preds = test[[*KEY, "archetype"]].copy()
    preds["measured"] = y
    preds["held_out"] = preds["archetype"].isin(held_out)
    preds["mean"] = float(train[target].mean())
    preds["physics"] = physics_from_json(test["request_json"])
    preds["original_knn"] = _original_knn(train, test, target)
    fit = fit_tuned(train, target, blocks=feature_blocks(len(names), names), level=level)
    preds["tuned_knn"], preds["tuned_knn_low"], preds["tuned_knn_high"] = fit.predict_rows(test)
    preds["family_reference"] = family_reference(train, test, target)
    groups = {"all": np.ones(len(preds), bool), "seen families": ~preds["held_out"].to_numpy(),
              "held-out families": preds["held_out"].to_numpy()}
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for g, mask in groups.items():
        if not mask.any():
            continue
        metrics[g] = {}
        for name in TRANSFER_PREDICTORS:
            p = preds[name].to_numpy(dtype=np.float64)[mask]
            metrics[g][name] = {**regression_metrics(y[mask], p), "median_log_error": _median_log_error(y[mask], p)}
        lo, hi = preds["tuned_knn_low"].to_numpy()[mask], preds["tuned_knn_high"].to_numpy()[mask]
        metrics[g]["tuned_knn"]["coverage"] = coverage(y[mask], lo, hi)
    wl = preds["namespace"] + "/" + preds["workload_kind"] + "/" + preds["workload_name"]
    return Transfer(train_source=f"simulated cluster seed {seed} without {', '.join(held_out)}",
                    test_source=f"simulated cluster seed {test_seed}, all families", held_out=held_out,
                    rows=len(preds), workloads=int(wl.nunique()), metrics=metrics, preds=preds,
                    reference=reference_metrics(y, preds["family_reference"].to_numpy(dtype=np.float64), level))


def transfer_table(tr: Transfer) -> str:
    """Markdown: one row per (group, predictor): MAE, median APE, median log error (as a factor), R², coverage."""
    lines = [f"Train: {tr.train_source}. Test: {tr.test_source} ({tr.rows} pods, {tr.workloads} workloads).", "",
             "| test pods | predictor | MAE (W) | median APE | typical miss (×) | R² | coverage |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for g, per in tr.metrics.items():
        for name, m in per.items():
            cov = f"{m['coverage']:.1%}" if "coverage" in m else "–"
            lines.append(f"| {g} | {LABELS[name]} | {m['mae']:.3g} | {m['median_ape']:.1f}% | "
                         f"{np.exp(m['median_log_error']):.2f} | {m['r2']:.3f} | {cov} |")
    if tr.reference:
        lines += ["", reference_sentence(tr.reference)]
    return "\n".join(lines)


def reference_sentence(ref: dict[str, float]) -> str:
    """One paragraph on the family reference's figures, for both reports."""
    return (f"*Family reference* (knows each workload's true software family, which no manifest says; "
            f"`family_reference`): median APE {ref['median_ape']:.1f}%, MAE {ref['mae']:.3g} W, R² {ref['r2']:.3f} "
            f"on the {int(ref['rows'])} of {int(ref['of_rows'])} pods whose family has a measured workload in the "
            "training part; "
            f"a band holding {ref['level']:.0%} of its log residuals is {ref['width']:.1f}× its prediction wide. "
            "The per-workload usage draw it cannot see is noise that no predictor reading only the spec can remove; "
            "this reference shows its size. "
            f"Even with hindsight on these very pods, no constant rescaling of its predictions gets below "
            f"{ref['best_rescaled_median_ape']:.1f}% median APE, and no band at most {ref['target_width']:g}× its "
            f"prediction wide covers more than {ref['best_band_coverage']:.1%} of them.")
