"""Long-range metric export from Prometheus: chunked, aggregated per time bucket, resumable.

`export(...)` walks [start, end] in chunks of `chunk` seconds. Every boundary (chunk, bucket,
query step) sits on a grid anchored at the Unix epoch, so chunks stitch with no gap and no
duplicate, and a rerun computes exactly the same chunk edges. Each chunk of each metric is
written as its own part file (atomic rename) under `<out>/.parts/<metric>/`; a rerun skips parts
that exist, so an interrupted export resumes where it stopped without re-querying. When every
part is there, the parts are concatenated into one file per metric (all label columns kept) or,
with `per_pod`, one file per pod.

Within a chunk, the samples that `query_range` returns every `resolution` seconds are grouped by
series and by `bucket` (a multiple of the resolution) and combined with sum, mean or median.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from app.adapters.files import write_table
from app.adapters.prometheus import PromClient, Series
from app.core.errors import InputError

AGGREGATIONS = ("sum", "mean", "median")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SELECTOR = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{.*\})?\s*$", re.S)
POD_LABELS = ("pod_name", "pod")  # Kepler 0.7 carries the exporter's pod in `pod`, the workload pod in `pod_name`
NAMESPACE_LABELS = ("pod_namespace", "container_namespace", "namespace")


@dataclass(frozen=True)
class ExportPlan:
    """Everything that decides the bytes of a part file; stored beside the parts to refuse mixing runs."""

    start: float
    end: float
    chunk: float
    resolution: float
    bucket: float
    agg: str
    match: str

    def chunks(self) -> list[tuple[float, float]]:
        """Epoch-aligned [lo, hi) chunk ranges covering [start, end]."""
        lo = math.floor(self.start / self.chunk) * self.chunk
        out = []
        while lo <= self.end:
            out.append((lo, lo + self.chunk))
            lo += self.chunk
        return out

    def query_range_of(self, lo: float, hi: float) -> tuple[float, float]:
        """First and last query step of chunk [lo, hi) inside [start, end]: the chunk's own samples only."""
        first = max(lo, math.ceil(self.start / self.resolution - 1e-9) * self.resolution)
        last = min(hi - self.resolution, math.floor(self.end / self.resolution + 1e-9) * self.resolution)
        return first, last


def check_plan(plan: ExportPlan) -> None:
    if plan.agg not in AGGREGATIONS:
        raise InputError(f"unknown --agg {plan.agg!r}; choose from {', '.join(AGGREGATIONS)}", source="arguments")
    if plan.end < plan.start:
        raise InputError("--end is before --start", source="arguments")
    pairs = (("--bucket", plan.bucket, "--resolution", plan.resolution), ("--chunk", plan.chunk, "--bucket",
                                                                         plan.bucket))
    for what, big, of, small in pairs:
        ratio = big / small
        if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
            raise InputError(f"{what} must be a whole multiple of {of} ({big:g}s vs {small:g}s)", source="arguments")


def selector_for(metric: str, match: str | None) -> str:
    """`{__name__="metric", <matchers of match>}` — the match selector narrowed to one metric."""
    if not match:
        return metric
    m = _SELECTOR.match(match)
    if not m:
        raise InputError(f"invalid series selector {match!r}", source="arguments", field="--match")
    inner = (m.group(2) or "{}")[1:-1].strip()
    parts = [f'__name__="{metric}"', *([inner] if inner else [])]
    return "{" + ", ".join(parts) + "}"


def resolve_metrics(client: PromClient, metrics: Sequence[str], match: str | None, start: float,
                    end: float) -> list[str]:
    """The metrics to export: the ones named, or every metric name with a series matching `match`."""
    for m in metrics:
        if not _METRIC_NAME.match(m):
            raise InputError(f"invalid metric name {m!r}", source="arguments", field="--metric")
    if metrics:
        return sorted(set(metrics))
    if not match:
        raise InputError("name metrics with --metric or a selector with --match", source="arguments")
    names = sorted({s.get("__name__", "") for s in client.series(match, start, end)} - {""})
    if not names:
        raise InputError(f"no series match {match!r} between the given times", source="arguments", field="--match")
    return names


def aggregate(series: list[Series], bucket: float, how: str) -> pd.DataFrame:
    """One row per (series, bucket): labels, `timestamp` (bucket start, Unix s), `value` (sum/mean/median).

    Vectorised: one groupby over all samples of the chunk, then the labels joined per series index.
    """
    series = [s for s in series if s.samples]
    if not series:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    arrays = [np.asarray(s.samples, dtype=np.float64) for s in series]
    idx = np.repeat(np.arange(len(series)), [len(a) for a in arrays])
    allv = np.concatenate(arrays)
    df = pd.DataFrame({"_s": idx, "timestamp": np.floor(allv[:, 0] / bucket + 1e-9) * bucket, "value": allv[:, 1]})
    agg = df.groupby(["_s", "timestamp"], sort=True)["value"].agg(how).reset_index()
    labels = pd.DataFrame([s.labels for s in series]).fillna("")
    cols = sorted(labels.columns)
    out = pd.concat([labels.iloc[agg["_s"].to_numpy()][cols].reset_index(drop=True),
                     agg[["timestamp", "value"]]], axis=1)
    return out


