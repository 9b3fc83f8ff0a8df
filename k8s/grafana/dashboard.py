"""Builds the Grafana dashboard "podpower: predicted vs measured power" and its ConfigMap.

Run `python k8s/grafana/dashboard.py` after editing; it writes k8s/grafana/podpower-dashboard.json
(import it in Grafana by hand) and k8s/61-grafana-dashboard.yaml (the same JSON in a ConfigMap labelled
`grafana_dashboard: "1"`, which the Grafana sidecar of kube-prometheus-stack loads). A test checks that
both files are what this script writes, and runs every query of the dashboard against a real
Prometheus holding Kepler, kube-state-metrics and podpower series.

Why generated: the measured-power expression (Kepler → pod → workload) is long and used by several
panels; it is written once here. Its rule, the same as the energy labels the model is trained on
(app/energy_labels/kepler.py; metric and label names from app/core/kepler.py, imported as `k`):
* Kepler ≥ 0.10: `rate(kepler_pod_cpu_joules_total{zone="package"})`, the `running`/`terminated`
  copies of a pod collapsed with max;
* Kepler 0.7: `rate(kepler_container_joules_total)` summed over containers and modes (dynamic + idle);
  used for the pods the newer schema does not report (`or on (namespace, pod)`);
* pod → workload through kube-state-metrics: `kube_pod_owner` (StatefulSet, DaemonSet, a bare Job,
  ReplicationController; owner `<none>` = the Pod itself), `kube_replicaset_owner` for a ReplicaSet's
  Deployment, `kube_job_owner` for a Job's CronJob — the identity podpower's series carry
  (`namespace`, `workload_kind`, `workload`).
Panels compare the workloads podpower predicts (`podpower_predicted_watts`, all replicas).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script from anywhere: the repository root holds `app`
from app.core import kepler as k  # noqa: E402  (Kepler's names, one table shared with the label builder)

JSON_PATH = HERE / "podpower-dashboard.json"
CONFIGMAP_PATH = HERE.parent / "61-grafana-dashboard.yaml"
UID = "podpower-pred-vs-measured"
WORKLOAD = "namespace, workload_kind, workload"
NS = 'namespace=~"$namespace"'
SEL = f'{{{NS}, workload=~"$workload"}}'
RATE = "[$__rate_interval]"


def _relabel(expr: str, dst: str, src: str) -> str:
    return f'label_replace({expr}, "{dst}", "$1", "{src}", "(.*)")'


def _as_workload(expr: str, kind_src: str = "owner_kind", name_src: str = "owner_name") -> str:
    return _relabel(_relabel(expr, "workload_kind", kind_src), "workload", name_src)


def pod_watts() -> str:
    """Measured watts per (namespace, pod): Kepler ≥ 0.10, else Kepler 0.7."""
    pod010 = ", ".join((k.NAMESPACE_010, k.POD_010, k.POD_ID_010))
    k010 = (f'max by ({pod010}) (rate({k.ENERGY_SERIES[k.SCHEMA_010]}{{{k.ZONE_010}="package", '
            f'{k.NAMESPACE_010}=~"$namespace"}}{RATE}))')
    k07 = f'rate({k.ENERGY_SERIES[k.SCHEMA_07]}{{{k.NAMESPACE_07}=~"$namespace"}}{RATE})'
    new = f"sum by (namespace, pod) ({_relabel(_relabel(k010, 'namespace', k.NAMESPACE_010), 'pod', k.POD_010)})"
    old = f"sum by (namespace, pod) ({_relabel(_relabel(k07, 'namespace', k.NAMESPACE_07), 'pod', k.POD_07)})"
    return f"({new} or on (namespace, pod) {old})"


def pod_workload() -> str:
    """(namespace, pod, workload_kind, workload) = 1 for each pod, from kube-state-metrics."""
    by = "max by (namespace, pod, workload_kind, workload)"
    direct = _as_workload(f'kube_pod_owner{{{NS}, owner_is_controller="true", '
                          f'owner_kind!~"ReplicaSet|Job|<none>"}}')
    rs_pods = _relabel(f'kube_pod_owner{{{NS}, owner_kind="ReplicaSet"}}', "replicaset", "owner_name")
    job_pods = _relabel(f'kube_pod_owner{{{NS}, owner_kind="Job"}}', "job_name", "owner_name")
    via_rs = _as_workload(
        f"max by (namespace, pod, replicaset) ({rs_pods})"
        f" * on (namespace, replicaset) group_left (owner_kind, owner_name) max by (namespace, replicaset, "
        f'owner_kind, owner_name) (kube_replicaset_owner{{{NS}, owner_kind="Deployment"}})')
    via_cron = _as_workload(
        f"max by (namespace, pod, job_name) ({job_pods})"
        f" * on (namespace, job_name) group_left (owner_kind, owner_name) max by (namespace, job_name, "
        f'owner_kind, owner_name) (kube_job_owner{{{NS}, owner_kind="CronJob"}})')
    job = _as_workload(f'kube_pod_owner{{{NS}, owner_kind="Job"}}')
    bare = _as_workload(f'label_replace(kube_pod_owner{{{NS}, owner_kind="<none>"}}, "owner_kind", "Pod", '
                        f'"owner_kind", ".*")', name_src="pod")
    parts = [f"{by} ({p})" for p in (direct, via_rs, via_cron, job, bare)]
    return "(" + " or on (namespace, pod) ".join(parts) + ")"


def predicted(metric: str = "podpower_predicted_watts") -> str:
    return f"sum by ({WORKLOAD}) ({metric}{SEL})"


def measured() -> str:
    """Measured watts per workload, for the workloads podpower predicts (the `and` keeps the variables' choice)."""
    joined = f"{pod_watts()} * on (namespace, pod) group_left (workload_kind, workload) {pod_workload()}"
    return f"(sum by ({WORKLOAD}) ({joined}) and on ({WORKLOAD}) {predicted()})"


def relative_error() -> str:
    return f"({predicted()} - {measured()}) / {measured()}"


def fleet_error() -> str:
    """Σ|predicted − measured| / Σ measured over the selected workloads: the retrain signal."""
    return f"sum(abs({predicted()} - {measured()})) / sum({measured()})"


def coverage() -> str:
    """Share of workloads whose measured power lies inside the predicted interval (compare: the level)."""
    inside = (f"({measured()} >= bool {predicted('podpower_predicted_watts_low')}) * "
              f"({measured()} <= bool {predicted('podpower_predicted_watts_high')})")
    return f"avg({inside})"


def target(expr: str, legend: str, ref: str, *, instant: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr,
                           "legendFormat": legend, "refId": ref, "range": not instant, "instant": instant}
    if instant:
        out["format"] = "table"
    return out


def panel(pid: int, title: str, kind: str, grid: tuple[int, int, int, int], targets: list[dict[str, Any]],
          description: str, unit: str = "watt", **extra: Any) -> dict[str, Any]:
    x, y, w, h = grid
    return {"id": pid, "type": kind, "title": title, "description": description,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit, **extra.pop("defaults", {})}, "overrides": extra.pop(
                "overrides", [])}, "options": extra.pop("options", {}), **extra}


