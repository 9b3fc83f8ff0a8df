"""Node-local mode: poll one kubelet's `/pods` instead of watching the API server.

In a large cluster a DaemonSet of collectors, each reading only its own node's kubelet, costs the
API server nothing, where one cluster-wide watch is a heavy client. The kubelet only knows pods,
so each ready pod is attributed to the workload that owns it (a ReplicaSet with a
`pod-template-hash` label → its Deployment; StatefulSet, DaemonSet, Job → themselves; no
controller → the Pod itself) and one request per workload is emitted, with `replicas` = its ready
pods on this node. Every poll is a full listing, so the tracker's `sync` (the same template-change
logic as the watch) decides what to emit and what is gone.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.adapters.collector.backoff import Backoff
from app.adapters.collector.config import SA_DIR, status_message
from app.adapters.collector.objects import WatchedObject, from_raw
from app.adapters.collector.tracker import Tracker
from app.core.errors import PodPowerError, UpstreamError
from app.core.kinds import WORKLOAD_KINDS
from app.core.schema import InferenceRequest
from app.workloads.owners import top_controller

log = logging.getLogger("app.adapters.collector.kubelet")

# Labels the controllers stamp on each pod (hashes, indexes, uids): they differ between pods of one
# workload and would make every pod look like a new template, so they are dropped.
POD_INSTANCE_LABELS = frozenset({
    "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "controller-uid", "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-completion-index", "pod-template-generation",
})


@dataclass
class KubeletOptions:
    endpoint: str
    token: str | None = None
    token_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    timeout: float = 10.0
    interval: float = 30.0
    namespaces: Sequence[str] = ()
    exclude_namespaces: frozenset[str] = field(default_factory=frozenset)
    once: bool = False
    backoff_base: float = 1.0
    backoff_cap: float = 60.0


def tls_context(ca_file: str | None, insecure: bool, client_cert: str | None,
                client_key: str | None) -> ssl.SSLContext:
    """The TLS settings for the kubelet: its CA (or none, with `--insecure`) and our client certificate."""
    for flag, path in (("--ca-file", ca_file), ("--client-cert", client_cert), ("--client-key", client_key)):
        if path and not Path(path).is_file():
            raise PodPowerError(f"{flag} {path}: file not found")
    if bool(client_cert) != bool(client_key):
        raise PodPowerError("--client-cert and --client-key go together")
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=ca_file)
    if client_cert and client_key:
        ctx.load_cert_chain(client_cert, client_key)
    return ctx


class KubeletClient:
    """GET `<endpoint>/pods` with a client certificate or a bearer token (re-read each poll: tokens rotate)."""

    def __init__(self, options: KubeletOptions) -> None:
        self.options = options
        self.endpoint = options.endpoint.rstrip("/")
        token_file = options.token_file
        if not options.token and not token_file and not options.client_cert and (SA_DIR / "token").exists():
            token_file = str(SA_DIR / "token")
        if token_file and not Path(token_file).is_file():
            raise PodPowerError(f"--token-file {token_file}: file not found")
        self.token_file = token_file
        verify: ssl.SSLContext | bool = True
        if self.endpoint.startswith("https://"):
            verify = tls_context(options.ca_file, options.insecure, options.client_cert, options.client_key)
        self._client = httpx.Client(verify=verify, timeout=options.timeout)

    def _headers(self) -> dict[str, str]:
        token = self.options.token
        if not token and self.token_file:
            token = Path(self.token_file).read_text(encoding="utf-8").strip()
        return {"Authorization": f"Bearer {token}"} if token else {}

    def pods(self) -> list[Mapping[str, Any]]:
        """The node's PodList items; one-line errors for refusals and unreachable kubelets."""
        url = f"{self.endpoint}/pods"
        try:
            resp = self._client.get(url, headers=self._headers())
        except httpx.HTTPError as exc:
            text = " ".join(str(exc).split())
            if "SSL" in text or "certificate" in text:
                raise UpstreamError(f"TLS with the kubelet at {self.endpoint} failed ({text}); check --ca-file "
                                    "(or --insecure) and --client-cert/--client-key") from None
            raise UpstreamError(f"cannot reach the kubelet at {self.endpoint}: {type(exc).__name__}: {text}") from None
        if resp.status_code in (401, 403):
            detail = status_message(resp.text) or resp.reason_phrase
            raise KubeletRefused(
                f"the kubelet at {self.endpoint} refused GET /pods ({resp.status_code} {resp.reason_phrase}: "
                f"{detail}); give the identity get on nodes/proxy (nodes/pods with KubeletFineGrainedAuthz)"
            )
        if resp.status_code != 200:
            raise UpstreamError(f"the kubelet at {self.endpoint} answered GET /pods with HTTP {resp.status_code}: "
                                f"{' '.join(resp.text[:200].split())}")
        try:
            body = resp.json()
        except ValueError:
            raise UpstreamError(f"the kubelet at {self.endpoint}: GET /pods is not JSON") from None
        if not isinstance(body, Mapping) or body.get("kind") != "PodList" or not isinstance(body.get("items"), list):
            raise UpstreamError(f"the kubelet at {self.endpoint}: GET /pods did not return a PodList")
        return [p for p in body["items"] if isinstance(p, Mapping)]

    def close(self) -> None:
        self._client.close()


