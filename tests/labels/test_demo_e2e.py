"""The documented end-to-end script on a small simulated cluster, against the real Prometheus."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest

from tests.conftest import REPO, need_binary

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def test_demo_e2e_script(tmp_path) -> None:  # type: ignore[no-untyped-def]
    need_binary("prometheus", "apt-get install prometheus")
    need_binary("promtool", "apt-get install prometheus")
    out = tmp_path / "e2e"
    proc = subprocess.run(["bash", str(REPO / "scripts" / "demo_e2e.sh"), str(out), "10", "1"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    truth = pd.read_parquet(out / "ground_truth.parquet")
    labels = pd.read_parquet(out / "labels.parquet")
    m = labels.merge(truth, on=["namespace", "pod"], suffixes=("", "_truth"))
    assert len(m) == len(truth) == len(labels)
    rel = (m["total_energy_j"] - m["package_dynamic_j"]).abs() / m["package_dynamic_j"]
    assert rel.max() < 0.01  # auto-detected Kepler 0.10, zone package
    train = pd.read_parquet(out / "train.parquet")
    assert train[["namespace", "workload_kind", "workload_name"]].drop_duplicates().shape[0] == \
        truth[["namespace", "workload_kind", "workload_name"]].drop_duplicates().shape[0]
    preds = [json.loads(line) for line in (out / "predictions.ndjson").read_text().splitlines()]
    assert {(p["namespace"], p["workload_name"]) for p in preds} == \
        set(truth[["namespace", "workload_name"]].itertuples(index=False, name=None))
    assert all(p["pred_avg_power_w"] > 0 for p in preds)
    assert "detected Kepler schema: 0.10" in proc.stderr
