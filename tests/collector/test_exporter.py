"""`collect watch --metrics-port`: the real CLI process, the real kubernetes client against the loopback
list/watch server, scraped over HTTP and parsed with prometheus-client's own parser.

Why: the dashboard's "predicted" line is only as good as these series. Each must equal what the
predictor says for that workload's manifest (computed here, in the test process, from the manifest
with `request_from_object`), count all replicas (a DaemonSet: its desired node count), follow a
template change, and vanish when the workload is deleted.
"""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.serving.predictor import Predictor
from app.workloads.convert import request_from_object
from tests.collector.conftest import wait_for
from tests.collector.fake_apiserver import FakeApiServer
from tests.collector.manifests import container, deployment, statefulset
from tests.conftest import REPO, free_port


def daemonset(name: str, namespace: str = "monitoring", nodes: int = 4) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [container(image="fluent/fluent-bit:3.1", cpu="100m")]}}},
            "status": {"desiredNumberScheduled": nodes, "numberReady": nodes}}


def scrape(url: str) -> dict[str, dict[tuple[str, str, str], float]]:
    """name → {(namespace, kind, workload): value} for the labelled podpower series; info labels under ()."""
    text = httpx.get(url, timeout=5).text
    out: dict[str, dict[Any, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.labels["namespace"], s.labels["workload_kind"], s.labels["workload"]) \
                if "workload" in s.labels else tuple(sorted(s.labels.items()))
            out.setdefault(s.name, {})[key] = s.value
    return out


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    from app.core.settings import get_settings

    s = get_settings()
    return Predictor.load(s.encoder_path, s.model_path)


@pytest.mark.server
def test_exporter_publishes_follows_and_forgets(api: FakeApiServer, tmp_path: Path, predictor: Predictor) -> None:
    web = api.apply(deployment("web", replicas=3))
    db = api.apply(statefulset("pg"))
    agent = api.apply(daemonset("agent", nodes=4))
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app", "collect", "watch", "--kubeconfig", str(kubeconfig),
                             "--kinds", "Deployment", "StatefulSet", "DaemonSet",
                             "--output", str(tmp_path / "o.ndjson"), "--no-state",
                             "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        def ready() -> bool:
            try:
                return len(scrape(url).get("podpower_predicted_watts", {})) == 3
            except httpx.HTTPError:
                return False

        wait_for(ready, 60, "three workloads on /metrics")
        m = scrape(url)
        for obj, replicas in ((web, 3), (db, 2), (agent, 4)):
            req = request_from_object(copy.deepcopy(obj))
            p = predictor.predict(req)  # one pod's prediction, from the manifest alone
            key = (req.namespace, req.workload_kind, req.workload_name)
            assert m["podpower_predicted_replicas"][key] == replicas
            assert math.isclose(m["podpower_predicted_watts_per_pod"][key], p.pred_avg_power_w, rel_tol=1e-12)
            assert math.isclose(m["podpower_predicted_watts"][key], replicas * p.pred_avg_power_w, rel_tol=1e-12)
            assert math.isclose(m["podpower_predicted_watts_low"][key], replicas * p.pred_avg_power_w_low,
                                rel_tol=1e-12)
            assert math.isclose(m["podpower_predicted_watts_high"][key], replicas * p.pred_avg_power_w_high,
                                rel_tol=1e-12)
            assert m["podpower_predicted_out_of_distribution"][key] == float(p.out_of_distribution)
        (info_labels,) = m["podpower_model_info"]
        assert dict(info_labels) == {"model_version": predictor.model_version}
        assert m["podpower_predicted_interval_level"][()] == p.interval_level
        assert m["podpower_exporter_workloads"][()] == 3

        # a template change (more CPU, 5 replicas) is published; a deletion removes the series
        bigger = api.apply(deployment("web", replicas=5, cpu="2"))
        want = predictor.predict(request_from_object(copy.deepcopy(bigger)))
        key = ("shop", "Deployment", "web")
        wait_for(lambda: scrape(url)["podpower_predicted_replicas"].get(key) == 5, 30, "the new replica count")
        assert math.isclose(scrape(url)["podpower_predicted_watts"][key], want.pred_power_w_total, rel_tol=1e-12)
        api.delete("StatefulSet", "data", "pg")
        wait_for(lambda: ("data", "StatefulSet", "pg") not in scrape(url)["podpower_predicted_watts"], 30,
                 "the deleted StatefulSet to go")
        assert scrape(url)["podpower_exporter_workloads"][()] == 2
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]


def test_bad_metrics_port_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "app", "collect", "watch", "--kubeconfig", str(tmp_path / "none"),
                           "--metrics-port", "70000"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--metrics-port" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
