"""The comparison on a small seeded cluster: the tuned model meets its targets; the report is written."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from app.cli import main
from app.evaluation import Evaluation, evaluate
from app.tuning import feature_blocks
from tests.evaluation.conftest import Sim

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def ev(sim: Sim) -> Evaluation:
    return evaluate(sim.rows, blocks=feature_blocks(len(sim.feature_names), sim.feature_names), source="test")


def test_every_predictor_is_scored_on_the_same_held_out_rows(ev: Evaluation, sim: Sim) -> None:
    assert len(ev.oof) == len(sim.rows) and (ev.oof["fold"] >= 0).all()
    # no workload is in two folds
    assert (ev.oof.groupby(["namespace", "workload_kind", "workload_name"])["fold"].nunique() == 1).all()
    # the physics column is the prior, computed here from the documented coefficients for one row
    i = 0
    import json
    req = json.loads(sim.rows["request_json"].iloc[i])
    cpu = req.get("effective_req_cpu_mcpu") or req.get("effective_lim_cpu_mcpu") or 100.0
    mem = req.get("effective_req_mem_mib") or req.get("effective_lim_mem_mib") or 256.0
    expect = cpu / 1000 * 2.12 + mem * 2**20 / 1e9 * 0.392 + req.get("gpu_count", 0) * 100
    assert ev.oof["physics"].iloc[i] == pytest.approx(expect)


def test_tuned_knn_halves_the_original_median_ape(ev: Evaluation) -> None:
    y = ev.oof["measured"].to_numpy()

    def median_ape(col: str) -> float:
        return float(np.median(np.abs(ev.oof[col].to_numpy() - y) / y)) * 100

    assert median_ape("tuned_knn") <= 0.5 * median_ape("original_knn")
    assert ev.metrics["tuned_knn"]["median_ape"] == pytest.approx(median_ape("tuned_knn"))


def test_interval_coverage_on_held_out_workloads(ev: Evaluation) -> None:
    o = ev.oof
    inside = ((o["measured"] >= o["tuned_knn_low"]) & (o["measured"] <= o["tuned_knn_high"])).mean()
    assert abs(inside - 0.8) <= 0.05
    assert (o["tuned_knn_low"] <= o["tuned_knn"]).all() and (o["tuned_knn"] <= o["tuned_knn_high"]).all()


def test_report_files_and_plots(ev: Evaluation, tmp_path: Path) -> None:
    from app.report import write_report

    paths = write_report(ev, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| original KNN" in text and "coverage" in text
    for name in ("pred_vs_measured", "error_by_kind", "interval_coverage"):
        png = paths[name]
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        img = matplotlib.image.imread(png)
        assert img.shape[0] > 200 and img.shape[1] > 400 and img.std() > 0  # a drawn picture, not blank
        assert png.name in text


def test_cli_evaluate_on_a_training_rows_file(sim: Sim, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train = tmp_path / "train.parquet"
    sim.rows.to_parquet(train)
    assert main(["evaluate", "--train", str(train), "--out", str(tmp_path / "r"), "--splits", "3"]) == 0
    assert (tmp_path / "r" / "report.md").exists()
    assert "tuned/original median APE" in capsys.readouterr().err


def test_cli_evaluate_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "rows.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["evaluate", "--train", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "rows.csv" in err[-1] and "column" in err[-1]
