"""The ServiceMonitor and PrometheusRule in k8s/60-monitoring.yaml: they point at the API's real metrics.

kubernetes-validate has no schema for the Prometheus Operator's custom resources, so their structure is
checked here against the fields the operator's CRDs define (an unknown key is the typo class of error),
the ServiceMonitor against the Service it must select, every metric an alert reads against what the app
really exports, and the rules by the real promtool: `promtool check rules` parses every PromQL
expression and template, and `promtool test rules` replays series through them, so each alert is shown
to fire on the condition it names, and not before its `for:` or on healthy traffic.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.api import examples
from app.api.app import create_app
from tests.api.conftest import settings_for
from tests.conftest import need_binary
from tests.k8s.manifests import find, k8s_docs

GROUP = "monitoring.coreos.com/v1"
RELEASE_LABEL = {"release": "kube-prometheus-stack"}
JOB = {"job": "podpower-predict", "namespace": "podpower"}

# The fields used here, from the operator's CRDs (monitoring.coreos.com_servicemonitors / _prometheusrules).
SERVICE_MONITOR_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels",
                        "sampleLimit"}
ENDPOINT = {"port", "targetPort", "path", "scheme", "interval", "scrapeTimeout", "honorLabels", "relabelings",
            "metricRelabelings", "params"}
RULE = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def monitor() -> dict[str, Any]:
    return find("ServiceMonitor", "podpower-predict").obj


def rules() -> dict[str, Any]:
    return find("PrometheusRule", "podpower-predict").obj


def alerts() -> list[dict[str, Any]]:
    return [r for g in rules()["spec"]["groups"] for r in g["rules"]]


@pytest.mark.parametrize("obj", [monitor(), rules()], ids=["ServiceMonitor", "PrometheusRule"])
def test_picked_up_by_kube_prometheus_stack(obj: dict[str, Any]) -> None:
    assert obj["apiVersion"] == GROUP
    assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
    assert RELEASE_LABEL.items() <= obj["metadata"]["labels"].items()
    assert obj["metadata"]["namespace"] == "podpower"


def test_the_service_monitor_scrapes_the_api_service() -> None:
    spec = monitor()["spec"]
    assert set(spec) <= SERVICE_MONITOR_SPEC
    svc = find("Service", "podpower-predict").obj
    assert spec["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": [svc["metadata"]["namespace"]]}
    (endpoint,) = spec["endpoints"]
    assert set(endpoint) <= ENDPOINT
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert DURATION.match(endpoint["interval"]) and DURATION.match(endpoint["scrapeTimeout"])
    # no other Service in k8s/ carries the selected labels, so only the API is scraped
    selected = [d.name for d in k8s_docs() if d.kind == "Service"
                and spec["selector"]["matchLabels"].items() <= d.obj["metadata"].get("labels", {}).items()]
    assert selected == ["podpower-predict"]
    app = create_app(background=False)
    assert endpoint["path"] in {getattr(r, "path", None) for r in app.routes}


def test_the_rules_are_well_formed() -> None:
    spec = rules()["spec"]
    assert set(spec) == {"groups"}
    names = [a["alert"] for a in alerts()]
    assert names == ["PodpowerPredictHigh5xxRate", "PodpowerPredictHighP99Latency", "PodpowerPredictNotReady"]
    for a in alerts():
        assert set(a) <= RULE, a["alert"]
        assert DURATION.match(a["for"]), a["alert"]
        assert a["labels"]["severity"] in ("warning", "critical"), a["alert"]
        assert {"summary", "description"} <= set(a["annotations"]), a["alert"]
        assert all(JOB.items() <= dict(re.findall(r'(\w+)="([^"]*)"', m)).items()
                   for m in re.findall(r"\{([^}]*)\}", a["expr"])), f"{a['alert']}: every selector names the job"


def exported_names(tiny_artifacts: tuple[Path, Path]) -> set[str]:
    with TestClient(create_app(settings_for(tiny_artifacts), background=False)) as c:
        assert c.post("/predict", json=examples.PREDICT_CONTAINERS).status_code == 200
        text = c.get("/metrics").text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_every_metric_an_alert_reads_is_exported(tiny_artifacts: tuple[Path, Path]) -> None:
    exported = exported_names(tiny_artifacts)
    for a in alerts():
        used = set(re.findall(r"\b(podpower_[a-z_]+)\b", a["expr"]))
        assert used, a["alert"]
        assert used <= exported, f"{a['alert']} reads {sorted(used - exported)}, which the API does not export"


def write_rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules()["spec"], sort_keys=False))
    return path


def test_promtool_checks_every_rule(tmp_path: Path) -> None:
    promtool = need_binary("promtool", "apt-get install prometheus")
    run = subprocess.run([promtool, "check", "rules", str(write_rules(tmp_path))], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in run.stdout


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    all_labels = {**JOB, **labels}
    return {"series": name + "{" + ",".join(f'{k}="{v}"' for k, v in all_labels.items()) + "}", "values": values}


def annotations(alert: str, **values: str) -> dict[str, str]:
    """The alert's annotations with its templates filled in by hand, as Alertmanager would show them."""
    (rule,) = [a for a in alerts() if a["alert"] == alert]
    out = {}
    for key, text in rule["annotations"].items():
        for template, value in values.items():
            text = text.replace("{{ " + template + " }}", value)
        assert "{{" not in text, f"{alert}: unfilled template in {text!r}"
        out[key] = text
    return out