def _part_path(root: Path, metric: str, first: float, last: float) -> Path:
    """Named by the exact range queried: when `--end now` moves, the old partial last chunk is not reused."""
    return root / ".parts" / metric / f"part-{first:.0f}-{last:.0f}.parquet"


def _check_or_store_plan(root: Path, metric: str, plan: ExportPlan) -> None:
    meta = root / ".parts" / metric / "plan.json"
    want = asdict(plan)
    # start/end may move (e.g. `--end now` on a rerun): chunks are epoch-aligned, so only the rest must agree
    fixed = {k: v for k, v in want.items() if k not in ("start", "end")}
    if meta.exists():
        have = json.loads(meta.read_text())
        diff = {k: (have.get(k), v) for k, v in fixed.items() if have.get(k) != v}
        if diff:
            k, (old, new) = next(iter(diff.items()))
            raise InputError(f"{meta.parent} holds parts of another export ({k}={old!r}, now {new!r}); "
                             "use another --out or delete it", source="arguments")
        return
    meta.parent.mkdir(parents=True, exist_ok=True)
    tmp = meta.with_suffix(".tmp")
    tmp.write_text(json.dumps(fixed, indent=1))
    tmp.replace(meta)


def export(
    client: PromClient,
    metrics: Sequence[str],
    plan: ExportPlan,
    out: str | Path,
    fmt: str = "parquet",
    per_pod: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Export `metrics` per `plan` into `out`; returns the files written. Resumable (see module doc)."""
    check_plan(plan)
    if fmt not in ("parquet", "csv"):
        raise InputError(f"unknown --format {fmt!r}; choose parquet or csv", source="arguments")
    root = Path(out)
    chunks = plan.chunks()
    total = len(chunks) * len(metrics)
    done = 0
    for metric in metrics:
        _check_or_store_plan(root, metric, plan)
        expr = selector_for(metric, plan.match or None)
        for lo, hi in chunks:
            first, last = plan.query_range_of(lo, hi)
            part = _part_path(root, metric, first, last)
            if not part.exists():
                series = client.query_range(expr, first, last, plan.resolution) if last >= first else []
                write_table(aggregate(series, plan.bucket, plan.agg), part)
            done += 1
            if progress:
                progress(done, total)
    return _assemble(root, metrics, plan, fmt, per_pod)


def _read_parts(root: Path, metric: str, plan: ExportPlan) -> pd.DataFrame:
    chunks = plan.chunks()
    frames = [pd.read_parquet(_part_path(root, metric, *plan.query_range_of(lo, hi))) for lo, hi in chunks]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"timestamp": pd.Series(dtype="float64"), "value": pd.Series(dtype="float64")})
    df = pd.concat(frames, ignore_index=True)
    labels = sorted(c for c in df.columns if c not in ("timestamp", "value"))
    df[labels] = df[labels].fillna("")
    return df[[*labels, "timestamp", "value"]].sort_values([*labels, "timestamp"], kind="stable").reset_index(
        drop=True)


def _first_label(df: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    out = pd.Series("", index=df.index, dtype=object)
    for n in reversed(names):  # earlier names win
        if n in df.columns:
            out = df[n].where(df[n].astype(str) != "", out)
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text) or "_"


def _assemble(root: Path, metrics: Sequence[str], plan: ExportPlan, fmt: str,
              per_pod: bool) -> list[Path]:
    written: list[Path] = []
    if not per_pod:
        for metric in metrics:
            written.append(write_table(_read_parts(root, metric, plan), root / f"{metric}.{fmt}"))
        return written
    frames = []
    for metric in metrics:
        df = _read_parts(root, metric, plan)
        if df.empty:
            continue
        df.insert(0, "metric", metric)
        df["pod_ref"] = _first_label(df, POD_LABELS)
        df["namespace_ref"] = _first_label(df, NAMESPACE_LABELS)
        frames.append(df[df["pod_ref"] != ""])
    if not frames:
        return written
    allp = pd.concat(frames, ignore_index=True)
    labels = [c for c in allp.columns if c not in ("metric", "timestamp", "value", "pod_ref", "namespace_ref")]
    allp[labels] = allp[labels].fillna("")
    for (ns, pod), d in allp.groupby(["namespace_ref", "pod_ref"], sort=True):
        d = d.drop(columns=["pod_ref", "namespace_ref"])
        keep = [c for c in d.columns if c in ("metric", "timestamp", "value") or (d[c] != "").any()]
        written.append(write_table(d[keep].reset_index(drop=True), root / "pods" / f"{_safe(ns)}__{_safe(pod)}.{fmt}"))
    return written
