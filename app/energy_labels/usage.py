"""Per-pod cAdvisor usage (CPU cores, working set, fs and network byte rates) over each pod's life."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from app.energy_labels.counters import RangeSource, stream_counter
from app.energy_labels.kepler import CounterQuery

_REAL_CONTAINERS = ('container!=""', 'container!="POD"', 'image!~".*/pause:.*"')


def add_usage(source: RangeSource, frame: pd.DataFrame, start: float, end: float, step: float,
              chunk_points: int, notes: list[str]) -> pd.DataFrame:
    """Per-pod cAdvisor usage over each pod's life: CPU cores, working set, fs and network byte rates.

    Containers only: the pause sandbox (`container="POD"`, pause image) and the pod cgroup
    (`container=""`) are excluded, except for network, which cAdvisor reports only for the pod's
    network namespace: taken from `container="POD"` when present, else from `container=""`.
    """
    names = set(source.metric_names(start, end, match='{__name__=~"container_.*"}'))
    frame = frame.copy()
    key = list(zip(frame["namespace"], frame["pod"], strict=True))
    dur = frame["duration_s"].to_numpy(dtype=float)
    counters = {
        "cpu_cores_used": ("container_cpu_usage_seconds_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "fs_read_bytes_per_s": ("container_fs_reads_bytes_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "fs_write_bytes_per_s": ("container_fs_writes_bytes_total", _REAL_CONTAINERS, ("namespace", "pod", "id")),
        "net_rx_bytes_per_s": ("container_network_receive_bytes_total", ('container=~"POD|"',),
                               ("namespace", "pod", "container", "id")),
        "net_tx_bytes_per_s": ("container_network_transmit_bytes_total", ('container=~"POD|"',),
                               ("namespace", "pod", "container", "id")),
    }
    for col, (metric, matchers, by) in counters.items():
        if metric not in names:
            frame[col] = math.nan
            notes.append(f"no {metric}: {col} left empty")
            continue
        q = CounterQuery(metric, matchers, by, "sum", ("namespace", "pod", None))
        acc = stream_counter(source, q, start, end, step, chunk_points, keep_steps=False)
        per_pod: dict[tuple[str, str], dict[str, float]] = {}
        for k, tr in acc.tracks.items():
            bucket = per_pod.setdefault((k[0], k[1]), {})
            group = k[2] if col.startswith("net_") else ""
            bucket[group] = bucket.get(group, 0.0) + tr.total
        totals = []
        for kk in key:
            b = per_pod.get(kk)
            totals.append(math.nan if b is None else (b["POD"] if "POD" in b else sum(b.values())))
        frame[col] = np.asarray(totals) / np.where(dur > 0, dur, np.nan)
    metric = "container_memory_working_set_bytes"
    if metric not in names:
        frame["mem_bytes_used"] = math.nan
        notes.append(f"no {metric}: mem_bytes_used left empty")
        return frame
    life = {kk: (s, e) for kk, s, e in zip(key, frame["start_s"], frame["end_s"], strict=True)}
    sums: dict[tuple[str, str], list[float]] = {}
    first_seen: dict[str, int] = {}
    sel = metric + "{" + ",".join(_REAL_CONTAINERS) + "}"
    expr = f"sum by (namespace, pod, container, id) ({sel})"
    for chunk in source.iter_range(expr, start, end, step, chunk_points):
        # A restarted container's old series stays visible for the lookback window: at each grid
        # point keep only the newest container id of each container name.
        groups: dict[tuple[str, str, str], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        lo = None
        for labels, t, v in chunk:
            kk = (labels.get("namespace", ""), labels.get("pod", ""))
            if kk not in life or v.size == 0:
                continue
            idx = np.rint((t - start) / step).astype(np.int64)
            cid = labels.get("id", "")
            first = first_seen.setdefault(cid, int(idx[0]))
            groups.setdefault((*kk, labels.get("container", "")), []).append((first, idx, v))
            lo = int(idx.min()) if lo is None else min(lo, int(idx.min()))
        if lo is None:
            continue
        hi = max(int(i.max()) for ser in groups.values() for _, i, _ in ser) + 1
        grid = start + np.arange(lo, hi) * step
        pod_vals: dict[tuple[str, str], np.ndarray] = {}
        for (ns, pod, _c), series in groups.items():
            val = np.full(hi - lo, np.nan)
            for _, i, v in sorted(series, key=lambda x: x[0]):
                val[i - lo] = v
            have = pod_vals.get((ns, pod))
            pod_vals[(ns, pod)] = val if have is None else np.where(np.isnan(have), val, have + np.nan_to_num(val))
        for kk, val in pod_vals.items():
            s_, e_ = life[kk]
            inside = (grid >= s_) & (grid <= e_) & ~np.isnan(val)  # stale copies after the pod: not its life
            tot = sums.setdefault(kk, [0.0, 0.0])
            tot[0] += float(val[inside].sum())
            tot[1] += float(inside.sum())
    frame["mem_bytes_used"] = [sums[kk][0] / sums[kk][1] if kk in sums and sums[kk][1] else math.nan for kk in key]
    return frame
