"""`trace predict`: the replayed workloads priced with the model over time."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app.cli.main import main
from app.serving.predictor import Predictor
from app.workloads.convert import request_from_object
from tests.history.test_trace_csv import T, write_fixture

# pods per replayed Deployment after each timestamp, by hand from the CSV fixture
STATES = {
    0: {"report-1": 1, "db": 1, "web": 2},
    60: {"report-1": 1, "db": 1, "web": 2, "api": 1},
    120: {"report-1": 1, "db": 1, "web": 1, "api": 1, "debug": 1},
    180: {"db": 1, "web": 1, "debug": 1},
}


def test_trace_predict(tmp_path: Path, tiny_artifacts: tuple[Path, Path]) -> None:
    enc, model = tiny_artifacts
    exports = tmp_path / "exports"
    exports.mkdir()
    write_fixture(exports)
    assert main(["trace", "--csv-dir", str(exports), "--out", str(tmp_path / "trace")]) == 0
    out = tmp_path / "priced"
    assert main(["trace", "predict", "--trace", str(tmp_path / "trace"), "--out", str(out), "--encoder", str(enc),
                 "--model", str(model)]) == 0
    per = pd.read_parquet(out / "power_by_workload.parquet")
    total = pd.read_parquet(out / "power_total.parquet")
    assert (out / "power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    got = {int(t - T): dict(zip(d["replay_name"], d["pods"], strict=True)) for t, d in per.groupby("timestamp")}
    assert got == STATES

    # per-pod watts are the model's prediction for the Deployment object last applied for that workload
    replay = json.loads((tmp_path / "trace" / "replay.json").read_text())
    predictor = Predictor.load(enc, model)
    objs = {o["metadata"]["name"]: o for o in replay["setup"] if o["kind"] == "Deployment"}
    for step in replay["steps"]:
        if step["offset_s"] <= 120:
            objs.update({o["metadata"]["name"]: o for o in step["apply"]})
    at_120 = per[per["timestamp"] == T + 120].set_index("replay_name")
    for name, obj in objs.items():
        want = predictor.predict(request_from_object(obj)).pred_avg_power_w
        assert at_120.loc[name, "power_w_per_pod"] == pytest.approx(want)
        assert at_120.loc[name, "power_w"] == pytest.approx(want * STATES[120][name])

    # the total is the sum over workloads; energy holds each total until the next timestamp
    sums = per.groupby("timestamp")["power_w"].sum()
    assert total["power_w"].tolist() == pytest.approx(sums.loc[total["timestamp"]].tolist())
    assert total["energy_j"].sum() == pytest.approx(60 * sums.loc[[T, T + 60, T + 120]].sum())


def test_trace_predict_bad_replay(tmp_path: Path, tiny_artifacts: tuple[Path, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "replay.json"
    bad.write_text('{"kind": "Deployment"}')
    enc, model = tiny_artifacts
    rc = main(["trace", "predict", "--trace", str(bad), "--out", str(tmp_path / "o"), "--encoder", str(enc),
               "--model", str(model)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "replay.json" in err and "TraceReplay" in err


def test_trace_without_input_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace"]) == 2
    assert "--csv-dir" in capsys.readouterr().err
