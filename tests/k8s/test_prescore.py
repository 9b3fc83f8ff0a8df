"""The prescore CronJob's shell pipeline, run for real: its exact command from the YAML under bash,
`kubectl` replaced by a script that prints a `kubectl get deploy -o yaml` Deployment (status,
managedFields, resourceVersion), the real `curl`, and the real API server on a loopback port (started
through the image's entrypoint, with the `tiny_artifacts` pair mounted where it looks for them).

The HEALTHCHECK command of the Dockerfile is run against the same server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.serving.predictor import Predictor
from app.workloads.convert import requests_from_yaml
from tests.conftest import EXAMPLES, REPO, free_port, need_binary
from tests.k8s.manifests import container_env, find
from tests.k8s.test_dockerfile import ENTRYPOINT, clean_env, healthcheck_argv
from tests.processes import running

pytestmark = pytest.mark.server

# The user's workflow, verbatim: the CronJob must run exactly this.
EXPECTED_PIPELINE = (
    'kubectl get deploy "$TARGET_DEPLOYMENT" -n "$TARGET_NAMESPACE" -o yaml'
    " | curl -sS --fail-with-body -X POST http://podpower-predict.podpower.svc.cluster.local:8000/predict/from-yaml"
    " -H 'Content-Type: text/plain' --data-binary @-"
)
SERVICE = "http://podpower-predict.podpower.svc.cluster.local:8000"
KUBECTL_OUTPUT = EXAMPLES / "kubectl-get-deployment.yaml"

FAKE_KUBECTL = '''#!{python}
"""Stand-in for `kubectl get deploy NAME -n NS -o yaml`: prints {example} as that Deployment."""
import json, pathlib, sys, yaml
pathlib.Path({log!r}).open("a").write(json.dumps(sys.argv[1:]) + "\\n")
args = sys.argv[1:]
if len(args) != 7 or args[:2] != ["get", "deploy"] or args[3] != "-n" or args[5:] != ["-o", "yaml"]:
    sys.exit("fake kubectl: unexpected arguments " + repr(args))
name, ns = args[2], args[4]
if name == "missing":
    sys.exit('Error from server (NotFound): deployments.apps "missing" not found')
obj = yaml.safe_load(pathlib.Path({example!r}).read_text())
obj["metadata"]["name"], obj["metadata"]["namespace"] = name, ns
sys.stdout.write(yaml.safe_dump(obj, sort_keys=False))
'''


def cronjob_container() -> dict[str, Any]:
    cron = find("CronJob", "podpower-prescore").obj
    assert cron["spec"]["schedule"] == "*/10 * * * *"
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return container


def pipeline_from_yaml() -> str:
    container = cronjob_container()
    assert container["command"] == ["/bin/sh", "-c"]
    (script,) = container["args"]
    return str(script)


def test_the_cronjob_runs_exactly_the_users_pipeline() -> None:
    assert pipeline_from_yaml() == EXPECTED_PIPELINE
    env = container_env(cronjob_container())
    assert env["TARGET_DEPLOYMENT"] and env["TARGET_NAMESPACE"]


@pytest.fixture(scope="module")
def api(tiny_artifacts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m app serve` behind docker/entrypoint.sh, artifacts found at ARTIFACTS_DIR like at /artifacts."""
    sh = need_binary("sh", "apt-get install dash")
    enc, model = tiny_artifacts
    assert enc.parent == model.parent and (enc.name, model.name) == ("encoder.npz", "knn_energy.npz")
    port = free_port()
    log = tmp_path_factory.mktemp("api") / "server.log"
    base = f"http://127.0.0.1:{port}"
    cmd = [sh, str(ENTRYPOINT), sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--no-access-log"]
    with running(cmd, f"{base}/readyz", log, env=clean_env(ARTIFACTS_DIR=str(enc.parent)), cwd=REPO):
        yield base


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=sys.executable, example=str(KUBECTL_OUTPUT),
                                           log=str(tmp_path / "kubectl.log")))
    kubectl.chmod(0o755)
    return bin_dir


