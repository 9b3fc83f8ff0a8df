"""Adapters for the workload trace: the four kube-state-metrics/Karpenter series from CSV exports or Prometheus.

Both adapters return the same `TraceInputs` (normalised pandas frames), so `app.history.trace` never
knows where the data came from. CSV exports are what users already have (Grafana / Prometheus
UI exports); their quirks are absorbed here:

- the timestamp may be Unix seconds, Unix milliseconds or a date string;
- a Prometheus CSV export of `karpenter_pods_state` can carry two `name` columns (the metric
  name, then the label holding the pod); pandas reads the second one as `name.1`;
- namespace columns may be missing (then joins fall back to the pod name alone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from app.adapters.prometheus import PromClient, Series
from app.core.errors import InputError
from app.history.trace import TraceInputs

REQUESTS_METRIC = "kube_pod_container_resource_requests"
PODS_STATE_METRIC = "karpenter_pods_state"
POD_OWNER_METRIC = "kube_pod_owner"
RS_OWNER_METRIC = "kube_replicaset_owner"
CSV_FILES = (REQUESTS_METRIC, PODS_STATE_METRIC, POD_OWNER_METRIC, RS_OWNER_METRIC)


# -- CSV ---------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputError(f"file not found (expected the {path.stem} export)", source=str(path))
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read CSV ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                         source=str(path)) from None


def _need(df: pd.DataFrame, cols: tuple[str, ...], path: Path) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"missing column {missing[0]!r} (columns: {', '.join(map(str, df.columns))})",
                         source=str(path))


def parse_timestamps(values: pd.Series, source: str) -> np.ndarray:
    """Unix seconds, Unix milliseconds (> 1e11) or date strings → float Unix seconds."""
    num = pd.to_numeric(values, errors="coerce")
    if len(values) and num.notna().all():
        out = num.to_numpy(dtype=np.float64)
        return np.where(out > 1e11, out / 1000.0, out)
    try:
        dt = pd.to_datetime(values, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise InputError(f"invalid timestamp ({exc})", source=source, field="timestamp") from None
    return dt.astype("int64").to_numpy() / 1e9 if len(values) else np.empty(0)


def _values(df: pd.DataFrame, path: Path) -> np.ndarray:
    num = pd.to_numeric(df["value"], errors="coerce")
    bad = num.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # header is line 1
        raise InputError(f"not a number: {df['value'].iloc[row - 2]!r}", source=str(path), document=row,
                         field="value")
    return num.to_numpy(dtype=np.float64)


def _karpenter_pod_column(df: pd.DataFrame) -> str:
    """Which column holds the workload pod: `name.1` (duplicated `name` quirk), `name`, else `pod`."""
    if "name.1" in df.columns:
        return "name.1"
    if "name" in df.columns and not (df["name"] == PODS_STATE_METRIC).all():
        return "name"
    return "pod"


def read_csv_dir(directory: str | Path) -> TraceInputs:
    """The four exports `<metric>.csv` from one directory → normalised `TraceInputs`."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError("not a directory (expected the four CSV exports)", source=str(d))
    p_req, p_state, p_owner, p_rs = (d / f"{name}.csv" for name in CSV_FILES)

    req = _read_csv(p_req)
    _need(req, ("timestamp", "pod", "value", "resource"), p_req)
    requests = pd.DataFrame({
        "timestamp": parse_timestamps(req["timestamp"], str(p_req)),
        "namespace": req["namespace"] if "namespace" in req.columns else "",
        "pod": req["pod"],
        "resource": req["resource"],
        "value": _values(req, p_req),
        "node": req["node"] if "node" in req.columns else "",
    })

    st = _read_csv(p_state)
    pod_col = _karpenter_pod_column(st)
    _need(st, ("timestamp", pod_col, "node"), p_state)
    states = pd.DataFrame({
        "timestamp": parse_timestamps(st["timestamp"], str(p_state)),
        "namespace": st["namespace"] if "namespace" in st.columns else "",
        "pod": st[pod_col],
        "node": st["node"],
        "instance_type": st["instance_type"] if "instance_type" in st.columns else "",
        "nodepool": st["nodepool"] if "nodepool" in st.columns else "",
        "phase": st["phase"] if "phase" in st.columns else "Running",
    })

    ow = _read_csv(p_owner)
    _need(ow, ("pod", "owner_kind", "owner_name"), p_owner)
    owners = pd.DataFrame({
        "namespace": ow["namespace"] if "namespace" in ow.columns else "",
        "pod": ow["pod"], "owner_kind": ow["owner_kind"], "owner_name": ow["owner_name"],
    })
    if "timestamp" in ow.columns:  # a range export: it also tells when pods without requests existed
        owners["timestamp"] = parse_timestamps(ow["timestamp"], str(p_owner))
        requests = pd.concat([requests, presence_rows(owners)], ignore_index=True)
        owners = owners.drop(columns="timestamp").drop_duplicates()

    rs = _read_csv(p_rs)
    _need(rs, ("replicaset", "owner_kind", "owner_name"), p_rs)
    rs_owners = pd.DataFrame({
        "namespace": rs["namespace"] if "namespace" in rs.columns else "",
        "replicaset": rs["replicaset"], "owner_kind": rs["owner_kind"], "owner_name": rs["owner_name"],
    })
    return TraceInputs(requests=requests, pod_states=states, pod_owners=owners, rs_owners=rs_owners)


