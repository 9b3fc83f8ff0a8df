"""CLI: every command has help; bad input ends with one line on stderr and exit code 2."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.main import build_parser, main
from tests.conftest import EXAMPLES, REPO


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=REPO,
                          input=stdin, timeout=120)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The same CLI in-process (fast), for the many error-path cases."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _subcommands(parser) -> list[list[str]]:
    out = []
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                out.append([name])
                out += [[name, *rest] for rest in _subcommands(sub)]
    return out


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _subcommands(build_parser())
    assert ["collect", "from-file"] in commands and ["train"] in commands and ["encode", "fit"] in commands
    for cmd in commands:
        with pytest.raises(SystemExit) as exc:
            main([*cmd, "--help"])
        assert exc.value.code == 0
        assert "usage: python -m app " + " ".join(cmd) in capsys.readouterr().out


def test_collect_from_file_prints_effective_resources() -> None:
    proc = run("collect", "from-file", str(EXAMPLES / "deployment-multi.yaml"))
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.splitlines()
    req = json.loads(line)
    assert req["effective_req_cpu_mcpu"] == 4000
    assert round(req["effective_req_mem_mib"], 2) == round(90e9 / 2**20 + 64 + 128, 2)


def test_collect_from_stdin_and_skips_reported() -> None:
    proc = run("collect", "from-file", "-", stdin=(EXAMPLES / "list-mixed.yaml").read_text())
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 2
    assert "<stdin>: document 3: skipped: Service is not a workload" in proc.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "missing.yaml: file not found"),
        ("kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{name: a, resources: "
         "{requests: {memory: 12xyz}}}]}}}\n",
         "bad.yaml: document 1 (Deployment default/x): spec.template.spec.containers[0].resources.requests.memory: "
         "invalid quantity '12xyz'"),
        ("a: [1, 2\n", "bad.yaml: document 1: invalid YAML"),
        ("just a string\n", "bad.yaml: document 1: expected a Kubernetes object"),
        # audit 2026-12-01: a traceback, a pydantic dump, and an infinite request written back as "unset"
        ("[" * 100_000 + "\n", "bad.yaml: document 1: YAML nested deeper than"),
        ('{"a":' * 3000 + "1" + "}" * 3000 + "\n", "bad.yaml: document 1: YAML nested deeper than"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: " + "i" * 1025 + "}]}\n",
         "bad.yaml: document 1 (Pod default/p): spec.containers[0].image: String should have at most 1024 characters"),
        ('{"workload_kind":"Pod","workload_name":"p","containers":[{"name":"a","req_cpu_mcpu":1e400}]}\n',
         "bad.yaml: document 1 (Pod default/p): containers[0].req_cpu_mcpu: inf is out of range"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path: Path, content: str | None, expected: str,
                                   tiny_artifacts: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    name = "missing.yaml" if content is None else "bad.yaml"
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    enc, model = tiny_artifacts
    predict = ["predict", str(path), "--encoder", str(enc), "--model", str(model)]
    for cmd in (["collect", "from-file", str(path)], predict):
        code, _, err = call(capsys, *cmd)
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert expected in lines[0].replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(("content", "expected"), [
    ("", "bad.yaml: no Kubernetes object in the YAML"),
    ("---\n" * 10_000, "bad.yaml: no Kubernetes object in the YAML"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
     "bad.yaml: no workload to predict for (document 1: Service is not a workload)"),
])
def test_predict_with_nothing_to_predict_says_so(tmp_path: Path, content: str, expected: str,
                                                 tiny_artifacts: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """As the API answers 422: an empty answer with exit 0 looked like success (audit 2026-12-01)."""
    (tmp_path / "bad.yaml").write_text(content)
    enc, model = tiny_artifacts
    code, out, err = call(capsys, "predict", str(tmp_path / "bad.yaml"), "--encoder", str(enc), "--model", str(model))
    assert (code, out) == (2, "")
    assert err.strip().replace(str(tmp_path) + "/", "") == f"error: {expected}"


def test_bad_input_through_the_real_entry_point(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, resources: "
                                       "{limits: {cpu: 12xyz}}}]}\n")
    proc = run("collect", "from-file", str(tmp_path / "bad.yaml"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith("spec.containers[0].resources.limits.cpu: invalid quantity '12xyz'")


def test_predict_with_missing_artifact_is_a_clear_error(
    tmp_path: Path, tiny_artifacts: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = call(capsys, "predict", str(EXAMPLES / "pod-guaranteed.yaml"), "--encoder", str(tiny_artifacts[0]),
                        "--model", str(tmp_path / "nope.npz"))
    assert code == 2
    assert err.strip() == f"error: {tmp_path / 'nope.npz'}: file not found"


def test_train_with_missing_rows_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "train", "--train", str(tmp_path / "rows.parquet"))
    assert code == 2 and "rows.parquet: file not found" in err


def test_pipeline_end_to_end_on_examples(tmp_path: Path) -> None:
    """encode fit → join (labels written here) → train → predict, through the CLI."""
    import pandas as pd

    from app.adapters.files import read_requests
    from app.workloads.convert import complete_request

    manifests = tmp_path / "all.yaml"
    manifests.write_text("\n---\n".join(p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))))
    reqs = [complete_request(r) for r in read_requests(manifests).requests]
    power = {r.workload_name: 5.0 + (r.effective_req_cpu_mcpu or 0) / 100 for r in reqs}
    pd.DataFrame([
        {"namespace": r.namespace, "workload_kind": r.workload_kind, "workload_name": r.workload_name,
         "pod": f"{r.workload_name}-{i}", "avg_power_w": power[r.workload_name]}
        for r in reqs for i in range(2)
    ]).to_parquet(tmp_path / "labels.parquet")
    enc, model = tmp_path / "enc.npz", tmp_path / "model.npz"
    assert run("encode", "fit", "--input", str(manifests), "--out", str(enc),
               "--features", str(tmp_path / "f.parquet")).returncode == 0
    j = run("join", "--features", str(tmp_path / "f.parquet"), "--labels", str(tmp_path / "labels.parquet"),
            "--out", str(tmp_path / "rows.parquet"))
    assert j.returncode == 0, j.stderr
    assert f"matched: {len(reqs)} workloads, {2 * len(reqs)} rows" in j.stderr
    t = run("train", "--train", str(tmp_path / "rows.parquet"), "--original", "--neighbors", "1", "--splits", "3",
            "--out", str(model), "--encoder", str(enc))
    assert t.returncode == 0, t.stderr
    card = json.loads((tmp_path / "model.card.json").read_text())
    assert card["target"] == "avg_power_w" and card["groups"] == len(reqs) and card["cv"]["n_splits"] == 3
    assert card["artifacts"]["encoder"]["sha256"] == hashlib.sha256(enc.read_bytes()).hexdigest()
    assert card["artifacts"]["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    p = run("predict", str(manifests), "--encoder", str(enc), "--model", str(model))
    assert p.returncode == 0, p.stderr
    preds = [json.loads(line) for line in p.stdout.splitlines()]
    # k=1 on a training spec returns that spec's own label
    for pred in preds:
        assert pred["pred_avg_power_w"] == pytest.approx(power[pred["workload_name"]])
        assert pred["pred_energy_step_j"] == pytest.approx(60 * pred["pred_avg_power_w"])
        assert pred["pred_power_w_total"] == pytest.approx(pred["replicas"] * pred["pred_avg_power_w"])


def test_train_defaults_to_the_model_bootstrap_ships(tmp_path: Path) -> None:
    """`train` without --original fits the tuned model with intervals, as `bootstrap` does."""
    import pandas as pd

    manifests = tmp_path / "all.yaml"
    manifests.write_text("\n---\n".join(p.read_text() for p in sorted(EXAMPLES.glob("*.yaml"))))
    enc, model = tmp_path / "enc.npz", tmp_path / "model.npz"
    assert run("encode", "fit", "--input", str(manifests), "--out", str(enc),
               "--features", str(tmp_path / "f.parquet")).returncode == 0
    feats = pd.read_parquet(tmp_path / "f.parquet")
    labels = feats[["namespace", "workload_kind", "workload_name"]].copy()
    labels["pod"] = labels["workload_name"] + "-0"
    labels["avg_power_w"] = [2.0 + i for i in range(len(labels))]
    labels.to_parquet(tmp_path / "labels.parquet")
    assert run("join", "--features", str(tmp_path / "f.parquet"), "--labels", str(tmp_path / "labels.parquet"),
               "--out", str(tmp_path / "rows.parquet")).returncode == 0
    t = run("train", "--train", str(tmp_path / "rows.parquet"), "--encoder", str(enc), "--splits", "3",
            "--out", str(model))
    assert t.returncode == 0, t.stderr
    card = json.loads((tmp_path / "model.card.json").read_text())
    shipped = json.loads((REPO / "artifacts" / "knn_energy.card.json").read_text())
    assert card["model"] == shipped["model"] and card["model_version"].startswith("tknn-")
    p = run("predict", str(manifests), "--encoder", str(enc), "--model", str(model))
    assert p.returncode == 0, p.stderr
    for pred in map(json.loads, p.stdout.splitlines()):
        assert pred["pred_avg_power_w_low"] <= pred["pred_avg_power_w"] <= pred["pred_avg_power_w_high"]


def test_join_reports_when_nothing_matches(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"namespace": ["a"], "workload_kind": ["Deployment"], "workload_name": ["x"],
                  "x": [[0.0]]}).to_parquet(tmp_path / "f.parquet")
    pd.DataFrame({"namespace": ["a"], "workload_kind": ["ReplicaSet"], "workload_name": ["x-5d8f"],
                  "avg_power_w": [1.0]}).to_parquet(tmp_path / "l.parquet")
    proc = run("join", "--features", str(tmp_path / "f.parquet"), "--labels", str(tmp_path / "l.parquet"),
               "--out", str(tmp_path / "o.parquet"))
    assert proc.returncode == 2
    assert "labels with no features (1): a/ReplicaSet/x-5d8f" in proc.stderr
    assert "nothing matched" in proc.stderr


def test_predict_reads_a_pretty_printed_json_request(capsys: pytest.CaptureFixture[str], tiny_artifacts) -> None:
    enc, model = tiny_artifacts
    code, out, err = call(capsys, "predict", str(EXAMPLES / "request.json"), "--encoder", str(enc),
                          "--model", str(model))
    assert code == 0, err
    (pred,) = [json.loads(line) for line in out.splitlines()]
    assert (pred["workload_name"], pred["replicas"]) == ("checkout", 2)


def test_json_request_with_a_bad_field_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.json").write_text('[{"workload_kind": "Pod", "workload_name": "p",\n'
                                     ' "containers": [{"name": "c", "req_cpu_mcpu": -5}]}]')
    code, _, err = call(capsys, "collect", "from-file", str(tmp_path / "r.json"))
    assert code == 2
    assert "r.json: document 1: containers.0.req_cpu_mcpu: Input should be greater than or equal to 0" in err