def run_pipeline(api: str, fake_bin: Path, deployment: str, namespace: str) -> subprocess.CompletedProcess[str]:
    bash = need_binary("bash", "apt-get install bash")
    curl = need_binary("curl", "apt-get install curl")
    script = pipeline_from_yaml()
    assert script.count(SERVICE) == 1
    script = script.replace(SERVICE, api)  # the cluster DNS name → the loopback server
    env = {"PATH": f"{fake_bin}{os.pathsep}{Path(curl).parent}{os.pathsep}/usr/bin:/bin",
           "TARGET_DEPLOYMENT": deployment, "TARGET_NAMESPACE": namespace, "HOME": str(fake_bin.parent)}
    return subprocess.run([bash, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def kubectl_calls(fake_bin: Path) -> list[list[str]]:
    lines = (fake_bin.parent / "kubectl.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_pipeline_returns_one_prediction_for_the_target(api: str, fake_bin: Path,
                                                        tiny_artifacts: tuple[Path, Path]) -> None:
    env = container_env(cronjob_container())
    name, ns = env["TARGET_DEPLOYMENT"], env["TARGET_NAMESPACE"]
    run = run_pipeline(api, fake_bin, name, ns)
    assert run.returncode == 0, run.stderr + run.stdout
    assert kubectl_calls(fake_bin) == [["get", "deploy", name, "-n", ns, "-o", "yaml"]]
    body = json.loads(run.stdout)
    assert isinstance(body, dict) and "predictions" not in body, "one Deployment → one Prediction object"
    assert (body["workload_kind"], body["namespace"], body["workload_name"]) == ("Deployment", ns, name)
    replicas = yaml.safe_load(KUBECTL_OUTPUT.read_text())["spec"]["replicas"]
    assert body["replicas"] == replicas == 4
    assert body["pred_avg_power_w"] > 0
    assert body["pred_power_w_total"] == pytest.approx(body["pred_avg_power_w"] * replicas)

    # the same spec, predicted in-process with the same artifacts
    obj = yaml.safe_load(KUBECTL_OUTPUT.read_text())
    obj["metadata"]["name"], obj["metadata"]["namespace"] = name, ns
    (req,) = requests_from_yaml(yaml.safe_dump(obj), "expected").requests
    expected = Predictor.load(*tiny_artifacts).predict(req)
    assert body["spec_hash"] == expected.spec_hash
    assert body["model_version"] == expected.model_version
    assert body["pred_avg_power_w"] == pytest.approx(expected.pred_avg_power_w, rel=1e-9)
    assert body["pred_energy_step_j"] == pytest.approx(expected.pred_energy_step_j, rel=1e-9)


def test_pipeline_value_matches_the_label_formula(api: str, fake_bin: Path) -> None:
    """Pointed at shop/frontend, the fake prints the example unchanged: the tiny model (k=1) was trained on it,
    so the answer is its label — 1 W + 0.5 W/GiB of the 250Mi memory request (defaulted from the limit)."""
    run = run_pipeline(api, fake_bin, "frontend", "shop")
    assert run.returncode == 0, run.stderr + run.stdout
    body = json.loads(run.stdout)
    assert body["pred_avg_power_w"] == pytest.approx(1.0 + 0.5 * 250 / 1024, rel=1e-6)
    assert body["pred_energy_step_j"] == pytest.approx(body["pred_avg_power_w"] * 60, rel=1e-6)


def test_pipeline_fails_loudly_when_kubectl_fails(api: str, fake_bin: Path) -> None:
    """kubectl prints nothing on stdout → the API answers 422 → curl --fail-with-body exits 22, body shown."""
    run = run_pipeline(api, fake_bin, "missing", "default")
    assert run.returncode == 22, run.stderr + run.stdout
    assert "NotFound" in run.stderr
    assert "detail" in json.loads(run.stdout)


def test_healthcheck_command_against_the_server(api: str) -> None:
    argv = healthcheck_argv()
    assert argv[0] == "python"
    port = api.rsplit(":", 1)[1]
    code = argv[2].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    closed = argv[2].replace("127.0.0.1:8000", f"127.0.0.1:{free_port()}")
    down = subprocess.run([sys.executable, "-c", closed], capture_output=True, text=True, timeout=30)
    assert down.returncode != 0
