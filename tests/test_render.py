"""`predict --format`, the per-pod/all-replica fields, `--nodes` for DaemonSets and the hours basis.

Why: a human reads the table, scripts read NDJSON; both must say the same thing, a per-pod watt must
never pass for a workload's, and a Job's energy must say it covers one run, not the hours asked for.
Expectations are computed here from the NDJSON fields (and 3-significant-digit rounding by hand).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from app.cli.main import main
from app.cli.render import MONTH_HOURS, sig
from tests.conftest import EXAMPLES, REPO


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def ndjson(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = call(capsys, "predict", *args, "--format", "ndjson")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize(("x", "want"), [
    (0.0, "0"), (1234.5, "1230"), (0.012345, "0.0123"), (9.996, "10.0"), (99.96, "100"), (-0.5, "-0.500"),
    (142.46, "142"), (1.0, "1.00"), (3.0e-6, "3.00e-06"), (None, "–"), (123456.0, "123000"),
])
def test_three_significant_digits(x: float | None, want: str) -> None:
    assert sig(x) == want


def test_new_fields_name_per_pod_and_all_replicas(capsys: pytest.CaptureFixture[str]) -> None:
    for p in ndjson(capsys, str(EXAMPLES / "list-mixed.yaml"), "--hours", "24", "--grid-gco2-per-kwh", "400"):
        assert p["pred_power_w_per_pod"] == p["pred_avg_power_w"]
        assert p["pred_power_w_all_replicas"] == p["pred_power_w_total"]
        assert math.isclose(p["pred_power_w_all_replicas_low"], p["pred_avg_power_w_low"] * p["replicas"])
        assert math.isclose(p["pred_power_w_all_replicas_high"], p["pred_avg_power_w_high"] * p["replicas"])
        assert p["pred_energy_kwh_all_replicas"] == p["pred_energy_kwh"]
        assert p["pred_energy_j_all_replicas"] == p["pred_energy_j"]
        assert p["pred_co2_g_all_replicas"] == p["pred_co2_g"] and p["grid_gco2_per_kwh"] == 400
        assert p["hours_requested"] == 24 and p["hours_basis"] == "horizon" and p["hours"] == 24
        ratio = p["pred_avg_power_w_low"] / p["pred_avg_power_w"]
        assert math.isclose(p["pred_energy_kwh_all_replicas_low"], p["pred_energy_kwh"] * ratio)
        assert math.isclose(p["pred_co2_g_all_replicas_high"],
                            p["pred_co2_g"] * p["pred_avg_power_w_high"] / p["pred_avg_power_w"])


def test_job_reports_per_run_hours(capsys: pytest.CaptureFixture[str]) -> None:
    (job,) = ndjson(capsys, str(EXAMPLES / "job-gpu-training.yaml"), "--hours", "24")
    assert job["hours_requested"] == 24 and job["hours_basis"] == "per-run" and job["hours"] != 24
    (cron,) = ndjson(capsys, str(EXAMPLES / "cronjob-backup.yaml"), "--hours", "24")
    assert cron["hours_basis"] == "schedule" and cron["hours"] == 24


def test_nodes_scale_a_daemonset_only(capsys: pytest.CaptureFixture[str]) -> None:
    one = {p["workload_kind"]: p for p in ndjson(capsys, str(EXAMPLES / "list-mixed.yaml"), "--hours", "24")}
    five = {p["workload_kind"]: p for p in ndjson(capsys, str(EXAMPLES / "list-mixed.yaml"), "--hours", "24",
                                                  "--nodes", "5")}
    ds1, ds5 = one["DaemonSet"], five["DaemonSet"]
    assert ds1["replicas"] == 1 and ds5["replicas"] == 5
    assert ds5["pred_power_w_per_pod"] == ds1["pred_power_w_per_pod"]  # the node count is not a feature
    assert math.isclose(ds5["pred_power_w_all_replicas"], 5 * ds1["pred_power_w_per_pod"])
    assert math.isclose(ds5["pred_energy_kwh"], 5 * ds1["pred_energy_kwh"])
    assert five["StatefulSet"] == {**one["StatefulSet"], "model_version": five["StatefulSet"]["model_version"]}
    code, _, err = call(capsys, "predict", str(EXAMPLES / "list-mixed.yaml"), "--nodes", "-1")
    assert code == 2 and "nodes" in err


def test_table_and_markdown_show_the_ndjson_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    src = str(EXAMPLES / "list-mixed.yaml")
    preds = ndjson(capsys, src, "--hours", str(MONTH_HOURS), "--grid-gco2-per-kwh", "400", "--nodes", "3")
    for fmt in ("table", "markdown"):
        code, out, _ = call(capsys, "predict", src, "--format", fmt, "--grid-gco2-per-kwh", "400", "--nodes", "3")
        assert code == 0
        assert "kWh/month" in out and "kg CO2e/month" in out and "400 gCO2e/kWh" in out
        for p in preds:
            row = next(line for line in out.splitlines() if p["workload_name"] in line)
            for cell in (sig(p["pred_power_w_per_pod"]), sig(p["pred_avg_power_w_low"]),
                         sig(p["pred_avg_power_w_high"]), sig(p["pred_power_w_total"]), sig(p["pred_energy_kwh"]),
                         sig(p["pred_co2_g"] / 1000)):
                assert cell in row, (fmt, cell, row)
            assert ("OOD" in row) == p["out_of_distribution"]
        total = next(line for line in out.splitlines() if line.strip("| ").startswith("total "))
        assert sig(sum(p["pred_power_w_total"] for p in preds)) in total
    assert out.splitlines()[1].startswith("| --- | ---: |")


def test_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "predict", str(EXAMPLES / "list-mixed.yaml"), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and len(doc["predictions"]) == 2 and doc["skipped"][0]["kind"] == "Service"
    assert math.isclose(doc["pred_power_w_total"], sum(p["pred_power_w_total"] for p in doc["predictions"]))


def test_no_grid_intensity_says_so(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRID_GCO2_PER_KWH", raising=False)
    code, out, _ = call(capsys, "predict", str(EXAMPLES / "pod-guaranteed.yaml"), "--format", "table",
                        "--grid-gco2-per-kwh", "0")
    assert code == 0 and "0 gCO2e/kWh" in out


def test_pipes_get_ndjson_by_default() -> None:
    """Existing scripts (`predict f | jq`) keep NDJSON: stdout is not a terminal."""
    proc = subprocess.run([sys.executable, "-m", "app", "predict", str(EXAMPLES / "pod-guaranteed.yaml")], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    (line,) = proc.stdout.splitlines()
    assert json.loads(line)["workload_kind"] == "Pod" and "hours" not in json.loads(line)


def test_terminal_gets_a_table() -> None:
    """On a terminal (a pty, as a person runs it) the default is the table."""
    import os
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # child: the real entry point, stdout a terminal
        os.chdir(REPO)
        os.execv(sys.executable, [sys.executable, "-m", "app", "predict", str(EXAMPLES / "pod-guaranteed.yaml")])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode()
    assert "W per pod (interval)" in text and "kWh/month" in text