def _query_var(name: str, label: str, query: str) -> dict[str, Any]:
    return {"name": name, "label": label, "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "definition": query, "query": {"query": query, "refId": f"{name}-values"}, "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"},
            "sort": 1}


def dashboard() -> dict[str, Any]:
    pct = {"defaults": {"min": None}}
    panels = [
        panel(1, "Predicted vs measured power per workload (all replicas)", "timeseries", (0, 0, 24, 10), [
            target(predicted(), "{{namespace}}/{{workload}} predicted", "A"),
            target(measured(), "{{namespace}}/{{workload}} measured (Kepler)", "B"),
            target(predicted("podpower_predicted_watts_low"), "{{namespace}}/{{workload}} interval low", "C"),
            target(predicted("podpower_predicted_watts_high"), "{{namespace}}/{{workload}} interval high", "D"),
        ], "Predicted: podpower_predicted_watts from the collector's exporter (all replicas of the workload). "
           "Measured: Kepler's pod energy counters as a rate, summed over the workload's pods "
           "(kube-state-metrics owners). Dashed: the prediction interval.",
              overrides=[{"matcher": {"id": "byRegexp", "options": ".*interval (low|high)"},
                          "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [6, 4]}},
                                         {"id": "custom.lineWidth", "value": 1}]}]),
        panel(2, "Relative error (predicted − measured) / measured", "timeseries", (0, 10, 16, 9), [
            target(relative_error(), "{{namespace}}/{{workload}}", "A"),
        ], "Per workload, over time. A workload drifting away from 0 has changed behaviour since the model "
           "was trained: its measured power is new training data.", unit="percentunit", **pct),
        panel(3, "Fleet error Σ|pred − meas| / Σ meas (retrain signal)", "stat", (16, 10, 8, 5), [
            target(fleet_error(), "fleet error", "A"),
        ], "Weighted absolute error over the selected workloads. Retrain (the retrain CronJob, or "
           "`python -m app train`) when it stays above the threshold.", unit="percentunit",
              defaults={"thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None},
                                                                     {"color": "orange", "value": 0.3},
                                                                     {"color": "red", "value": 0.5}]}},
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "graphMode": "area"}),
        panel(4, "Interval coverage (measured inside the predicted interval)", "stat", (16, 15, 8, 4), [
            target(coverage(), "coverage", "A"),
            target("max(podpower_predicted_interval_level)", "nominal level", "B"),
        ], "Share of workloads whose measured power lies inside the interval, next to the interval's nominal "
           "level. Coverage well below the level means the intervals are too narrow for today's cluster.",
              unit="percentunit", options={"reduceOptions": {"calcs": ["lastNotNull"]}}),
        panel(5, "Total predicted vs measured (selected workloads)", "timeseries", (0, 19, 12, 8), [
            target(f"sum({predicted()})", "predicted", "A"),
            target(f"sum({measured()})", "measured (Kepler)", "B"),
        ], "Sum over the selected workloads."),
        panel(6, "Workloads now", "table", (12, 19, 12, 8), [
            target(predicted(), "", "A", instant=True),
            target(measured(), "", "B", instant=True),
            target(relative_error(), "", "C", instant=True),
        ], "Predicted and measured watts (all replicas) and the relative error, per workload.",
              transformations=[{"id": "merge", "options": {}}, {"id": "organize", "options": {
                  "excludeByName": {"Time": True},
                  "renameByName": {"Value #A": "predicted W", "Value #B": "measured W",
                                   "Value #C": "relative error"}}}]),
        panel(7, "Model", "stat", (0, 27, 24, 3), [
            target("count by (model_version) (podpower_model_info)", "{{model_version}}", "A"),
        ], "The model version(s) behind the predictions (podpower_model_info).", unit="none",
              options={"textMode": "name", "reduceOptions": {"calcs": ["lastNotNull"]}}),
    ]
    return {
        "uid": UID, "title": "podpower: predicted vs measured power", "tags": ["podpower", "kepler", "energy"],
        "description": "Power predicted from workload specs (k8sPodPCP) against Kepler measurements, and the "
                       "relative error that says when to retrain.",
        "editable": True, "schemaVersion": 39, "version": 1, "refresh": "1m", "timezone": "",
        "time": {"from": "now-24h", "to": "now"}, "graphTooltip": 1, "links": [], "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            _query_var("namespace", "namespace", "label_values(podpower_predicted_watts, namespace)"),
            _query_var("workload", "workload",
                       'label_values(podpower_predicted_watts{namespace=~"$namespace"}, workload)'),
        ]},
        "panels": panels,
    }


def configmap(text: str) -> str:
    body = "".join(f"    {line}\n" for line in text.splitlines())
    return (
        "# The Grafana dashboard \"podpower: predicted vs measured power\" (generated by k8s/grafana/dashboard.py:\n"
        "# edit that, then run it). kube-prometheus-stack's Grafana sidecar loads every ConfigMap labelled\n"
        "# grafana_dashboard: \"1\" (its default; in any namespace when sidecar.dashboards.searchNamespace=ALL).\n"
        "# Needs: Kepler, kube-state-metrics and the collector's exporter (collect watch --metrics-port 9108).\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: podpower-grafana-dashboard\n"
        "  namespace: podpower\n"
        "  labels:\n"
        "    app.kubernetes.io/part-of: podpower\n"
        '    grafana_dashboard: "1"\n'
        "data:\n"
        "  podpower-dashboard.json: |\n" + body
    )


def render() -> tuple[str, str]:
    text = json.dumps(dashboard(), indent=2) + "\n"
    return text, configmap(text)


if __name__ == "__main__":
    text, cm = render()
    JSON_PATH.write_text(text)
    CONFIGMAP_PATH.write_text(cm)
    print(f"wrote {JSON_PATH} and {CONFIGMAP_PATH}", file=sys.stderr)