POD = {"pod": "podpower-predict-0", "instance": "10.0.0.1:8000"}


def test_promtool_unit_tests_every_alert(tmp_path: Path) -> None:
    promtool = need_binary("promtool", "apt-get install prometheus")
    bucket = "podpower_http_request_duration_seconds_bucket"
    slow = dict(route="/predict", status="200")
    tests = [
        {   # 10% of the requests are 503s: fires once the ratio held for `for:` (10m), not before
            "interval": "1m",
            "input_series": [
                series("podpower_http_requests_total", "0+90x40", route="/predict", status="200", **POD),
                series("podpower_http_requests_total", "0+10x40", route="/predict", status="503", **POD),
            ],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": "PodpowerPredictHigh5xxRate", "exp_alerts": []},
                {"eval_time": "30m", "alertname": "PodpowerPredictHigh5xxRate", "exp_alerts": [{
                    "exp_labels": {"severity": "warning"},
                    "exp_annotations": annotations("PodpowerPredictHigh5xxRate",
                                                   **{"$value | humanizePercentage": "10%"})}]},
            ],
        },
        {   # 1% errors is below the threshold
            "interval": "1m",
            "input_series": [
                series("podpower_http_requests_total", "0+99x40", route="/predict", status="200", **POD),
                series("podpower_http_requests_total", "0+1x40", route="/predict", status="500", **POD),
            ],
            "alert_rule_test": [{"eval_time": "30m", "alertname": "PodpowerPredictHigh5xxRate", "exp_alerts": []}],
        },
        {   # every /predict request between 250 and 500 ms: p99 = 0.25 + 0.99 * 0.25 = 497.5 ms
            "interval": "1m",
            "input_series": [
                *[series(bucket, "0+0x40", le=le, **slow, **POD) for le in ("0.1", "0.25")],
                *[series(bucket, "0+100x40", le=le, **slow, **POD) for le in ("0.5", "1.0", "+Inf")],
            ],
            "alert_rule_test": [
                {"eval_time": "30m", "alertname": "PodpowerPredictHighP99Latency", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "route": "/predict"},
                    "exp_annotations": annotations("PodpowerPredictHighP99Latency",
                                                   **{"$labels.route": "/predict",
                                                      "$value | humanizeDuration": "497.5ms"})}]},
            ],
        },
        {   # fast requests: quiet
            "interval": "1m",
            "input_series": [series(bucket, "0+100x40", le=le, **slow, **POD) for le in ("0.1", "0.25", "+Inf")],
            "alert_rule_test": [{"eval_time": "30m", "alertname": "PodpowerPredictHighP99Latency", "exp_alerts": []}],
        },
        {   # a pod that never loads its model; a ready one next to it stays quiet
            "interval": "1m",
            "input_series": [
                series("podpower_model_ready", "0x40", **POD),
                series("up", "1x40", **POD),
                series("podpower_model_ready", "1x40", pod="podpower-predict-1", instance="10.0.0.2:8000"),
                series("up", "1x40", pod="podpower-predict-1", instance="10.0.0.2:8000"),
            ],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": "PodpowerPredictNotReady", "exp_alerts": []},
                {"eval_time": "20m", "alertname": "PodpowerPredictNotReady", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", **JOB, **POD},
                    "exp_annotations": annotations("PodpowerPredictNotReady", **{"$labels.pod": POD["pod"]})}]},
            ],
        },
        {   # a pod that cannot be scraped at all
            "interval": "1m",
            "input_series": [series("up", "0x40", **POD)],
            "alert_rule_test": [{"eval_time": "20m", "alertname": "PodpowerPredictNotReady", "exp_alerts": [{
                "exp_labels": {"severity": "critical", **JOB, **POD},
                "exp_annotations": annotations("PodpowerPredictNotReady", **{"$labels.pod": POD["pod"]})}]}],
        },
    ]
    write_rules(tmp_path)
    suite = tmp_path / "rules_test.yaml"
    suite.write_text(yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests},
                                    sort_keys=False))
    run = subprocess.run([promtool, "test", "rules", str(suite)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
