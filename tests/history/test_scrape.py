"""Long-range export against a real Prometheus: stitching, aggregation, resume, per-pod files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.adapters.prometheus import PromClient
from app.cli.main import main
from app.core.errors import InputError
from app.history.scrape import ExportPlan, export, selector_for
from app.simulate import SimCluster
from tests.history.conftest import HistoryProm

pytestmark = pytest.mark.prometheus
METRIC = "container_memory_working_set_bytes"


def _plan(cl: SimCluster, **kw: object) -> ExportPlan:
    base = {"start": cl.start_s + 17, "end": cl.end_s - 5, "chunk": 600.0, "resolution": 60.0, "bucket": 60.0,
            "agg": "mean", "match": ""}
    base.update(kw)
    return ExportPlan(**base)


def _reference(url: str, plan: ExportPlan, metric: str = METRIC) -> dict[tuple, np.ndarray]:
    """One unchunked query over the whole range: series key → (t, v) array."""
    first = np.ceil(plan.start / plan.resolution) * plan.resolution
    last = np.floor(plan.end / plan.resolution) * plan.resolution
    with PromClient(url) as c:
        return {s.key: np.asarray(s.samples) for s in c.query_range(metric, first, last, plan.resolution)}


def _by_series(df: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    labels = [c for c in df.columns if c not in ("timestamp", "value")]
    out = {}
    for key, d in df.groupby(labels, sort=False):
        k = tuple(sorted((lab, v) for lab, v in zip(labels, key, strict=True) if v != ""))
        out[k] = d.sort_values("timestamp")
    return out


def test_chunks_stitch_without_gaps_or_duplicates(history_prom: HistoryProm, tmp_path: Path) -> None:
    plan = _plan(history_prom.cluster)
    assert len(plan.chunks()) > 5
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path)
    got = _by_series(pd.read_parquet(tmp_path / f"{METRIC}.parquet"))
    ref = _reference(history_prom.url, plan)
    assert set(got) == set(ref) and len(ref) > 10
    for key, arr in ref.items():
        d = got[key]
        assert d["timestamp"].is_unique
        np.testing.assert_array_equal(d["timestamp"].to_numpy(), arr[:, 0])
        np.testing.assert_array_equal(d["value"].to_numpy(), arr[:, 1])
    # label columns are all kept
    assert {"__name__", "namespace", "pod", "container", "id", "image"} <= set(
        pd.read_parquet(tmp_path / f"{METRIC}.parquet").columns)


@pytest.mark.parametrize("how", ["sum", "mean", "median"])
def test_aggregation_matches_numpy(history_prom: HistoryProm, tmp_path: Path, how: str) -> None:
    plan = _plan(history_prom.cluster, bucket=300.0, agg=how)
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path)
    got = _by_series(pd.read_parquet(tmp_path / f"{METRIC}.parquet"))
    fn = {"sum": np.sum, "mean": np.mean, "median": np.median}[how]
    differs = 0
    for key, arr in _reference(history_prom.url, plan).items():
        buckets = np.floor(arr[:, 0] / 300) * 300
        want_t = np.unique(buckets)
        want_v = np.array([fn(arr[buckets == b, 1]) for b in want_t])
        d = got[key]
        np.testing.assert_array_equal(d["timestamp"].to_numpy(), want_t)
        np.testing.assert_allclose(d["value"].to_numpy(), want_v, rtol=1e-12)
        differs += int(np.any(np.abs(want_v - arr[np.searchsorted(arr[:, 0], want_t), 1]) > 0))
    assert differs > 0  # the buckets really combine distinct samples


def test_resume_after_interrupted_export(history_prom: HistoryProm, tmp_path: Path) -> None:
    plan = _plan(history_prom.cluster)
    n_chunks = len(plan.chunks())
    stop_after = 3

    class Interrupted(Exception):
        pass

    def boom(done: int, total: int) -> None:
        if done == stop_after:
            raise Interrupted

    with PromClient(history_prom.url) as c, pytest.raises(Interrupted):
        export(c, [METRIC], plan, tmp_path / "resumed", progress=boom)
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path / "resumed")
        assert c.requests_made == n_chunks - stop_after  # finished chunks were not fetched again
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path / "resumed")
        assert c.requests_made == 0
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path / "straight")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "resumed" / f"{METRIC}.parquet"),
                                  pd.read_parquet(tmp_path / "straight" / f"{METRIC}.parquet"))


def test_resume_refuses_other_parameters(history_prom: HistoryProm, tmp_path: Path) -> None:
    plan = _plan(history_prom.cluster)
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], plan, tmp_path)
        with pytest.raises(InputError, match="agg"):
            export(c, [METRIC], _plan(history_prom.cluster, agg="sum"), tmp_path)


def test_per_pod_files(history_prom: HistoryProm, tmp_path: Path) -> None:
    cl = history_prom.cluster
    metrics = [METRIC, "kube_pod_container_resource_requests"]
    plan = _plan(cl)
    with PromClient(history_prom.url) as c:
        export(c, metrics, plan, tmp_path / "m")
        export(c, metrics, plan, tmp_path / "p", per_pod=True)
    files = sorted((tmp_path / "p" / "pods").glob("*.parquet"))
    assert {f.stem for f in files} == {f"{p.namespace}__{p.pod}" for p in cl.pods}
    pod = next(p for p in cl.pods if p.namespace == "shop")
    one = pd.read_parquet(tmp_path / "p" / "pods" / f"{pod.namespace}__{pod.pod}.parquet")
    for metric in metrics:
        full = pd.read_parquet(tmp_path / "m" / f"{metric}.parquet")
        want = full[(full["pod"] == pod.pod) & (full["namespace"] == pod.namespace)]
        mine = one[one["metric"] == metric]
        assert len(mine) == len(want) > 0
        assert sorted(mine["value"]) == sorted(want["value"])


def test_cli_scrape_with_selector_to_csv(history_prom: HistoryProm, tmp_path: Path) -> None:
    cl = history_prom.cluster
    out = tmp_path / "csv"
    rc = main(["scrape", "--prom", history_prom.url, "--match", '{__name__=~"kube_pod_owner|kube_replicaset_owner"}',
               "--start", str(cl.start_s), "--end", str(cl.end_s), "--chunk", "30m", "--format", "csv",
               "--out", str(out), "--quiet"])
    assert rc == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["kube_pod_owner.csv", "kube_replicaset_owner.csv"]
    owners = pd.read_csv(out / "kube_pod_owner.csv")
    assert set(owners["pod"]) == {p.pod for p in cl.pods}


def test_selector_for() -> None:
    assert selector_for("m", '{job="x"}') == '{__name__="m", job="x"}'
    assert selector_for("m", 'up{job="x"}') == '{__name__="m", job="x"}'
    assert selector_for("m", None) == "m"


def test_bad_flags_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["scrape", "--prom", "http://127.0.0.1:9", "--metric", "up", "--chunk", "90s", "--resolution",
               "60s", "--out", str(tmp_path), "--quiet", "--start", "0", "--end", "600"])
    assert rc == 2
    assert "--chunk must be a whole multiple" in capsys.readouterr().err


def test_rerun_with_later_end_refetches_only_the_open_chunk(history_prom: HistoryProm, tmp_path: Path) -> None:
    cl = history_prom.cluster
    early = _plan(cl, end=cl.start_s + 1530)  # ends inside the chunk [1200, 1800) after the epoch-aligned start
    late = _plan(cl)
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], early, tmp_path / "r")
    complete = sum(1 for _lo, hi in early.chunks() if hi - 60 <= early.end)  # chunks the early run finished
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], late, tmp_path / "r")
        assert c.requests_made == len(late.chunks()) - complete
    with PromClient(history_prom.url) as c:
        export(c, [METRIC], late, tmp_path / "s")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r" / f"{METRIC}.parquet"),
                                  pd.read_parquet(tmp_path / "s" / f"{METRIC}.parquet"))
