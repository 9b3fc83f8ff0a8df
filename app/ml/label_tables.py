"""Label tables of either shape become per-pod rows before `join` and `train`.

Two shapes are read:

* This project's (`python -m app labels`, app/energy_labels/build.py): `job` mode, one row per pod
  with `duration_s`, `total_energy_j`, `avg_power_w`, `energy_step_j`; `window` mode, one row per pod
  per step at `timestamp_s` with `avg_power_w` filled. Passed through unchanged.
* The original k8sPodPCP v1 window table (MSKazemi/k8sPodPCP, app/kepler_labels.py `--mode window`,
  its default): `ts, namespace, workload_kind, workload_name, pod, avg_power_w, energy_step_j`, one
  row per pod per Prometheus sample. There `energy_step_j` is the increase of
  `kepler_container_joules_total` since the pod's previous row (NaN on its first row: a `diff()`),
  and `avg_power_w` is `kepler_container_power_watt`, NaN when that metric is absent (always, in its
  published tables).

Rules for the v1 table (summarised in README, "Coming from k8sPodPCP v1"):

* Interval of a row: the time since the same pod's previous row, because v1 differenced consecutive
  samples (after a missed scrape a row holds 120 s of energy); a pod's first row covers one step. The
  step is inferred from `ts`: the pod's median spacing, else the median spacing over all pods, else
  `STEP_SECONDS` (60 s) when no pod has two rows.
* Power of a row: `avg_power_w` when finite, else `energy_step_j / interval`. A row with neither is
  a NaN step: skipped and counted (v1 leaves every pod's first row NaN).
* Per pod, the shape of this project's `job` table, which `aggregate_rows` and the tuned model's
  `workload_rows` expect: `total_energy_j` = sum of power x interval over the counted rows,
  `duration_s` = sum of their intervals, `avg_power_w` = total / duration, `energy_step_j` =
  avg x STEP_SECONDS (the unit the predictor converts back from), plus `start_s`, `end_s`, `steps`,
  `nan_steps`. A pod with no counted row is dropped and listed.
* Identity: v1 labelled a pod ("Pod", <pod>) at samples where its owner was not known yet; such
  rows take the pod's owner from its other rows. v1 stripped a ReplicaSet's hash only when it was 9+
  hex digits, so a "Deployment" named `<name>-<6-10 char hash>` whose pods are `<that name>-<5 chars>`
  is renamed `<name>`. Kepler's `system_processes` / `kernel_processes` rows are not workloads
  (this project's builder never emits them) and are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InputError
from app.core.schema import STEP_SECONDS
from app.workloads.owners import POD_SUFFIX, RS_NAME

V1_WINDOW_COLUMNS = ("ts", "namespace", "workload_kind", "workload_name", "pod", "avg_power_w", "energy_step_j")
"""The columns of the original's window label table, in its order."""
KEPLER_PSEUDO_PODS = ("system_processes", "kernel_processes")
"""Names Kepler gives the energy of processes outside any pod."""
_IDENTITY = ["namespace", "workload_kind", "workload_name"]
_POD = ["namespace", "pod"]


@dataclass
class LabelTableReport:
    """What reading a label table did: its shape and, for a v1 table, every row it did not count."""

    shape: str
    rows: int
    step_s: float | None = None
    step_source: str = ""
    counted_steps: int = 0
    nan_steps: int = 0
    pods: int = 0
    pseudo_pod_rows: int = 0
    duplicate_rows: int = 0
    owner_fixed_rows: int = 0
    renamed: list[str] = field(default_factory=list)
    dropped_pods: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.shape != "v1-window":
            return []
        out = [f"labels: k8sPodPCP v1 window table, {self.rows} rows; step {self.step_s:g} s ({self.step_source}); "
               f"{self.counted_steps} steps counted into {self.pods} pods, {self.nan_steps} NaN steps skipped "
               "(no energy_step_j and no avg_power_w; v1 leaves each pod's first row NaN)"]
        if self.duplicate_rows:
            out.append(f"labels: {self.duplicate_rows} rows repeating a pod's ts dropped")
        if self.pseudo_pod_rows:
            out.append(f"labels: {self.pseudo_pod_rows} rows of Kepler's {'/'.join(KEPLER_PSEUDO_PODS)} dropped "
                       "(not workloads)")
        if self.owner_fixed_rows:
            out.append(f"labels: {self.owner_fixed_rows} rows labelled Pod/<pod> took the owner their pod has on "
                       "its other rows")
        if self.renamed:
            out.append(f"labels: ReplicaSet hash stripped from {len(self.renamed)} Deployment name(s): "
                       + ", ".join(self.renamed[:10]))
        if self.dropped_pods:
            out.append(f"labels: {len(self.dropped_pods)} pod(s) dropped, every step NaN: "
                       + ", ".join(self.dropped_pods[:10]))
        return out


def is_v1_window(labels: pd.DataFrame) -> bool:
    """The v1 window shape: per-sample `ts` and `energy_step_j`, none of this project's own time columns."""
    cols = set(labels.columns)
    return {"ts", "pod", "energy_step_j"} <= cols and not cols & {"timestamp_s", "duration_s"}


