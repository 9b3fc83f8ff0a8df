"""`python -m app diff` on the example pairs in example/diff/, against numbers computed from `predict`.

Why: the diff is what a PR gate trusts. The expectations here come from running the `predict`
command (NDJSON, the default artifacts) on every manifest of each side and subtracting by hand —
never from app.pipelines.diff — so a matching or summing mistake in the diff code shows up.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import main
from app.cli.render import MONTH_HOURS, sig
from tests.conftest import REPO

PAIRS = REPO / "example" / "diff"
GRID = 400.0


def call(capsys: pytest.CaptureFixture[str], *args: str, stdin: str | None = None,
         monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        import io

        assert monkeypatch is not None
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def predicted(capsys: pytest.CaptureFixture[str], side: Path) -> dict[tuple[str, str, str], dict]:
    """Every workload of a side via `predict` (one file at a time, as a user would), by identity."""
    out = {}
    for f in sorted(side.rglob("*.yaml")):
        code, text, _ = call(capsys, "predict", str(f), "--hours", str(MONTH_HOURS), "--grid-gco2-per-kwh",
                             str(GRID), "--format", "ndjson")
        assert code == 0
        for line in text.splitlines():
            p = json.loads(line)
            out[(p["namespace"], p["workload_kind"], p["workload_name"])] = p
    return out


def test_diff_matches_predict_on_the_example_pair(capsys: pytest.CaptureFixture[str]) -> None:
    base, head = predicted(capsys, PAIRS / "base"), predicted(capsys, PAIRS / "head")
    code, out, err = call(capsys, "diff", str(PAIRS / "base"), str(PAIRS / "head"), "--format", "json",
                          "--grid-gco2-per-kwh", str(GRID))
    assert code == 0, err
    doc = json.loads(out)
    got = {(c["namespace"], c["workload_kind"], c["workload_name"]): c for c in doc["changes"]}
    assert set(got) == set(base) | set(head)
    want_status = {("shop", "Deployment", "legacy-worker"): "removed", ("shop", "Deployment", "search"): "added",
                   ("shop", "Deployment", "web"): "changed", ("shop", "StatefulSet", "redis"): "changed",
                   ("monitoring", "DaemonSet", "node-exporter"): "unchanged"}
    assert {k: c["status"] for k, c in got.items()} == want_status
    total_w = total_kwh = total_g = 0.0
    for key, c in got.items():
        b, h = base.get(key), head.get(key)
        dw = (h["pred_power_w_total"] if h else 0.0) - (b["pred_power_w_total"] if b else 0.0)
        dkwh = (h["pred_energy_kwh"] if h else 0.0) - (b["pred_energy_kwh"] if b else 0.0)
        dg = (h["pred_co2_g"] if h else 0.0) - (b["pred_co2_g"] if b else 0.0)
        assert math.isclose(c["delta_power_w_all_replicas"]["value"], dw, rel_tol=1e-9, abs_tol=1e-12), key
        assert math.isclose(c["delta_energy_kwh"]["value"], dkwh, rel_tol=1e-9, abs_tol=1e-12), key
        assert math.isclose(c["delta_co2_g"]["value"], dg, rel_tol=1e-9, abs_tol=1e-12), key
        # interval of an added/removed workload is its own; of a changed one, the conservative bounds
        lo_h = h["pred_avg_power_w_low"] * h["replicas"] if h else 0.0
        hi_h = h["pred_avg_power_w_high"] * h["replicas"] if h else 0.0
        lo_b = b["pred_avg_power_w_low"] * b["replicas"] if b else 0.0
        hi_b = b["pred_avg_power_w_high"] * b["replicas"] if b else 0.0
        if c["status"] != "unchanged":
            assert math.isclose(c["delta_power_w_all_replicas"]["low"], lo_h - hi_b, rel_tol=1e-9), key
            assert math.isclose(c["delta_power_w_all_replicas"]["high"], hi_h - lo_b, rel_tol=1e-9), key
        total_w, total_kwh, total_g = total_w + dw, total_kwh + dkwh, total_g + dg
    base_w = sum(p["pred_power_w_total"] for p in base.values())
    assert math.isclose(doc["base_power_w_all_replicas"], base_w, rel_tol=1e-9)
    assert math.isclose(doc["head_power_w_all_replicas"], sum(p["pred_power_w_total"] for p in head.values()),
                        rel_tol=1e-9)
    assert math.isclose(doc["delta_power_w_all_replicas"]["value"], total_w, rel_tol=1e-9)
    assert math.isclose(doc["delta_energy_kwh"]["value"], total_kwh, rel_tol=1e-9)
    assert math.isclose(doc["delta_co2_g"]["value"], total_g, rel_tol=1e-9)
    assert math.isclose(doc["delta_percent"], 100 * total_w / base_w, rel_tol=1e-9)
    # a month of constant power: kWh = W × 730.5 h / 1000 for the long-running kinds
    assert math.isclose(total_kwh, total_w * MONTH_HOURS / 1000, rel_tol=1e-9)

    # the markdown PR comment shows the same totals, rounded to 3 significant digits
    code, md, _ = call(capsys, "diff", str(PAIRS / "base"), str(PAIRS / "head"), "--format", "markdown",
                       "--grid-gco2-per-kwh", str(GRID))
    assert code == 0
    assert md.startswith("### Power diff")
    assert f"+{sig(total_w)} W" in md and f"+{sig(total_kwh)} kWh/month" in md
    assert f"+{sig(total_g / 1000)} kg CO2e/month" in md and "400 gCO2e/kWh" in md
    assert "`Deployment shop/search`" in md and "`DaemonSet monitoring/node-exporter`" not in md
    assert "| + added |" in md and "| - removed |" in md and "1 unchanged" in md


def test_gates_exit_1_and_still_print(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("diff", str(PAIRS / "base"), str(PAIRS / "head"), "--format", "json")
    code, out, _ = call(capsys, *args)
    doc = json.loads(out)
    rise_w, rise_pct = doc["delta_power_w_all_replicas"]["value"], doc["delta_percent"]
    assert rise_w > 0
    code, out, err = call(capsys, *args, "--fail-above-watts", str(rise_w * 0.99))
    assert code == 1 and json.loads(out)["gate_failures"] and "--fail-above-watts" in err
    assert call(capsys, *args, "--fail-above-watts", str(rise_w * 1.01))[0] == 0
    code, _, err = call(capsys, *args, "--fail-above-percent", str(rise_pct * 0.99))
    assert code == 1 and "--fail-above-percent" in err
    assert call(capsys, *args, "--fail-above-percent", str(rise_pct * 1.01))[0] == 0
    # reversed, the change lowers the power: no gate trips
    assert call(capsys, "diff", str(PAIRS / "head"), str(PAIRS / "base"), "--fail-above-watts", "0")[0] == 0


def test_stdin_side_as_from_helm_template(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`helm template … | python -m app diff base/ -`: a multi-document stream equals the directory."""
    stream = "\n---\n".join(f.read_text() for f in sorted((PAIRS / "head").rglob("*.yaml")))
    _, from_dir, _ = call(capsys, "diff", str(PAIRS / "base"), str(PAIRS / "head"), "--format", "json")
    code, from_stdin, err = call(capsys, "diff", str(PAIRS / "base"), "-", "--format", "json", stdin=stream,
                                 monkeypatch=monkeypatch)
    assert code == 0, err
    a, b = json.loads(from_dir), json.loads(from_stdin)
    assert a["delta_power_w_all_replicas"] == b["delta_power_w_all_replicas"]
    assert [c["status"] for c in a["changes"]] == [c["status"] for c in b["changes"]]


