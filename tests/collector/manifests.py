"""Builders for the Kubernetes objects the collector tests serve (what `kubectl get -o json` shows)."""

from __future__ import annotations

import copy
from typing import Any


def container(name: str = "app", image: str = "nginx:1.27", cpu: str = "250m",
              memory: str = "256Mi") -> dict[str, Any]:
    return {"name": name, "image": image, "resources": {"requests": {"cpu": cpu, "memory": memory}}}


def deployment(name: str, namespace: str = "shop", *, image: str = "nginx:1.27", cpu: str = "250m",
               replicas: int = 2, ready_replicas: int = 0) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name},
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [container(image=image, cpu=cpu)]}}},
        "status": {"replicas": replicas, "readyReplicas": ready_replicas, "observedGeneration": 1},
    }


def statefulset(name: str, namespace: str = "data") -> dict[str, Any]:
    d = deployment(name, namespace, image="postgres:16", cpu="1")
    d["apiVersion"], d["kind"] = "apps/v1", "StatefulSet"
    return d


def job(name: str, namespace: str = "batch", *, owner: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"parallelism": 2, "completions": 4,
                 "template": {"spec": {"restartPolicy": "Never", "containers": [container(image="busybox:1.36")]}}},
    }
    if owner:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "CronJob", "name": owner,
                                               "uid": f"uid-{owner}", "controller": True}]
    return obj


def cronjob(name: str, namespace: str = "batch") -> dict[str, Any]:
    j = job(name, namespace)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": namespace},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": j["spec"]}}}


def pod(name: str, namespace: str = "shop", *, owner: tuple[str, str] | None = None,
        labels: dict[str, str] | None = None, containers: list[dict[str, Any]] | None = None,
        ready: list[bool] | None = None, phase: str = "Running", cpu: str = "100m") -> dict[str, Any]:
    """A pod as the API server or kubelet shows it, with status and (optionally) a controller reference."""
    conts = containers or [container(cpu=cpu)]
    ready = [True] * len(conts) if ready is None else ready
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}), "uid": f"uid-pod-{name}"},
        "spec": {"containers": copy.deepcopy(conts), "nodeName": "node-1"},
        "status": {"phase": phase, "containerStatuses": [
            {"name": c["name"], "ready": r, "restartCount": 0, "image": c["image"]} for c, r in zip(conts, ready,
                                                                                                    strict=True)]},
    }
    if owner:
        obj["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                               "uid": f"uid-{owner[1]}", "controller": True}]
    return obj