def presence_rows(owners: pd.DataFrame) -> pd.DataFrame:
    """Zero-valued request rows wherever `kube_pod_owner` saw a pod, so pods that request nothing still count.

    kube-state-metrics has no request series for a container without requests; `kube_pod_owner`
    exists for every pod over the same lifetime.
    """
    if "timestamp" not in owners.columns or owners.empty:
        return pd.DataFrame(columns=["timestamp", "namespace", "pod", "resource", "value", "node"])
    p = owners[["timestamp", "namespace", "pod"]].drop_duplicates()
    return p.assign(resource="cpu", value=0.0, node="")


# -- Prometheus ----------------------------------------------------------------------------------------


def _frame(series: list[Series], labels: dict[str, str], with_values: bool = False) -> pd.DataFrame:
    """Long frame, one row per sample: `timestamp`, the wanted labels (renamed), optionally `value`."""
    cols: dict[str, list[np.ndarray]] = {"timestamp": []}
    for out in labels.values():
        cols[out] = []
    if with_values:
        cols["value"] = []
    for s in series:
        if not s.samples:
            continue
        arr = np.asarray(s.samples, dtype=np.float64)
        n = len(arr)
        cols["timestamp"].append(arr[:, 0])
        if with_values:
            cols["value"].append(arr[:, 1])
        for src, out in labels.items():
            cols[out].append(np.full(n, s.labels.get(src, ""), dtype=object))
    return pd.DataFrame({k: (np.concatenate(v) if v else np.empty(0)) for k, v in cols.items()})


def read_prometheus(client: PromClient, start: float, end: float, step: float = 60.0,
                    lookback_s: float = 300.0) -> TraceInputs:
    """The same four series from Prometheus over [start, end], sampled every `step` seconds.

    `last_over_time(…[lookback])` is Prometheus' own instant-selector rule made explicit: a
    series counts at t when it has a sample in the lookback window before t. That bridges missed
    scrapes; the price is that an ending pod is seen up to `lookback_s` after its last sample.
    """
    lb = f"{int(lookback_s)}s"
    req = client.query_range(
        f'sum by (namespace, pod, node, resource) (last_over_time({REQUESTS_METRIC}{{resource=~"cpu|memory"}}[{lb}]))',
        start, end, step)
    state = client.query_range(f"last_over_time({PODS_STATE_METRIC}[{lb}])", start, end, step)
    owners = client.query_range(
        f"max by (namespace, pod, owner_kind, owner_name) (last_over_time({POD_OWNER_METRIC}[{lb}]))",
        start, end, step)
    rs = client.query_range(
        f"max by (namespace, replicaset, owner_kind, owner_name) (last_over_time({RS_OWNER_METRIC}[{lb}]))",
        start, end, step)
    requests = _frame(req, {"namespace": "namespace", "pod": "pod", "resource": "resource", "node": "node"},
                      with_values=True)
    # Karpenter's own pod is in `pod`; the workload pod is in `name`.
    states = _frame(state, {"namespace": "namespace", "name": "pod", "node": "node",
                            "instance_type": "instance_type", "nodepool": "nodepool", "phase": "phase"})
    own_t = _frame(owners, {"namespace": "namespace", "pod": "pod", "owner_kind": "owner_kind",
                            "owner_name": "owner_name"})
    requests = pd.concat([requests, presence_rows(own_t)], ignore_index=True)
    own = own_t.drop(columns="timestamp").drop_duplicates()
    rso = _frame(rs, {"namespace": "namespace", "replicaset": "replicaset", "owner_kind": "owner_kind",
                      "owner_name": "owner_name"}).drop(columns="timestamp").drop_duplicates()
    return TraceInputs(requests=requests, pod_states=states, pod_owners=own, rs_owners=rso)
