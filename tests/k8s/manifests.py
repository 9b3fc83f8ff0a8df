"""Reading the manifests under k8s/ with plain PyYAML, and walking their pod templates.

Shared by the k8s tests so each states its property, not the YAML plumbing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO

K8S = REPO / "k8s"
IMAGE_UID = 10001  # the Dockerfile's USER


@dataclass(frozen=True)
class Doc:
    """One YAML document of a manifest file."""

    path: Path
    index: int
    obj: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind"))

    @property
    def name(self) -> str:
        return str(self.obj.get("metadata", {}).get("name"))

    @property
    def namespace(self) -> str | None:
        return self.obj.get("metadata", {}).get("namespace")

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}#{self.index} {self.kind}/{self.name}"


NOT_MANIFESTS = (REPO / "example" / "ci",)
"""YAML that is not Kubernetes objects: the CI pipelines shipped for `diff` (GitHub Actions, GitLab CI)."""


def manifest_files(*dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*") if p.suffix in (".yaml", ".yml")
                  and not any(p.is_relative_to(n) for n in NOT_MANIFESTS))


def load_docs(*dirs: Path) -> list[Doc]:
    docs: list[Doc] = []
    for path in manifest_files(*dirs):
        for i, obj in enumerate(yaml.safe_load_all(path.read_text())):
            if obj is not None:
                docs.append(Doc(path, i, obj))
    return docs


@functools.cache
def _k8s_docs() -> tuple[Doc, ...]:
    return tuple(load_docs(K8S))


def k8s_docs() -> list[Doc]:
    """The k8s/ documents, parsed once per session (treat them as read-only; deep-copy to modify)."""
    return list(_k8s_docs())


def find(kind: str, name: str) -> Doc:
    hits = [d for d in k8s_docs() if d.kind == kind and d.name == name]
    assert len(hits) == 1, f"expected exactly one {kind}/{name} under k8s/, found {len(hits)}"
    return hits[0]


def pod_spec(doc: Doc) -> dict[str, Any] | None:
    """The pod spec a workload object runs (Deployment/Job/CronJob/…), or None for other kinds."""
    spec = doc.obj.get("spec", {})
    if doc.kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if doc.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return spec["template"]["spec"]
    if doc.kind == "Pod":
        return spec
    return None


def workloads() -> Iterator[tuple[Doc, dict[str, Any]]]:
    for doc in k8s_docs():
        spec = pod_spec(doc)
        if spec is not None:
            yield doc, spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers first (they run first), then the main containers."""
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """Literal `value:` env entries (valueFrom entries are left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def config_data() -> dict[str, str]:
    return dict(find("ConfigMap", "podpower-config").obj["data"])


def expand(arg: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion in command/args (unknown references stay as they are)."""
    for key, value in env.items():
        arg = arg.replace(f"$({key})", value)
    return arg


def resolved_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's env with ConfigMap references to podpower-config resolved."""
    data = config_data()
    env = container_env(container)
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("configMapKeyRef")
        if ref:
            assert ref["name"] == "podpower-config", f"env {e['name']} reads ConfigMap {ref['name']}"
            env[e["name"]] = data[ref["key"]]
    return env


def app_argv(container: dict[str, Any]) -> list[str] | None:
    """For `python -m app …` containers: the arguments after `app`, with $(VAR) expanded; else None."""
    args = list(container.get("args", []))
    if args[:3] != ["python", "-m", "app"]:
        return None
    env = resolved_env(container)
    return [expand(a, env) for a in args[3:]]
