"""The manifests hang together: names, one image, hardened pods, the API's probes and volumes, and a
pipeline whose steps read what the previous step wrote — with every `python -m app …` command line
parsed by the real CLI parser, so a renamed flag breaks this test rather than a Job in a cluster.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from app.cli.main import build_parser
from tests.conftest import REPO, need, need_binary
from tests.k8s.manifests import (
    IMAGE_UID,
    K8S,
    app_argv,
    config_data,
    containers,
    find,
    k8s_docs,
    pod_spec,
    workloads,
)

PRESCORE_IMAGE_PREFIX = "alpine/k8s:"
SERVICE_URL = "http://podpower-predict.podpower.svc.cluster.local:8000"

EXPECTED_OBJECTS = {
    ("Namespace", "podpower"),
    ("ConfigMap", "podpower-config"),
    ("ConfigMap", "podpower-grafana-dashboard"),
    ("PersistentVolumeClaim", "podpower-data"),
    ("ServiceAccount", "podpower-collector"),
    ("ServiceAccount", "podpower-predict"),
    ("ServiceAccount", "podpower-pipeline"),
    ("ServiceAccount", "podpower-prescore"),
    ("ClusterRole", "podpower-collector"),
    ("ClusterRoleBinding", "podpower-collector"),
    ("Role", "podpower-prescore"),
    ("RoleBinding", "podpower-prescore"),
    ("Job", "podpower-collect"),
    ("Job", "podpower-encode"),
    ("Job", "podpower-labels"),
    ("Job", "podpower-join"),
    ("Job", "podpower-train"),
    ("Deployment", "podpower-predict"),
    ("Service", "podpower-predict"),
    ("HorizontalPodAutoscaler", "podpower-predict"),
    ("PodDisruptionBudget", "podpower-predict"),
    ("Deployment", "podpower-collector"),
    ("CronJob", "podpower-prescore"),
    ("CronJob", "podpower-retrain"),
    ("ServiceAccount", "podpower-webhook"),
    ("ClusterRole", "podpower-webhook"),
    ("ClusterRoleBinding", "podpower-webhook"),
    ("Deployment", "podpower-webhook"),
    ("Service", "podpower-webhook"),
    ("MutatingWebhookConfiguration", "podpower-webhook"),
    ("ValidatingWebhookConfiguration", "podpower-webhook"),
    ("Issuer", "podpower-webhook-selfsigned"),  # k8s/cert-manager/
    ("Certificate", "podpower-webhook"),
    ("ServiceMonitor", "podpower-predict"),
    ("PrometheusRule", "podpower-predict"),
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration",
                  "ValidatingWebhookConfiguration"}
PIPELINE_JOBS = ["podpower-collect", "podpower-encode", "podpower-labels", "podpower-join", "podpower-train"]


def test_the_objects_and_their_names() -> None:
    docs = k8s_docs()
    assert [(d.kind, d.name) for d in docs if (d.kind, d.name) not in EXPECTED_OBJECTS] == []
    assert {(d.kind, d.name) for d in docs} == EXPECTED_OBJECTS
    assert len(docs) == len(EXPECTED_OBJECTS), "an object is defined twice"
    for d in docs:
        if d.kind in CLUSTER_SCOPED:
            assert d.namespace is None, str(d)
        elif d.name == "podpower-prescore" and d.kind in ("Role", "RoleBinding"):
            assert d.namespace, f"{d}: lives in the target namespace"
        else:
            assert d.namespace == "podpower", str(d)


def test_files_apply_in_order_of_their_numbers() -> None:
    """Namespace, config, storage and RBAC come before anything that uses them; jobs in pipeline order."""
    order = [p.name for p in sorted(K8S.glob("*.yaml"))]
    assert all(re.match(r"^\d\d-[a-z-]+\.yaml$", n) for n in order), order
    first_file = {}
    for d in k8s_docs():
        first_file.setdefault((d.kind, d.name), d.path.name)
    pos = {name: i for i, name in enumerate(order)}
    chain = [("Namespace", "podpower"), ("ConfigMap", "podpower-config"), ("PersistentVolumeClaim", "podpower-data"),
             ("ServiceAccount", "podpower-pipeline"), *[("Job", j) for j in PIPELINE_JOBS],
             ("Deployment", "podpower-predict"), ("Deployment", "podpower-collector")]
    positions = [pos[first_file[o]] for o in chain]
    assert positions == sorted(positions), list(zip(chain, positions, strict=True))


def images() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for doc, spec in workloads():
        for c in containers(spec):
            out.setdefault(c["image"], set()).add(f"{doc.kind}/{doc.name}/{c['name']}")
    return out


def test_one_image_everywhere_but_the_kubectl_curl_job() -> None:
    by_image = images()
    ours = {i for i in by_image if not i.startswith(PRESCORE_IMAGE_PREFIX)}
    assert len(ours) == 1, f"podpower containers use several images: {sorted(ours)}"
    others = {i: by_image[i] for i in by_image if i.startswith(PRESCORE_IMAGE_PREFIX)}
    assert list(others.values()) == [{"CronJob/podpower-prescore/prescore"}]
    assert all(":" in i and not i.endswith(":latest") for i in by_image), "pin image tags"


def dockerfile_user() -> int:
    users = re.findall(r"^USER\s+(\S+)", (REPO / "Dockerfile").read_text(), flags=re.M)
    return int(users[-1].split(":")[0])


@pytest.mark.parametrize("doc_spec", list(workloads()), ids=lambda ds: f"{ds[0].kind}/{ds[0].name}")
def test_pods_are_hardened(doc_spec: tuple[Any, dict[str, Any]]) -> None:
    """What the namespace's `restricted` Pod Security level demands, plus limits and a writable /tmp only."""
    doc, spec = doc_spec
    psc = spec["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0, str(doc)
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, str(doc)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for c in containers(spec):
        where = f"{doc}/{c['name']}"
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, where
        assert sc["readOnlyRootFilesystem"] is True, where
        assert sc["capabilities"] == {"drop": ["ALL"]}, where
        assert "privileged" not in sc and "runAsUser" not in sc, where
        for section in ("requests", "limits"):
            assert set(c["resources"][section]) == {"cpu", "memory"}, f"{where}: {section}"
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]["name"]], f"{where}: /tmp must be an emptyDir"
        if not c["image"].startswith(PRESCORE_IMAGE_PREFIX):
            assert psc["runAsUser"] == IMAGE_UID == dockerfile_user(), where
            assert psc["fsGroup"] == IMAGE_UID, f"{where}: the PVC must be writable by the image's user"
    for v in volumes.values():
        assert set(v) & {"emptyDir", "persistentVolumeClaim", "configMap", "secret"}, f"{doc}: {v}"
        if "persistentVolumeClaim" in v:
            assert v["persistentVolumeClaim"]["claimName"] == "podpower-data", str(doc)


