"""Fit the encoder and the model; the CLI and the Kubernetes jobs call these functions.

Training rows may still be in the original k8sPodPCP v1 label shape (per-sample `ts`,
`energy_step_j`): they are read into per-pod rows first (`app.ml.label_tables`), as `join` does.
Too few workloads with a target value is refused up front, saying how many there are and why rows
were left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InputError
from app.core.schema import POWER_TARGETS, STEP_SECONDS
from app.ml.dataset import KEY, aggregate_rows, require_target, training_matrix
from app.ml.label_tables import normalise_labels
from app.ml.model import MIN_CV_WORKLOADS, KNNEnergyRegressor, group_cv
from app.pipelines.evaluation import evaluate
from app.serving.predictor import model_version_for

TARGET_UNITS = {"avg_power_w": "W (average power per pod)", "energy_step_j": f"J per pod per {STEP_SECONDS} s step"}


def _usable_rows(rows: pd.DataFrame, target: str) -> pd.DataFrame:
    """Per-pod rows whose target is known; an `InputError` when fewer than two workloads remain."""
    rows, _ = normalise_labels(rows)
    require_target(rows, target)
    missing = [c for c in KEY if c not in rows.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}: make training rows with `python -m app join`",
                         source="training rows")
    have = rows[target].notna()
    workloads = rows[KEY].drop_duplicates()
    usable = rows.loc[have, KEY].drop_duplicates()
    if len(usable) < MIN_CV_WORKLOADS:
        lost = len(workloads) - len(usable)
        raise InputError(
            f"{len(usable)} workload(s) have a value for {target!r}; training needs at least {MIN_CV_WORKLOADS} "
            f"(group cross-validation holds whole workloads out). {len(rows)} row(s) of {len(workloads)} "
            f"workload(s) given; {int((~have).sum())} row(s) without {target!r}"
            + (f", leaving {lost} workload(s) with none" if lost else "")
            + ". `python -m app join` lists the workloads that did not match and why", source="training rows")
    return rows


def train_model(
    rows: pd.DataFrame,
    target: str = "avg_power_w",
    n_neighbors: int = 5,
    n_splits: int = 5,
    aggregate: str = "pod",
    progress: Callable[[int, int], None] | None = None,
    **model_params: Any,
) -> tuple[KNNEnergyRegressor, dict[str, Any]]:
    """Group-CV the model on the training rows, then fit it on all of them; returns (model, card)."""
    if target not in POWER_TARGETS:
        raise InputError(f"--target must be one of {', '.join(POWER_TARGETS)}, got {target!r}", source="train")
    rows = aggregate_rows(_usable_rows(rows, target), aggregate, target)
    X, y, groups = training_matrix(rows, target)

    def make() -> KNNEnergyRegressor:
        return KNNEnergyRegressor(n_neighbors=n_neighbors, **model_params)

    cv = group_cv(make, X, y, groups, n_splits=n_splits, progress=progress)
    model = make().fit(X, y)
    card: dict[str, Any] = {
        "model": "KNNEnergyRegressor",
        "params": model.get_params(),
        "target": target,
        "unit": TARGET_UNITS[target],
        "rows": len(y),
        "groups": len(np.unique(groups)),
        "aggregate": aggregate,
        "feature_dim": int(X.shape[1]),
        "cv": {"n_splits": cv["n_splits"], "folds": cv["folds"], "mean": cv["mean"], "grouped_by": "workload"},
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    card["model_version"] = f"knn-{model_version_for(card)}"
    return model, card


def train_tuned_model(
    rows: pd.DataFrame,
    target: str = "avg_power_w",
    *,
    feature_names: Sequence[str] | None = None,
    level: float = 0.8,
    n_splits: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The improved model (`app.ml.tuning`) with what serving needs; returns (model, card, extras).

    The card's `cv` holds the outer group-CV metrics of the same procedure (`app.pipelines.evaluation`), so
    the numbers describe models that never saw the validated workloads. Save with
    `app.ml.artifacts.save_model(model, card, path, extras=extras)`.
    """
    from app.ml.tuning import USAGE_TARGETS, feature_blocks, fit_tuned

    if target not in POWER_TARGETS:
        raise InputError(f"--target must be one of {', '.join(POWER_TARGETS)}, got {target!r}", source="train")
    rows = _usable_rows(rows, target)
    rows = rows[rows[target].notna()]
    dim = len(rows["x"].iloc[0])
    blocks = feature_blocks(dim, feature_names)
    ev = evaluate(rows, target, n_splits=n_splits, level=level, blocks=blocks, progress=progress)
    fit = fit_tuned(rows, target, blocks=blocks, level=level, n_splits=n_splits)
    w = fit.workloads
    cols = ("tuned_knn", "mean")
    card: dict[str, Any] = {
        "model": type(fit.model).__name__,
        "params": {k: v for k, v in fit.model.get_params().items() if k != "feature_weights"},
        "tuned": fit.tuned.best_params_,
        "target": target,
        "unit": TARGET_UNITS[target],
        "rows": len(rows),
        "groups": len(w),
        "aggregate": "workload",
        "feature_dim": int(dim),
        "cv": {"n_splits": ev.n_splits, "grouped_by": "workload", "folds": ev.fold_params,
               "mean": {"model": ev.metrics[cols[0]], "baseline_mean": ev.metrics[cols[1]]},
               "original_knn": ev.metrics["original_knn"], "physics": ev.metrics["physics"]},
        "interval": fit.interval.to_dict(),
        "ood_distance": fit.ood_distance,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    card["model_version"] = f"tknn-{model_version_for(card)}"
    extras: dict[str, Any] = {
        "interval": fit.interval.to_dict(),
        "ood_distance": fit.ood_distance,
        "training_workloads": {
            "namespace": w["namespace"].astype(str).tolist(),
            "workload_kind": w["workload_kind"].astype(str).tolist(),
            "workload_name": w["workload_name"].astype(str).tolist(),
            "measured_avg_power_w": (w[target].to_numpy(dtype=np.float64) * POWER_TARGETS[target]).tolist(),
            "duration_s": (w["duration_s"].to_numpy(dtype=np.float64).tolist() if "duration_s" in w.columns
                           else [float("nan")] * len(w)),
            # usage targets (when the labels carry them): predicted as the neighbours' mean usage
            **{col: w[col].to_numpy(dtype=np.float64).tolist() for col in USAGE_TARGETS if col in w.columns},
        },
    }
    return fit.model, card, extras
