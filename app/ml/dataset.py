"""Features ↔ labels: the canonical workload identity joins them into training rows.

Identity is (namespace, workload_kind, workload_name) of the top-level controller: a pod of a
Deployment is labelled with the Deployment (not its ReplicaSet), a Job spawned by a CronJob with
the CronJob. Label builders resolve owners to that identity; the converter already speaks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InputError
from app.core.schema import InferenceRequest

KEY = ["namespace", "workload_kind", "workload_name"]


def features_frame(requests: Sequence[InferenceRequest], X: np.ndarray) -> pd.DataFrame:
    """One row per workload: identity, spec hash, the request as JSON, and its feature vector `x`."""
    return pd.DataFrame({
        "namespace": [r.namespace for r in requests],
        "workload_kind": [r.workload_kind for r in requests],
        "workload_name": [r.workload_name for r in requests],
        "spec_hash": [r.spec_hash() for r in requests],
        "request_json": [r.model_dump_json(exclude_none=True) for r in requests],
        "x": list(np.asarray(X, dtype=np.float64)),
    })


@dataclass
class JoinReport:
    feature_workloads: int
    label_workloads: int
    matched_workloads: int
    rows: int
    unmatched_features: list[str] = field(default_factory=list)
    unmatched_labels: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"features: {self.feature_workloads} workloads; labels: {self.label_workloads} workloads; "
            f"matched: {self.matched_workloads} workloads, {self.rows} rows"
        ]
        if self.unmatched_labels:
            out.append(f"labels with no features ({len(self.unmatched_labels)}): "
                       + ", ".join(self.unmatched_labels[:10]))
        if self.unmatched_features:
            out.append(f"features with no labels ({len(self.unmatched_features)}): "
                       + ", ".join(self.unmatched_features[:10]))
        return out


def _keys(df: pd.DataFrame) -> set[str]:
    return {"/".join(map(str, k)) for k in df[KEY].drop_duplicates().itertuples(index=False)}


def join(features: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, JoinReport]:
    """Inner join on workload identity; the report says what did not match (and why, when nothing does)."""
    for name, df in (("features", features), ("labels", labels)):
        missing = [c for c in KEY if c not in df.columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", source=name)
    feats = features.drop_duplicates(subset=KEY, keep="last")
    label_cols = [c for c in labels.columns if c not in ("spec_hash", "request_json", "x")]
    rows = labels[label_cols].merge(feats, on=KEY, how="inner")
    fk, lk = _keys(feats), _keys(labels)
    report = JoinReport(
        feature_workloads=len(fk),
        label_workloads=len(lk),
        matched_workloads=len(fk & lk),
        rows=len(rows),
        unmatched_features=sorted(fk - lk),
        unmatched_labels=sorted(lk - fk),
    )
    return rows, report


def training_matrix(rows: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y and the group label (workload identity) of each training row."""
    if target not in rows.columns:
        raise InputError(f"no target column {target!r}; columns: {', '.join(map(str, rows.columns))}",
                         source="training rows")
    if "x" not in rows.columns:
        raise InputError("no feature column `x`: make training rows with `python -m app join`",
                         source="training rows")
    keep = rows[target].notna().to_numpy()
    X = np.stack(rows["x"].to_numpy()[keep]).astype(np.float64)
    y = rows[target].to_numpy(dtype=np.float64)[keep]
    groups = (rows["namespace"] + "/" + rows["workload_kind"] + "/" + rows["workload_name"]).to_numpy()[keep]
    return X, y, groups


def aggregate_rows(rows: pd.DataFrame, by: str, target: str) -> pd.DataFrame:
    """Collapse per-step rows so one long-running workload does not dominate the neighbours.

    `by="pod"`: one row per pod (mean target), `by="workload"`: one row per workload, `"none"`: as is.
    """
    if by == "none":
        return rows
    keys = KEY + (["pod"] if by == "pod" and "pod" in rows.columns else [])
    agg: dict[str, Any] = {target: "mean", "x": "first"}
    for extra in ("spec_hash", "request_json"):
        if extra in rows.columns:
            agg[extra] = "first"
    return rows.groupby(keys, as_index=False, sort=True).agg(agg)
