"""The workload kinds the collector can watch, and where the API serves them."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import InputError


@dataclass(frozen=True)
class KindInfo:
    """One watchable kind: its API group/version, plural, and the client methods that list it."""

    kind: str
    group: str  # "" = core
    version: str
    plural: str
    api_class: str  # class name in kubernetes.client
    list_all: str  # method listing across namespaces
    list_namespaced: str  # method listing one namespace

    @property
    def resource(self) -> str:
        """`deployments.apps`, `pods`: the name RBAC rules and API errors use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None) -> str:
        """The REST path, e.g. `/apis/apps/v1/namespaces/shop/deployments`."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" if namespace else f"{base}/{self.plural}"


def _k(kind: str, group: str, plural: str, api: str, snake: str) -> KindInfo:
    return KindInfo(kind, group, "v1", plural, api, f"list_{snake}_for_all_namespaces", f"list_namespaced_{snake}")


KINDS: dict[str, KindInfo] = {
    k.kind: k
    for k in (
        _k("Deployment", "apps", "deployments", "AppsV1Api", "deployment"),
        _k("StatefulSet", "apps", "statefulsets", "AppsV1Api", "stateful_set"),
        _k("DaemonSet", "apps", "daemonsets", "AppsV1Api", "daemon_set"),
        _k("ReplicaSet", "apps", "replicasets", "AppsV1Api", "replica_set"),
        _k("Job", "batch", "jobs", "BatchV1Api", "job"),
        _k("CronJob", "batch", "cronjobs", "BatchV1Api", "cron_job"),
        _k("ReplicationController", "", "replicationcontrollers", "CoreV1Api", "replication_controller"),
        _k("Pod", "", "pods", "CoreV1Api", "pod"),
    )
}
DEFAULT_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
_ALIASES = {
    **{k.lower(): k for k in KINDS},
    **{v.plural: k for k, v in KINDS.items()},
    "deploy": "Deployment", "sts": "StatefulSet", "ds": "DaemonSet", "rs": "ReplicaSet", "cj": "CronJob",
    "rc": "ReplicationController", "po": "Pod",
}


def parse_kinds(names: list[str] | tuple[str, ...]) -> list[KindInfo]:
    """Kind names as users type them (`Deployment`, `deployments`, `deploy`), deduplicated, in order."""
    out: list[KindInfo] = []
    for name in names:
        kind = _ALIASES.get(name.lower())
        if kind is None:
            raise InputError(f"unknown kind {name!r}; expected some of {', '.join(KINDS)}", source="--kinds")
        if KINDS[kind] not in out:
            out.append(KINDS[kind])
    return out
