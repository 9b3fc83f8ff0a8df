"""Request and response examples shown in Swagger UI (/docs); tests post every one of them.

Kept as literals so the OpenAPI document is built without reading files or loading the model.
"""

from __future__ import annotations

from typing import Any

PREDICT_CONTAINERS: dict[str, Any] = {
    "namespace": "shop",
    "workload_kind": "Deployment",
    "workload_name": "checkout",
    "replicas": 2,
    "containers": [
        {
            "name": "checkout",
            "image": "ghcr.io/open-telemetry/demo:2.1.3-checkout",
            "req_cpu_mcpu": 250,
            "req_mem_mib": 256,
            "lim_mem_mib": 512,
        }
    ],
}

PREDICT_POD_SPEC: dict[str, Any] = {
    "namespace": "default",
    "workload_kind": "Pod",
    "workload_name": "nginx-kata",
    "pod_spec": {
        "runtimeClassName": "kata",
        "overhead": {"cpu": "250m", "memory": "160Mi"},
        "containers": [
            {
                "name": "nginx",
                "image": "nginx:1.27",
                "resources": {
                    "requests": {"cpu": "500m", "memory": "256Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
            }
        ],
    },
}

PREDICT_EXAMPLES: dict[str, dict[str, Any]] = {
    "containers": {
        "summary": "Containers form",
        "description": "Resources already in base units: mcpu (millicores) and MiB.",
        "value": PREDICT_CONTAINERS,
    },
    "pod_spec": {
        "summary": "pod_spec form",
        "description": "A raw Kubernetes PodSpec; the server parses quantities and derives effective resources.",
        "value": PREDICT_POD_SPEC,
    },
}

YAML_ONE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          resources:
            requests: {cpu: 500m, memory: 256Mi}
            limits: {cpu: "1", memory: 512Mi}
"""

YAML_MANY = YAML_ONE + """\
---
apiVersion: batch/v1
kind: Job
metadata:
  name: nightly-report
  namespace: shop
spec:
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: report
          image: python:3.12-slim
          command: ["python", "-m", "report"]
          resources:
            requests: {cpu: "2", memory: 4Gi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""

YAML_EXAMPLES: dict[str, dict[str, Any]] = {
    "one": {"summary": "One workload (a Deployment)", "value": YAML_ONE},
    "many": {
        "summary": "Several documents: a Deployment, a Job and a Service (skipped)",
        "value": YAML_MANY,
    },
}

PREDICTION_EXAMPLE: dict[str, Any] = {
    "namespace": "shop",
    "workload_kind": "Deployment",
    "workload_name": "web",
    "spec_hash": "3f9a1c0d2b7e4a55",
    "replicas": 3,
    "pred_avg_power_w": 4.2,
    "pred_energy_step_j": 252.0,
    "pred_power_w_total": 12.6,
    "model_version": "knn-0c1d2e3f4a5b",
}

MULTI_PREDICTION_EXAMPLE: dict[str, Any] = {
    "predictions": [
        PREDICTION_EXAMPLE,
        {
            "namespace": "shop",
            "workload_kind": "Job",
            "workload_name": "nightly-report",
            "spec_hash": "a0b1c2d3e4f50617",
            "replicas": 2,
            "pred_avg_power_w": 9.5,
            "pred_energy_step_j": 570.0,
            "pred_power_w_total": 19.0,
            "model_version": "knn-0c1d2e3f4a5b",
        },
    ],
    "skipped": [{"document": 3, "kind": "Service", "name": "web", "reason": "Service is not a workload"}],
    "pred_power_w_total": 31.6,
}