class KubeletRefused(UpstreamError):
    """401/403 from the kubelet: not transient, so polling stops."""


def pod_ready(pod: Mapping[str, Any]) -> bool:
    """Running, and every container of the spec reports `ready: true` (init containers excluded)."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    wanted = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, Mapping)]
    ready = {c.get("name"): bool(c.get("ready")) for c in status.get("containerStatuses") or []
             if isinstance(c, Mapping)}
    return bool(wanted) and all(ready.get(name, False) for name in wanted)


def owning_workload(obj: WatchedObject) -> tuple[str, str]:
    """(kind, name) of the workload a pod belongs to, by the one owner rule (`app.workloads.owners`).

    The kubelet sees pods only, so a ReplicaSet's Deployment comes from the `pod-template-hash`
    label and a Job's CronJob from the Job's generated name. An owner that is not a workload kind
    (a custom controller) leaves the pod as its own workload: only those kinds can be priced.
    """
    owner = obj.controller
    if owner is None:
        return "Pod", obj.name
    found = top_controller(obj.name, owner.kind, owner.name, template_hash=obj.labels.get("pod-template-hash"))
    return (found.kind, found.name) if found.kind in WORKLOAD_KINDS else ("Pod", obj.name)


def workloads_from_pods(pods: Iterable[Mapping[str, Any]], source: str = "kubelet") -> list[WatchedObject]:
    """Ready pods → one `WatchedObject` per owning workload.

    When pods of one workload run different templates (a rollout in progress), the template of
    the most pods wins (ties: the first by pod name), and `replicas` counts all of them.
    """
    groups: dict[tuple[str, str, str], list[WatchedObject]] = defaultdict(list)
    skipped = 0
    for pod in pods:
        if not pod_ready(pod):
            skipped += 1
            continue
        obj = from_raw(pod, "Pod", source)
        kind, name = owning_workload(obj)
        groups[(kind, obj.namespace, name)].append(obj)
    if skipped:
        log.debug("%d pod(s) not ready, skipped", skipped)
    out: list[WatchedObject] = []
    for (kind, namespace, name), members in sorted(groups.items()):
        members.sort(key=lambda o: o.name)
        good = [(o, o.request) for o in members if o.request is not None]
        if not good:
            out.append(WatchedObject(kind, namespace, name, error=members[0].error))
            continue
        stable = [_as_workload(req, kind, name, len(members)) for _, req in good]
        counts = Counter(r.spec_hash() for r in stable)
        best = max(stable, key=lambda r: counts[r.spec_hash()])  # max keeps the first among equals
        out.append(WatchedObject(kind, namespace, name, request=best, labels=dict(best.labels)))
    return out


def _as_workload(req: InferenceRequest, kind: str, name: str, replicas: int) -> InferenceRequest:
    labels = {k: v for k, v in req.labels.items() if k not in POD_INSTANCE_LABELS}
    return req.model_copy(update={"workload_kind": kind, "workload_name": name, "replicas": replicas,
                                  "labels": labels})


def run_kubelet(client: KubeletClient, tracker: Tracker, options: KubeletOptions,
                stop: threading.Event | None = None) -> int:
    """Poll until `stop` (or once); returns the number of polls. The first poll's errors are fatal."""
    stop = stop or threading.Event()
    excluded = options.exclude_namespaces
    allowed = set(options.namespaces)

    def admits(namespace: str) -> bool:
        return (not allowed or namespace in allowed) and namespace not in excluded

    def in_scope(key: str) -> bool:
        return admits(key.split("/", 2)[1])

    backoff = Backoff(options.backoff_base, options.backoff_cap)
    polls = 0
    while not stop.is_set():
        try:
            pods = client.pods()
        except KubeletRefused:
            raise
        except UpstreamError as exc:
            if polls == 0:
                raise
            delay = backoff.next()
            log.warning("%s; retrying in %.1fs", exc, delay)
            stop.wait(delay)
            continue
        backoff.reset()
        workloads = [w for w in workloads_from_pods(pods, f"kubelet {client.endpoint}") if admits(w.namespace)]
        emitted = tracker.sync(workloads, in_scope, initial=polls == 0)
        polls += 1
        tracker.state.save()
        log.info("poll %d: %d pod(s), %d ready workload(s), %d emitted", polls, len(pods), len(workloads), emitted)
        if options.once:
            break
        stop.wait(options.interval)
    tracker.state.save()
    return polls
