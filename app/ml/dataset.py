"""Features ↔ labels: the canonical workload identity joins them into training rows.

Identity is (namespace, workload_kind, workload_name) of the top-level controller: a pod of a
Deployment is labelled with the Deployment (not its ReplicaSet), a Job spawned by a CronJob with
the CronJob. Label builders resolve owners to that identity; the converter already speaks it.
Label tables of the original k8sPodPCP v1 shape are read into per-pod rows first
(`app.ml.label_tables`); the join report says what was skipped there and why each unmatched
workload did not match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InputError
from app.core.schema import InferenceRequest
from app.ml.label_tables import LabelTableReport, normalise_labels
from app.ml.model import MIN_CV_WORKLOADS
from app.workloads.owners import POD_SUFFIX, RS_NAME

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
    why: dict[str, str] = field(default_factory=dict)
    """Why an unmatched workload (key as in the lists above) did not match, when it can be told."""
    label_table: LabelTableReport | None = None

    @property
    def too_few_to_train(self) -> bool:
        return self.matched_workloads < MIN_CV_WORKLOADS

    def lines(self) -> list[str]:
        out = [
            f"features: {self.feature_workloads} workloads; labels: {self.label_workloads} workloads; "
            f"matched: {self.matched_workloads} workloads, {self.rows} rows"
        ]
        if self.label_table is not None:
            out += self.label_table.lines()
        for title, keys in (("labels with no features", self.unmatched_labels),
                            ("features with no labels", self.unmatched_features)):
            if keys:
                out.append(f"{title} ({len(keys)}): " + ", ".join(
                    f"{k} ({self.why[k]})" if k in self.why else k for k in keys[:10]))
        if self.rows and self.too_few_to_train:
            out.append(f"too few to train: {self.matched_workloads} workload(s) matched; `train` needs at least "
                       f"{MIN_CV_WORKLOADS} (group cross-validation holds whole workloads out)")
        return out


def _keys(df: pd.DataFrame) -> set[str]:
    return {"/".join(map(str, k)) for k in df[KEY].drop_duplicates().itertuples(index=False)}


def _generated_from(pod: str) -> list[str]:
    """Names of the workloads a pod name could have been generated from: `<job>-<5>`, `<deploy>-<hash>-<5>`."""
    m = re.fullmatch(rf"(?P<base>.+){POD_SUFFIX}", pod)
    if not m:
        return []
    base = m.group("base")
    rs = RS_NAME.match(base)
    return [base, rs.group("base")] if rs else [base]


def _why_unmatched(feats: pd.DataFrame, labels: pd.DataFrame, lt: LabelTableReport,
                   unmatched_features: list[str], unmatched_labels: list[str]) -> dict[str, str]:
    """The reasons one can tell from the two tables: a pod asked for under its own name, a kind that differs."""
    why: dict[str, str] = {}
    label_kinds: dict[tuple[str, str], set[str]] = {}
    for ns, kind, name in labels[KEY].drop_duplicates().itertuples(index=False):
        label_kinds.setdefault((str(ns), str(name)), set()).add(str(kind))
    owner_of: dict[tuple[str, str], str] = {}
    if "pod" in labels.columns:
        for ns, kind, name, pod in labels[[*KEY, "pod"]].drop_duplicates().itertuples(index=False):
            owner_of[(str(ns), str(pod))] = f"{kind}/{name}"
    dropped = {d.split(" pod ")[0] for d in lt.dropped_pods}
    feature_kinds: dict[tuple[str, str], set[str]] = {}
    for ns, kind, name in feats[KEY].itertuples(index=False):
        feature_kinds.setdefault((str(ns), str(name)), set()).add(str(kind))
    for key in unmatched_features:
        ns, kind, name = key.split("/", 2)
        bases = [b for b in _generated_from(name) if (ns, b) in label_kinds] if kind == "Pod" else []
        if key in dropped:
            why[key] = "its label rows have no energy: every step NaN"
        elif kind == "Pod" and (ns, name) in owner_of:
            why[key] = f"labels count this pod under its owner {owner_of[(ns, name)]}"
        elif bases:
            why[key] = (f"a pod of labelled {'/'.join(sorted(label_kinds[(ns, bases[0])]))}/{bases[0]}: "
                        "encode the workload, not its pods")
        elif label_kinds.get((ns, name), set()) - {kind}:
            why[key] = "labels name it " + "/".join(sorted(label_kinds[(ns, name)]))
        else:
            why[key] = "no label rows"
    pods_of: dict[str, set[str]] = {}
    if "pod" in labels.columns:
        for ns, kind, name, pod in labels[[*KEY, "pod"]].drop_duplicates().itertuples(index=False):
            pods_of.setdefault(f"{ns}/{kind}/{name}", set()).add(str(pod))
    for key in unmatched_labels:
        ns, kind, name = key.split("/", 2)
        as_pods = sorted(p for p in pods_of.get(key, ()) if "Pod" in feature_kinds.get((ns, p), set()))
        as_pods += sorted(p for (fns, p), kinds in feature_kinds.items()
                          if fns == ns and "Pod" in kinds and name in _generated_from(p) and p not in as_pods)
        if as_pods:
            why[key] = f"features hold its pod(s) as kind Pod ({', '.join(as_pods[:3])}), not the {kind}"
        elif feature_kinds.get((ns, name), set()) - {kind}:
            why[key] = "features name it " + "/".join(sorted(feature_kinds[(ns, name)]))
        else:
            why[key] = "no request with this identity in the features"
    return why


def join(features: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, JoinReport]:
    """Inner join on workload identity; the report says what did not match and why, as far as it can tell."""
    for name, df in (("features", features), ("labels", labels)):
        missing = [c for c in KEY if c not in df.columns]
        if missing:
            raise InputError(f"missing column(s) {', '.join(missing)}", source=name)
    labels, label_table = normalise_labels(labels)
    feats = features.drop_duplicates(subset=KEY, keep="last")
    label_cols = [c for c in labels.columns if c not in ("spec_hash", "request_json", "x")]
    rows = labels[label_cols].merge(feats, on=KEY, how="inner")
    fk, lk = _keys(feats), _keys(labels)
    unmatched_features, unmatched_labels = sorted(fk - lk), sorted(lk - fk)
    report = JoinReport(
        feature_workloads=len(fk),
        label_workloads=len(lk),
        matched_workloads=len(fk & lk),
        rows=len(rows),
        unmatched_features=unmatched_features,
        unmatched_labels=unmatched_labels,
        why=_why_unmatched(feats, labels, label_table, unmatched_features, unmatched_labels),
        label_table=label_table if label_table.shape != "project" else None,
    )
    return rows, report


def require_target(rows: pd.DataFrame, target: str) -> None:
    """An `InputError` listing the columns when the training rows lack the target."""
    if target not in rows.columns:
        raise InputError(f"no target column {target!r}; columns: {', '.join(map(str, rows.columns))}",
                         source="training rows")


def training_matrix(rows: pd.DataFrame, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X, y and the group label (workload identity) of each training row."""
    require_target(rows, target)
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