def test_identical_sides_change_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "diff", str(PAIRS / "base"), str(PAIRS / "base"))
    assert code == 0 and "no workload changed" in out and "+0 W" not in out


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: str(d / "missing.yaml"), "file not found"),
    (lambda d: str(d), "no *.yaml"),
    (lambda d: (d / "bad.yaml").write_text("kind: Deployment\nmetadata: {name: x}\nspec: [1\n") and str(d / "bad.yaml"),
     "bad.yaml"),
    (lambda d: (d / "twice.yaml").write_text((PAIRS / "base" / "legacy-worker.yaml").read_text() + "\n---\n"
                                             + (PAIRS / "base" / "legacy-worker.yaml").read_text())
     and str(d / "twice.yaml"), "defined twice"),
])
def test_bad_input_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], make, expected: str) -> None:
    code, _, err = call(capsys, "diff", str(PAIRS / "base"), make(tmp_path))
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_both_sides_on_stdin_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "diff", "-", "-")
    assert code == 2 and "stdin" in err


def test_entry_point_exit_codes() -> None:
    """Through `python -m app` as CI runs it: exit 1 for a tripped gate, with the comment on stdout."""
    proc = subprocess.run([sys.executable, "-m", "app", "diff", "example/diff/base", "example/diff/head",
                           "--format", "markdown", "--fail-above-percent", "1"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout.startswith("### Power diff") and "gate failed" in proc.stderr


def test_interval_of_a_shared_per_pod_prediction_moves_together() -> None:
    """Same per-pod prediction on both sides (only the pod count differs): Δ bounds = Δpods × per-pod bounds,
    not the conservative difference of two independent intervals."""
    from app.core.schema import Prediction
    from app.pipelines.diff import _delta

    def pred(replicas: int) -> Prediction:
        return Prediction(namespace="ops", workload_kind="DaemonSet", workload_name="agent", spec_hash="h",
                          replicas=replicas, pred_avg_power_w=2.0, pred_energy_step_j=120.0,
                          pred_power_w_total=2.0 * replicas, model_version="m", pred_avg_power_w_low=1.0,
                          pred_avg_power_w_high=5.0, pred_power_w_per_pod=2.0,
                          pred_power_w_all_replicas=2.0 * replicas, pred_power_w_all_replicas_low=1.0 * replicas,
                          pred_power_w_all_replicas_high=5.0 * replicas)

    shared = _delta(pred(3), pred(5), "w", correlated=True)
    assert (shared.value, shared.low, shared.high) == (4.0, 2.0, 10.0)
    apart = _delta(pred(3), pred(5), "w", correlated=False)
    assert (apart.value, apart.low, apart.high) == (4.0, 5.0 - 15.0, 25.0 - 3.0)
