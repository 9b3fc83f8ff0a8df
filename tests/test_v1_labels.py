"""Label tables in the original k8sPodPCP v1 window shape, through `join`, `train` and `predict`.

The table is generated here from the v1 column list (`ts, namespace, workload_kind, workload_name,
pod, avg_power_w, energy_step_j`) the way v1's collector fills it: one row per pod per 60 s sample,
`energy_step_j` the counter's increase since the pod's previous row (NaN on its first row),
`avg_power_w` all NaN. Each workload draws a known constant power, so the expected per-pod power is
that constant, whatever the gaps, NaN steps and identity quirks the table carries.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli.main import main
from app.core.schema import STEP_SECONDS
from app.ml.dataset import join
from app.ml.label_tables import V1_WINDOW_COLUMNS, normalise_labels
from tests.conftest import REPO

V1_REQUESTS = REPO / "tests" / "data" / "v1" / "requests.ndjson"
T0 = 1_761_840_000.0

# (namespace, kind, name as v1 labels it, pods, watts); "api-7c5d8b94" is the ReplicaSet name v1 left
# unstripped (its hash is 8 characters, v1 stripped 9+ hex digits only).
WORKLOADS = [
    ("shop", "Deployment", "web", ["web-6b9f7c5d48-x2k9q", "web-6b9f7c5d48-h7zpl"], 3.0),
    ("shop", "Deployment", "api-7c5d8b94", ["api-7c5d8b94-qwm4z"], 5.0),
    ("shop", "Deployment", "cache", ["cache-5d8f7b6c94-zv2kd"], 1.5),
    ("batch", "Job", "etl", ["etl-k2x9v", "etl-p8d4w"], 12.0),
    ("batch", "CronJob", "report", ["report-29345678-mvz5t"], 2.5),
    ("ml", "Deployment", "trainer", ["trainer-7f5c9d8b6d-bq2xn"], 60.0),
    ("kube-system", "DaemonSet", "kindnet", ["kindnet-4blnj"], 0.8),
]
POWER = {"web": 3.0, "api": 5.0, "cache": 1.5, "etl": 12.0, "report": 2.5, "trainer": 60.0}
"""Known watts per pod of each workload that has a request in tests/data/v1/requests.ndjson."""


def v1_window_labels() -> pd.DataFrame:
    rows = []

    def pod_rows(ns: str, kind: str, name: str, pod: str, watts: float, times: list[float],
                 nan_at: tuple[int, ...] = ()) -> None:
        for i, t in enumerate(times):
            step_j = math.nan if i == 0 or i in nan_at else watts * (t - times[i - 1])
            rows.append((t, ns, kind, name, pod, math.nan, step_j))

    grid = [T0 + 60.0 * i for i in range(12)]
    for ns, kind, name, pods, watts in WORKLOADS:
        for j, pod in enumerate(pods):
            times = [t + 60.0 * j for t in grid]
            if name == "etl" and j == 0:
                times = times[:5] + times[6:]  # a missed scrape: the next row holds 120 s of energy
            nan_at = (7,) if name == "web" and j == 0 else ()  # a NaN step mid-life
            pod_rows(ns, kind, name, pod, watts, times, nan_at)
            if name == "report":  # v1 labelled the pod Pod/<pod> until it knew the owner
                rows[-len(times)] = (times[0], ns, "Pod", pod, pod, math.nan, math.nan)
                rows[-len(times) + 1] = (times[1], ns, "Pod", pod, pod, math.nan, watts * 60.0)
    pod_rows("shop", "Deployment", "idle", "idle-5d8f7b6c94-r4mzn", 0.0, grid, nan_at=tuple(range(12)))
    pod_rows("system", "Pod", "system_processes", "system_processes", 40.0, grid)
    return pd.DataFrame(rows, columns=list(V1_WINDOW_COLUMNS))


def test_per_pod_power_is_the_known_constant() -> None:
    labels = v1_window_labels()
    assert labels["avg_power_w"].isna().all()
    rows, report = normalise_labels(labels)
    by_pod = rows.set_index("pod")
    for *_, pods, watts in WORKLOADS:
        for pod in pods:
            assert by_pod.loc[pod, "avg_power_w"] == pytest.approx(watts), pod
            assert by_pod.loc[pod, "energy_step_j"] == pytest.approx(watts * STEP_SECONDS)
            assert by_pod.loc[pod, "total_energy_j"] == pytest.approx(watts * by_pod.loc[pod, "duration_s"])
    # etl-k2x9v: 11 rows over 12 slots, first NaN → 10 counted rows covering 660 s (one of them 120 s)
    assert by_pod.loc["etl-k2x9v", "duration_s"] == 660.0 and by_pod.loc["etl-k2x9v", "steps"] == 10
    assert by_pod.loc["web-6b9f7c5d48-x2k9q", "nan_steps"] == 2
    assert report.step_s == 60.0 and report.step_source == "median spacing of ts"
    # the first row of each of the 9 pods (the report pod's is one of its Pod/<pod> rows), web's mid-life
    # NaN step, and all 12 rows of idle
    assert report.nan_steps == 9 + 1 + 12
    assert report.dropped_pods == ["shop/Deployment/idle pod idle-5d8f7b6c94-r4mzn"]
    assert report.pseudo_pod_rows == 12 and "system_processes" not in set(rows["pod"])
    assert report.owner_fixed_rows == 2 and by_pod.loc["report-29345678-mvz5t", "workload_kind"] == "CronJob"
    assert by_pod.loc["api-7c5d8b94-qwm4z", "workload_name"] == "api"
    assert report.renamed == ["shop/api-7c5d8b94 → api"]


def test_step_is_inferred_from_ts_and_defaults_to_60s() -> None:
    """A pod's first row covers one step: its own spacing, else the table's, else 60 s."""
    base = {"namespace": "a", "workload_kind": "Job", "workload_name": "j", "avg_power_w": math.nan}
    t30 = pd.DataFrame([{**base, "pod": "p", "ts": T0 + 30 * i, "energy_step_j": 60.0} for i in range(4)]
                       + [{**base, "pod": "q", "ts": T0, "energy_step_j": 30.0}])
    rows, report = normalise_labels(t30)
    assert report.step_s == 30.0
    assert rows.set_index("pod")["avg_power_w"].to_dict() == {"p": 2.0, "q": 1.0}
    lone = t30[t30["pod"] == "q"]
    rows, report = normalise_labels(lone)
    assert report.step_s == 60.0 and report.step_source.startswith("default")
    assert rows["avg_power_w"].tolist() == [0.5]


def test_measured_avg_power_is_used_when_present() -> None:
    labels = v1_window_labels()
    labels.loc[labels["pod"] == "cache-5d8f7b6c94-zv2kd", "avg_power_w"] = 7.0
    rows, _ = normalise_labels(labels)
    assert rows.set_index("pod").loc["cache-5d8f7b6c94-zv2kd", "avg_power_w"] == pytest.approx(7.0)


def test_this_projects_tables_pass_through() -> None:
    ours = pd.DataFrame({"namespace": ["a"], "workload_kind": ["Job"], "workload_name": ["j"], "pod": ["j-x"],
                         "duration_s": [60.0], "avg_power_w": [1.0], "energy_step_j": [60.0]})
    rows, report = normalise_labels(ours)
    assert rows is ours and report.shape == "project" and report.lines() == []


def test_too_few_workloads_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = v1_window_labels()
    labels = labels[labels["workload_name"].isin(["web", "idle"])]
    feats = tmp_path / "f.parquet"
    assert main(["encode", "fit", "--input", str(V1_REQUESTS), "--out", str(tmp_path / "enc.npz"),
                 "--features", str(feats)]) == 0
    labels.to_parquet(tmp_path / "l.parquet")
    assert main(["join", "--features", str(feats), "--labels", str(tmp_path / "l.parquet"),
                 "--out", str(tmp_path / "rows.parquet")]) == 0
    err = capsys.readouterr().err
    assert "matched: 1 workloads" in err
    assert "too few to train: 1 workload(s) matched; `train` needs at least 2" in err
    assert "shop/Deployment/api (no label rows)" in err
    assert "1 pod(s) dropped, every step NaN: shop/Deployment/idle" in err
    assert main(["train", "--train", str(tmp_path / "rows.parquet"), "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "1 workload(s) have a value for 'avg_power_w'; training needs at least 2" in err


def test_v1_data_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """v1 requests → encode → join with a v1 label table → train → predict: each training request
    predicts (k=1) the constant power its workload drew."""
    enc, model, feats, rows = (tmp_path / n for n in ("enc.npz", "model.npz", "f.parquet", "rows.parquet"))
    v1_window_labels().to_parquet(tmp_path / "kepler_labels.parquet", index=False)
    assert main(["encode", "fit", "--input", str(V1_REQUESTS), "--out", str(enc), "--features", str(feats)]) == 0
    assert main(["join", "--features", str(feats), "--labels", str(tmp_path / "kepler_labels.parquet"),
                 "--out", str(rows)]) == 0
    err = capsys.readouterr().err
    assert "matched: 6 workloads, 8 rows" in err
    assert "k8sPodPCP v1 window table" in err and "NaN steps skipped" in err
    assert "kube-system/DaemonSet/kindnet (no request with this identity in the features)" in err
    assert "shop/Deployment/idle (its label rows have no energy: every step NaN)" in err
    assert "dev/Pod/debug-shell (no label rows)" in err
    assert main(["train", "--train", str(rows), "--original", "--neighbors", "1", "--splits", "3",
                 "--encoder", str(enc), "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["predict", str(V1_REQUESTS), "--encoder", str(enc), "--model", str(model)]) == 0
    preds = {p["workload_name"]: p for p in map(json.loads, capsys.readouterr().out.splitlines())}
    assert len(preds) == 8
    for name, watts in POWER.items():
        assert preds[name]["pred_avg_power_w"] == pytest.approx(watts), name
        assert preds[name]["pred_energy_step_j"] == pytest.approx(watts * STEP_SECONDS)


def test_tuned_model_sees_one_row_per_workload_at_the_known_power(tmp_path: Path) -> None:
    """`train_tuned_model` (what `bootstrap` ships) on the same rows: its training table holds each
    workload's known power and duration."""
    from app.adapters.files import read_requests
    from app.ml.dataset import features_frame
    from app.pipelines.encoding import fit_encoder
    from app.pipelines.training import train_tuned_model
    from app.workloads.convert import complete_request

    reqs = [complete_request(r) for r in read_requests(V1_REQUESTS).requests]
    encoder = fit_encoder(reqs)
    rows, _ = join(features_frame(reqs, encoder.transform(reqs)), v1_window_labels())
    _, card, extras = train_tuned_model(rows, feature_names=list(encoder.feature_names_), n_splits=3)
    w = extras["training_workloads"]
    got = dict(zip(w["workload_name"], w["measured_avg_power_w"], strict=True))
    assert got == pytest.approx(POWER)
    assert card["groups"] == len(POWER)
    assert np.all(np.asarray(w["duration_s"]) > 0)