def test_the_pvc_leaves_the_storage_class_to_the_cluster() -> None:
    pvc = find("PersistentVolumeClaim", "podpower-data").obj
    assert "storageClassName" not in pvc["spec"]
    assert pvc["spec"]["resources"]["requests"]["storage"]


def test_the_api_deployment() -> None:
    dep = find("Deployment", "podpower-predict").obj
    spec = pod_spec(find("Deployment", "podpower-predict"))
    assert spec is not None
    (api,) = spec["containers"]
    assert api["args"] == ["python", "-m", "app", "serve", "--host", "0.0.0.0", "--port", "8000"]
    (port,) = api["ports"]
    assert (port["name"], port["containerPort"]) == ("http", 8000)
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    mounts = {m["mountPath"]: m for m in api["volumeMounts"]}
    assert mounts["/artifacts"]["readOnly"] is True
    vol = next(v for v in spec["volumes"] if v["name"] == mounts["/artifacts"]["name"])
    assert vol["persistentVolumeClaim"] == {"claimName": "podpower-data", "readOnly": True}
    assert spec["automountServiceAccountToken"] is False
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()

    svc = find("Service", "podpower-predict").obj["spec"]
    assert svc["selector"].items() <= labels.items()
    assert [(p["port"], p["targetPort"]) for p in svc["ports"]] == [(8000, "http")]

    hpa = find("HorizontalPodAutoscaler", "podpower-predict").obj
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podpower-predict"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "cpu" in api["resources"]["requests"], "CPU utilisation is relative to the request"

    pdb = find("PodDisruptionBudget", "podpower-predict").obj["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["spec"]["minReplicas"] > pdb["minAvailable"], "with minReplicas == minAvailable no node could drain"


def test_service_url_used_by_collector_and_prescore_is_the_api_service() -> None:
    svc = find("Service", "podpower-predict")
    assert f"http://{svc.name}.{svc.namespace}.svc.cluster.local:{svc.obj['spec']['ports'][0]['port']}" == SERVICE_URL
    collector = find("Deployment", "podpower-collector")
    (c,) = collector.obj["spec"]["template"]["spec"]["containers"]
    argv = app_argv(c)
    assert argv is not None
    assert argv[argv.index("--post") + 1] == f"{SERVICE_URL}/predict"
    assert collector.obj["spec"]["strategy"]["type"] == "Recreate", "one writer of the state file at a time"
    cron = find("CronJob", "podpower-prescore")
    (p,) = cron.obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert f"{SERVICE_URL}/predict/from-yaml" in shlex.split(p["args"][0])


def test_prometheus_url_is_set_in_one_place() -> None:
    url = config_data()["PROM_URL"]
    assert url.startswith("http")
    hits = [p.name for p in sorted(K8S.glob("*.yaml")) if ":9090" in p.read_text() or "prometheus." in p.read_text()]
    assert hits == ["01-config.yaml"]


def step_argv(kind: str, name: str) -> dict[str, list[str]]:
    doc = find(kind, name)
    spec = pod_spec(doc)
    assert spec is not None
    out = {}
    for c in containers(spec):
        argv = app_argv(c)
        out[c["name"]] = argv if argv is not None else c["args"]
    return out


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_each_pipeline_step_reads_what_the_previous_one_wrote() -> None:
    collect = step_argv("Job", "podpower-collect")["collect"]
    encode = step_argv("Job", "podpower-encode")["encode"]
    labels = step_argv("Job", "podpower-labels")["labels"]
    join = step_argv("Job", "podpower-join")["join"]
    train_job = step_argv("Job", "podpower-train")
    train, publish = train_job["train"], train_job["publish"]
    assert "--once" in collect, "the collect Job is a snapshot"
    assert flag(encode, "--input") == flag(collect, "--output")
    assert flag(join, "--features") == flag(encode, "--features")
    assert flag(join, "--labels") == flag(labels, "--out")
    assert flag(train, "--train") == flag(join, "--out")
    assert flag(train, "--encoder") == flag(encode, "--out"), "the model card records the encoder it was trained with"
    assert publish[:2] == ["sh", "-ec"]
    produced = {flag(encode, "--out"), flag(train, "--out")}
    assert produced == {"/data/work/encoder.npz", "/data/work/knn_energy.npz"}
    # the collector Deployment keeps appending to the file the retrain reads
    (c,) = find("Deployment", "podpower-collector").obj["spec"]["template"]["spec"]["containers"]
    collector = app_argv(c)
    assert collector is not None and flag(collector, "--output") == flag(collect, "--output")


def test_publish_moves_the_trained_pair_to_where_the_api_reads_it(tmp_path: Path) -> None:
    """Run the publish script on a scratch copy of the PVC: the new pair replaces the old, no temp files left."""
    script = step_argv("Job", "podpower-train")["publish"][-1]
    assert script.startswith("cd /data\n")
    (tmp_path / "work").mkdir()
    for name in ("encoder.npz", "knn_energy.npz", "knn_energy.card.json"):
        (tmp_path / "work" / name).write_text(f"new {name}")
        (tmp_path / name).write_text(f"old {name}")
    sh = need_binary("sh", "apt-get install dash")
    run = subprocess.run([sh, "-ec", script.replace("cd /data", f"cd {shlex.quote(str(tmp_path))}", 1)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["encoder.npz", "knn_energy.card.json",
                                                          "knn_energy.npz", "work"]
    for name in ("encoder.npz", "knn_energy.npz", "knn_energy.card.json"):
        assert (tmp_path / name).read_text() == f"new {name}"
    # a missing model (train failed half-way) publishes nothing
    (tmp_path / "work" / "knn_energy.npz").unlink()
    (tmp_path / "work" / "encoder.npz").write_text("newer encoder")
    run = subprocess.run([sh, "-ec", script.replace("cd /data", f"cd {shlex.quote(str(tmp_path))}", 1)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    assert (tmp_path / "encoder.npz").read_text() == "new encoder.npz"


def test_retrain_runs_the_same_steps_in_order() -> None:
    retrain = step_argv("CronJob", "podpower-retrain")
    jobs: dict[str, list[str]] = {}
    for name in PIPELINE_JOBS[1:]:
        jobs.update(step_argv("Job", name))
    assert list(retrain) == ["encode", "labels", "join", "train", "publish"]
    assert retrain == jobs


def app_command_lines() -> list[tuple[str, list[str]]]:
    out = []
    for doc, spec in workloads():
        for c in containers(spec):
            argv = app_argv(c)
            if argv is not None:
                out.append((f"{doc.kind}/{doc.name}/{c['name']}", argv))
    return out


@pytest.mark.parametrize("where_argv", app_command_lines(), ids=lambda w: w[0])
def test_every_app_command_line_parses(where_argv: tuple[str, list[str]]) -> None:
    where, argv = where_argv
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    need(argv[0] in commands, f"`python -m app {argv[0]}` is not registered yet (its module is missing)")
    assert not any("$(" in a for a in argv), f"{where}: unresolved $(VAR) in {argv}"
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit:
        pytest.fail(f"{where}: `python -m app {shlex.join(argv)}` does not parse: {err.getvalue().strip()}")
    assert callable(getattr(args, "func", None)), where