def normalise_labels(labels: pd.DataFrame) -> tuple[pd.DataFrame, LabelTableReport]:
    """This project's per-pod rows from a label table of either shape (see the module docstring)."""
    if not is_v1_window(labels):
        return labels, LabelTableReport(shape="project", rows=len(labels))
    report = LabelTableReport(shape="v1-window", rows=len(labels))
    missing = [c for c in V1_WINDOW_COLUMNS if c not in labels.columns and c != "avg_power_w"]
    if missing:
        raise InputError(f"a k8sPodPCP v1 window table needs column(s) {', '.join(missing)}", source="labels")
    df = labels.assign(ts=_seconds(labels["ts"]))
    dup = df.duplicated([*_POD, "ts"])
    report.duplicate_rows = int(dup.sum())
    df = df[~dup]
    pseudo = df["pod"].isin(KEPLER_PSEUDO_PODS)
    report.pseudo_pod_rows = int(pseudo.sum())
    df = df[~pseudo]
    df = _fix_identity(df, report)
    df = df.sort_values([*_POD, "ts"], kind="stable").reset_index(drop=True)
    ts = df["ts"]
    gap = ts.groupby([df["namespace"], df["pod"]]).diff()
    spacing = gap[gap > 0]
    if len(spacing):
        report.step_s, report.step_source = float(spacing.median()), "median spacing of ts"
    else:
        report.step_s, report.step_source = float(STEP_SECONDS), "default: no pod has two rows"
    pod_step = gap.where(gap > 0).groupby([df["namespace"], df["pod"]]).transform("median")
    interval = gap.where(gap > 0, pod_step.fillna(report.step_s))
    power = _column(df, "avg_power_w")
    power = power.where(np.isfinite(power), _column(df, "energy_step_j") / interval)
    counted = np.isfinite(power)
    report.counted_steps, report.nan_steps = int(counted.sum()), int((~counted).sum())
    df = df.assign(_e=(power * interval).where(counted), _d=interval.where(counted), _t0=(ts - interval).where(counted),
                   _t1=ts.where(counted), _n=counted.astype(np.int64))
    return _per_pod(df, report), report


def _seconds(ts: pd.Series) -> pd.Series:
    """`ts` as Unix seconds (v1 writes floats; a datetime column is converted); an `InputError` otherwise."""
    if pd.api.types.is_datetime64_any_dtype(ts):
        utc = pd.to_datetime(ts, utc=True)
        return (utc - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    out = pd.to_numeric(ts, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        raise InputError(f"column ts: {int(bad.sum())} value(s) are not Unix seconds, e.g. {ts[bad].iloc[0]!r}",
                         source="labels")
    return out


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce").astype(np.float64) if name in df.columns else \
        pd.Series(np.nan, index=df.index)


def _fix_identity(df: pd.DataFrame, report: LabelTableReport) -> pd.DataFrame:
    """Pod-fallback rows take their pod's owner; Deployments named after their ReplicaSet lose the hash."""
    df = df.copy()
    fallback = (df["workload_kind"] == "Pod") & (df["workload_name"] == df["pod"])
    owners = (df[~fallback].groupby([*_POD, "workload_kind", "workload_name"], sort=False).size()
              .rename("n").reset_index().sort_values("n", ascending=False, kind="stable").drop_duplicates(_POD))
    got = df[_POD].merge(owners, on=_POD, how="left")
    fix = fallback.to_numpy() & got["workload_kind"].notna().to_numpy()
    report.owner_fixed_rows = int(fix.sum())
    df.loc[fix, "workload_kind"] = got.loc[fix, "workload_kind"].to_numpy()
    df.loc[fix, "workload_name"] = got.loc[fix, "workload_name"].to_numpy()
    renames: dict[tuple[str, str, str], str] = {}
    deployments = df[df["workload_kind"] == "Deployment"]
    for ns, name, pod in deployments[["namespace", "workload_name", "pod"]].drop_duplicates().itertuples(index=False):
        m = RS_NAME.match(str(name))
        if m and re.fullmatch(re.escape(str(name)) + POD_SUFFIX, str(pod)):
            renames[(ns, name, pod)] = m.group("base")
    if renames:
        keys = list(zip(df["namespace"], df["workload_name"], df["pod"], strict=True))
        df["workload_name"] = [renames.get(k, k[1]) if kind == "Deployment" else k[1]
                               for k, kind in zip(keys, df["workload_kind"], strict=True)]
        report.renamed = sorted({f"{ns}/{name} → {base}" for (ns, name, _), base in renames.items()})
    return df


def _per_pod(df: pd.DataFrame, report: LabelTableReport) -> pd.DataFrame:
    keys = [*_IDENTITY, "pod"]
    agg: dict[str, Any] = {"_e": "sum", "_d": "sum", "_t0": "min", "_t1": "max", "_n": "sum"}
    for extra in df.columns:
        if extra not in agg and extra not in keys and extra not in V1_WINDOW_COLUMNS and extra != "total_energy_j":
            agg[extra] = "first"  # e.g. x / request_json / spec_hash of already-joined rows
    rows = df.groupby(keys, as_index=False, sort=True).agg(agg)
    rows["nan_steps"] = df.groupby(keys, sort=True).size().to_numpy() - rows["_n"].to_numpy()
    empty = rows["_n"] == 0
    report.dropped_pods = [f"{r.namespace}/{r.workload_kind}/{r.workload_name} pod {r.pod}"
                           for r in rows[empty].itertuples(index=False)]
    rows = rows[~empty]
    report.pods = len(rows)
    avg = rows["_e"] / rows["_d"]
    out = rows[keys].assign(start_s=rows["_t0"], end_s=rows["_t1"], duration_s=rows["_d"], total_energy_j=rows["_e"],
                            avg_power_w=avg, energy_step_j=avg * STEP_SECONDS, steps=rows["_n"],
                            nan_steps=rows["nan_steps"])
    for extra in agg:
        if not extra.startswith("_"):
            out[extra] = rows[extra]
    return out.reset_index(drop=True)