def test_odd_tables_are_read_or_refused_by_name() -> None:
    """Datetime `ts` is converted, a repeated (pod, ts) row dropped and counted; text `ts` or a missing
    identity column is an InputError naming the column."""
    from app.core.errors import InputError

    base = {"namespace": "a", "workload_kind": "Job", "workload_name": "j", "pod": "j-x", "avg_power_w": math.nan}
    t = pd.DataFrame([{**base, "ts": T0, "energy_step_j": math.nan}, {**base, "ts": T0 + 60, "energy_step_j": 120.0},
                      {**base, "ts": T0 + 60, "energy_step_j": 0.0}])
    rows, report = normalise_labels(t)
    assert rows["avg_power_w"].tolist() == [2.0] and report.duplicate_rows == 1
    as_dates = t.assign(ts=pd.to_datetime(t["ts"], unit="s"))
    assert normalise_labels(as_dates)[0]["avg_power_w"].tolist() == [2.0]
    with pytest.raises(InputError, match="column ts: 1 value"):
        normalise_labels(t.assign(ts=["now", "1", "2"]))
    with pytest.raises(InputError, match="needs column.*namespace"):
        normalise_labels(t.drop(columns=["namespace"]))


def test_train_reads_per_step_v1_rows_too() -> None:
    """Rows merged outside `join` (v1 steps + features) are read into per-pod rows by `train` itself."""
    from app.adapters.files import read_requests
    from app.ml.dataset import KEY, features_frame
    from app.pipelines.encoding import fit_encoder
    from app.pipelines.training import train_model
    from app.workloads.convert import complete_request

    reqs = [complete_request(r) for r in read_requests(V1_REQUESTS).requests]
    feats = features_frame(reqs, fit_encoder(reqs).transform(reqs))
    steps = v1_window_labels().merge(feats, on=KEY, how="inner")  # the api rows keep v1's RS name: no match
    model, card = train_model(steps, n_neighbors=1, n_splits=3)
    assert card["rows"] == 7 and card["groups"] == 5  # pods: web 2, cache, etl 2, report, trainer
    X = np.stack(feats.set_index("workload_name").loc[["web", "etl", "trainer"], "x"].to_numpy())
    assert model.predict(X) == pytest.approx([POWER["web"], POWER["etl"], POWER["trainer"]])
