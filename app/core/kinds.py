"""The workload kinds, as one table of facts: where each keeps its pod template, how many pods it
runs, whether it runs to completion, and where the Kubernetes API serves it.

Every other module asks this table: the converter (template path, replicas rule), the schema (the
`WorkloadKind` enum), the collector (API group, plural, client methods), the RBAC test, owner
resolution and horizon energy (batch kinds). Adding a kind is one row here, plus a `replicas` rule
in `app/workloads/convert.py` only if none of the existing rules fits. It lives in `core`, the lowest
layer, because the schema's enum is built from it. Sources: the Kubernetes API reference (group,
version, plural, template path) and the `kubernetes` Python client (class and method names, kept
here as strings: this module imports no client).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.errors import InputError

ReplicasRule = Literal["spec.replicas", "parallelism", "one", "one-per-node"]


@dataclass(frozen=True)
class KindInfo:
    """One workload kind.

    `template` is the path of the pod template in the object (empty: the object is a pod);
    `replicas` how many pods it runs (`spec.replicas` default 1; `parallelism`: a Job run's
    parallelism capped by completions; `one`; `one-per-node`: a DaemonSet, 1 per node); `batch`:
    its pods run to completion, so energy is per run; `api_class`/`snake` name the client's
    `list_<snake>_for_all_namespaces` / `list_namespaced_<snake>` on `kubernetes.client.<api_class>`.
    """

    kind: str
    group: str  # "" = core
    version: str
    plural: str
    template: tuple[str, ...]
    replicas: ReplicasRule
    batch: bool
    api_class: str
    snake: str
    short: tuple[str, ...] = ()
    watched_by_default: bool = True

    @property
    def list_all(self) -> str:
        return f"list_{self.snake}_for_all_namespaces"

    @property
    def list_namespaced(self) -> str:
        return f"list_namespaced_{self.snake}"

    @property
    def resource(self) -> str:
        """`deployments.apps`, `pods`: the name RBAC rules and API errors use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None) -> str:
        """The REST path, e.g. `/apis/apps/v1/namespaces/shop/deployments`."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" if namespace else f"{base}/{self.plural}"


_POD_TEMPLATE = ("spec", "template")
KINDS: dict[str, KindInfo] = {
    k.kind: k
    for k in (
        KindInfo("Deployment", "apps", "v1", "deployments", _POD_TEMPLATE, "spec.replicas", False,
                 "AppsV1Api", "deployment", ("deploy",)),
        KindInfo("StatefulSet", "apps", "v1", "statefulsets", _POD_TEMPLATE, "spec.replicas", False,
                 "AppsV1Api", "stateful_set", ("sts",)),
        KindInfo("DaemonSet", "apps", "v1", "daemonsets", _POD_TEMPLATE, "one-per-node", False,
                 "AppsV1Api", "daemon_set", ("ds",)),
        KindInfo("ReplicaSet", "apps", "v1", "replicasets", _POD_TEMPLATE, "spec.replicas", False,
                 "AppsV1Api", "replica_set", ("rs",), watched_by_default=False),
        KindInfo("ReplicationController", "", "v1", "replicationcontrollers", _POD_TEMPLATE, "spec.replicas", False,
                 "CoreV1Api", "replication_controller", ("rc",), watched_by_default=False),
        KindInfo("Job", "batch", "v1", "jobs", _POD_TEMPLATE, "parallelism", True, "BatchV1Api", "job"),
        KindInfo("CronJob", "batch", "v1", "cronjobs", ("spec", "jobTemplate", "spec", "template"), "parallelism",
                 True, "BatchV1Api", "cron_job", ("cj",)),
        KindInfo("Pod", "", "v1", "pods", (), "one", False, "CoreV1Api", "pod", ("po",)),
    )
}
WORKLOAD_KINDS: tuple[str, ...] = tuple(KINDS)
BATCH_KINDS: tuple[str, ...] = tuple(k for k, info in KINDS.items() if info.batch)
DEFAULT_KINDS: tuple[str, ...] = tuple(k for k, info in KINDS.items() if info.watched_by_default)
_ALIASES = {
    **{k.lower(): k for k in KINDS},
    **{info.plural: k for k, info in KINDS.items()},
    **{alias: k for k, info in KINDS.items() for alias in info.short},
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
