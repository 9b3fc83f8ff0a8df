"""The Grafana dashboard: every query it holds runs on a real Prometheus and gives the right numbers.

Why: a dashboard query with a wrong label name returns nothing and looks like "no data yet". The
history here is hand-written (in the style of tests/labels/test_edges.py): Kepler ≥ 0.10 pod
counters (with a `dram` zone and a `terminated` copy that must not be added), Kepler 0.7 container
counters for another namespace, kube-state-metrics owners (ReplicaSet → Deployment, Job → CronJob, a
bare Job, a bare Pod, a StatefulSet, a DaemonSet) and the podpower exporter's series. Counters grow at
known watts, so each workload's measured power, relative error, fleet error and interval coverage are
computed here in plain Python and compared with what Prometheus answers for the dashboard's own
expressions, with Grafana's variables substituted. Every expression is found by walking the JSON, so
none escapes the test; the files must be exactly what k8s/grafana/dashboard.py writes.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import REPO, free_port, need_binary
from tests.prom_fixture import build_tsdb, run_prometheus

GRAFANA = REPO / "k8s" / "grafana"
T0 = 1_765_000_000.0
SCRAPE = 30.0
HORIZON = 7200.0
AT = T0 + 3600.0
RATE_INTERVAL = "2m"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("podpower_dashboard", GRAFANA / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Pod:
    ns: str
    name: str
    watts: float
    owner: tuple[str, str]  # (kind, name) in kube_pod_owner
    kepler: str = "0.10"


# (namespace, kind, name) → pods, predicted (value, low, high) all replicas
WORKLOADS: dict[tuple[str, str, str], tuple[list[Pod], tuple[float, float, float]]] = {
    ("shop", "Deployment", "web"): ([Pod("shop", "web-7d9f-aaaaa", 3.0, ("ReplicaSet", "web-7d9f")),
                                     Pod("shop", "web-7d9f-bbbbb", 3.0, ("ReplicaSet", "web-7d9f"))],
                                    (7.5, 3.0, 15.0)),
    ("shop", "StatefulSet", "db"): ([Pod("shop", "db-0", 5.0, ("StatefulSet", "db"))], (4.0, 2.0, 4.5)),
    ("monitoring", "DaemonSet", "agent"): ([Pod("monitoring", "agent-x1", 1.0, ("DaemonSet", "agent")),
                                            Pod("monitoring", "agent-x2", 1.0, ("DaemonSet", "agent"))],
                                           (2.5, 1.0, 5.0)),
    ("batch", "CronJob", "report"): ([Pod("batch", "report-2945-abcde", 4.0, ("Job", "report-2945"))],
                                     (5.0, 2.0, 10.0)),
    ("batch", "Job", "migrate"): ([Pod("batch", "migrate-qq1", 2.0, ("Job", "migrate"))], (2.0, 1.0, 4.0)),
    ("shop", "Pod", "debug"): ([Pod("shop", "debug", 0.5, ("<none>", "<none>"))], (0.4, 0.2, 0.8)),
    ("legacy", "Deployment", "api"): ([Pod("legacy", "api-5c4b-qqqqq", 8.0, ("ReplicaSet", "api-5c4b"), "0.7")],
                                      (6.0, 3.0, 12.0)),
}
REPLICASETS = {("shop", "web-7d9f"): "web", ("legacy", "api-5c4b"): "api"}
JOBS = {("batch", "report-2945"): ("CronJob", "report"), ("batch", "migrate"): ("<none>", "<none>")}


def _times() -> list[float]:
    return [T0 + i * SCRAPE for i in range(int(HORIZON / SCRAPE) + 1)]


def openmetrics() -> str:
    """Every series, sample by sample; counters are `watts × (t − T0)` plus an arbitrary start value."""
    out: dict[str, list[str]] = {}

    def add(metric: str, family: str, labels: dict[str, str], value: Any, t: float) -> None:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        out.setdefault(family, []).append(f"{metric}{{{text}}} {value} {t:.3f}")

    pods = [p for ps, _ in WORKLOADS.values() for p in ps]
    for t in _times():
        for i, p in enumerate(pods):
            joules = 1000.0 * (i + 1) + p.watts * (t - T0)
            uid = f"uid-{p.name}"
            if p.kepler == "0.10":
                base = {"pod_namespace": p.ns, "pod_name": p.name, "pod_id": uid, "node_name": "node-1"}
                add("kepler_pod_cpu_joules_total", "kepler_pod_cpu_joules counter",
                    {**base, "state": "running", "zone": "package"}, f"{joules:.6f}", t)
                add("kepler_pod_cpu_joules_total", "kepler_pod_cpu_joules counter",  # never summed with package
                    {**base, "state": "running", "zone": "dram"}, f"{joules / 4:.6f}", t)
                if p.name == "db-0":  # Kepler keeps a terminated copy for a while: collapsed with max
                    add("kepler_pod_cpu_joules_total", "kepler_pod_cpu_joules counter",
                        {**base, "state": "terminated", "zone": "package"}, f"{joules:.6f}", t)
            else:
                for mode, share in (("dynamic", 0.75), ("idle", 0.25)):
                    add("kepler_container_joules_total", "kepler_container_joules counter",
                        {"container_namespace": p.ns, "pod_name": p.name, "container_id": f"c-{uid}",
                         "container_name": "main", "mode": mode}, f"{joules * share:.6f}", t)
            add("kube_pod_owner", "kube_pod_owner gauge",
                {"namespace": p.ns, "pod": p.name, "uid": uid, "owner_kind": p.owner[0], "owner_name": p.owner[1],
                 "owner_is_controller": "true" if p.owner[0] != "<none>" else "false"}, 1, t)
        for (ns, rs), deploy in REPLICASETS.items():
            add("kube_replicaset_owner", "kube_replicaset_owner gauge",
                {"namespace": ns, "replicaset": rs, "owner_kind": "Deployment", "owner_name": deploy,
                 "owner_is_controller": "true"}, 1, t)
        for (ns, job), (kind, name) in JOBS.items():
            add("kube_job_owner", "kube_job_owner gauge",
                {"namespace": ns, "job_name": job, "owner_kind": kind, "owner_name": name,
                 "owner_is_controller": "true" if kind != "<none>" else "false"}, 1, t)
        for (ns, kind, name), (_, (value, low, high)) in WORKLOADS.items():
            labels = {"namespace": ns, "workload_kind": kind, "workload": name}
            add("podpower_predicted_watts", "podpower_predicted_watts gauge", labels, value, t)
            add("podpower_predicted_watts_low", "podpower_predicted_watts_low gauge", labels, low, t)
            add("podpower_predicted_watts_high", "podpower_predicted_watts_high gauge", labels, high, t)
        add("podpower_model_info", "podpower_model info", {"model_version": "tknn-test"}, 1, t)
        add("podpower_predicted_interval_level", "podpower_predicted_interval_level gauge", {}, 0.8, t)
    lines = []
    for family, samples in out.items():
        name, kind = family.split(" ")
        lines.append(f"# TYPE {name} {kind}")
        lines += samples
    return "\n".join([*lines, "# EOF"]) + "\n"


def measured(selected: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], float]:
    return {k: sum(p.watts for p in WORKLOADS[k][0]) for k in selected}


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prometheus = need_binary("prometheus", "apt-get install prometheus")
    promtool = need_binary("promtool", "apt-get install prometheus")
    tmp: Path = tmp_path_factory.mktemp("dashboard")
    (tmp / "history.om").write_text(openmetrics())
    build_tsdb(tmp / "history.om", tmp / "data", promtool)
    with run_prometheus(tmp / "data", free_port(), prometheus) as url:
        yield url


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "podpower-dashboard.json").read_text())


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, node


def queries() -> list[tuple[str, str]]:
    """(JSON path, text) of every string that mentions a metric: each must be a query the test runs."""
    metric = re.compile(r"\b(podpower_|kepler_|kube_)\w+")
    found = [(p, v) for p, v in walk(dashboard()) if isinstance(v, str) and metric.search(v)
             and not p.endswith((".description", ".title", ".legendFormat"))]
    return found


def substitute(expr: str, namespace: str, workload: str) -> str:
    return (expr.replace("$__rate_interval", RATE_INTERVAL).replace("$namespace", namespace)
            .replace("$workload", workload))


def query(url: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": expr, "time": AT}, timeout=60)
    assert r.status_code == 200, (r.text, expr)
    return r.json()["data"]["result"]


def by_workload(result: list[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    return {(s["metric"]["namespace"], s["metric"]["workload_kind"], s["metric"]["workload"]): float(s["value"][1])
            for s in result}


SCENARIOS = [(".*", ".*", list(WORKLOADS)), ("shop", "web", [("shop", "Deployment", "web")]),
             ("shop|legacy", ".*", [k for k in WORKLOADS if k[0] in ("shop", "legacy")])]


@pytest.mark.prometheus
@pytest.mark.parametrize(("namespace", "workload", "selected"), SCENARIOS, ids=["all", "shop-web", "two-ns"])
def test_every_query_returns_the_expected_numbers(prom: str, namespace: str, workload: str,
                                                  selected: list[tuple[str, str, str]]) -> None:
    gen = _generator()
    want = measured(selected)
    pred = {k: WORKLOADS[k][1] for k in selected}
    exact = {
        gen.predicted(): {k: v[0] for k, v in pred.items()},
        gen.measured(): want,
        gen.relative_error(): {k: (pred[k][0] - want[k]) / want[k] for k in selected},
        gen.predicted("podpower_predicted_watts_low"): {k: v[1] for k, v in pred.items()},
        gen.predicted("podpower_predicted_watts_high"): {k: v[2] for k, v in pred.items()},
    }
    scalars = {
        f"sum({gen.predicted()})": sum(v[0] for v in pred.values()),
        f"sum({gen.measured()})": sum(want.values()),
        gen.fleet_error(): sum(abs(pred[k][0] - want[k]) for k in selected) / sum(want.values()),
        gen.coverage(): sum(pred[k][1] <= want[k] <= pred[k][2] for k in selected) / len(selected),
        "max(podpower_predicted_interval_level)": 0.8,
    }
    ran = 0
    for path, text in queries():
        if path.endswith((".definition", ".query.query")):
            continue  # variable queries: test_variables
        result = query(prom, substitute(text, namespace, workload))
        assert result, f"{path}: no data for {text[:200]}"
        ran += 1
        if text in exact:
            got = by_workload(result)
            assert got.keys() == exact[text].keys(), (path, got)
            for k, v in exact[text].items():
                assert got[k] == pytest.approx(v, rel=1e-6), (path, k)
        elif text in scalars:
            (sample,) = result
            assert float(sample["value"][1]) == pytest.approx(scalars[text], rel=1e-6), path
        else:
            assert text == "count by (model_version) (podpower_model_info)", f"{path}: a query without a check"
            assert [s["metric"]["model_version"] for s in result] == ["tknn-test"]
    assert ran == sum(len(p["targets"]) for p in dashboard()["panels"])


@pytest.mark.prometheus
def test_variables(prom: str) -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "workload"}
    pattern = re.compile(r"^label_values\((.+), (\w+)\)$")
    for name, want in (("namespace", {"shop", "monitoring", "batch", "legacy"}), ("workload", {"web", "db", "debug"})):
        var = variables[name]
        assert var["query"]["query"] == var["definition"]
        match = pattern.match(substitute(var["definition"], "shop", ".*"))
        assert match, var["definition"]
        selector, label = match.groups()
        r = httpx.get(f"{prom}/api/v1/label/{label}/values",
                      params={"match[]": selector, "start": T0, "end": T0 + HORIZON}, timeout=30)
        assert r.status_code == 200, r.text
        assert set(r.json()["data"]) == want, name


def test_no_hidden_queries_and_every_query_is_known() -> None:
    board = dashboard()
    for panel in board["panels"]:
        for t in panel["targets"]:
            assert not t.get("hide"), f"panel {panel['title']}: hidden target {t['refId']}"
            assert t["datasource"]["uid"] == "${datasource}"
    paths = {re.sub(r"\[\d+\]", "[]", p) for p, _ in queries()}
    assert paths == {".panels[].targets[].expr", ".templating.list[].definition", ".templating.list[].query.query"}


def test_files_are_what_the_generator_writes() -> None:
    text, cm = _generator().render()
    assert (GRAFANA / "podpower-dashboard.json").read_text() == text, "run python k8s/grafana/dashboard.py"
    assert (REPO / "k8s" / "61-grafana-dashboard.yaml").read_text() == cm, "run python k8s/grafana/dashboard.py"


def test_configmap_is_what_the_grafana_sidecar_loads() -> None:
    (doc,) = list(yaml.safe_load_all((REPO / "k8s" / "61-grafana-dashboard.yaml").read_text()))
    assert doc["kind"] == "ConfigMap" and doc["metadata"]["labels"]["grafana_dashboard"] == "1"
    (key,) = doc["data"]
    assert key.endswith(".json")
    assert json.loads(doc["data"][key]) == dashboard()
