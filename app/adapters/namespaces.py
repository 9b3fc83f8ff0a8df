"""Watch-backed caches for the admission webhook: namespace power budgets and predicted totals per namespace.

The webhook must answer in milliseconds, so it never calls the Kubernetes API while a review waits:
background threads keep copies current with the API's informer protocol (list, then watch from the
list's resourceVersion with bookmarks; a clean end or a dropped stream resumes from the last
resourceVersion seen; `410 Gone` lists again; other failures retry with jittered backoff and are
logged, never raised: the webhook keeps answering with the last state it has).

What is kept:
  * `Namespace` objects → the raw value of the budget annotation (`podpower.io/budget-watts`);
  * workload objects (Deployments, StatefulSets, …) → the predicted total annotation the mutating
    webhook wrote (`podpower.io/predicted-watts-total`), for objects no controller owns (a
    Deployment's ReplicaSets and Pods would count its watts again), grouped by namespace.
The annotation keys and the ownership rule come from the caller (`app.serving.admission`), so they
are written in one place. The reads (`budget`, `others_w`) take a lock and cost microseconds.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.adapters.collector.backoff import Backoff
from app.adapters.collector.config import Cluster, api_error, connection_error
from app.adapters.collector.watch import _shutdown
from app.adapters.kube_watch import Gone, watch_events
from app.core.kinds import KindInfo

log = logging.getLogger("app.adapters.namespaces")

Ident = Callable[[Mapping[str, Any]], tuple[str, str]]
"""object → (group, key): the namespace it is counted in and its key inside that group."""
Value = Callable[[Mapping[str, Any]], Any]
"""object → the value kept for it; None: keep nothing (and forget what was kept)."""


class Informer:
    """List + watch one cluster-wide resource on a daemon thread, keeping `{group: {key: value}}`."""

    def __init__(self, cluster: Cluster, api_class: str, list_method: str, resource: str, ident: Ident,
                 value: Value, *, watch_timeout: int = 300, page_size: int = 500, backoff_base: float = 0.5,
                 backoff_cap: float = 30.0, connect_timeout: float = 10.0) -> None:
        from kubernetes import client

        self._fn = getattr(getattr(client, api_class)(cluster.api_client), list_method)
        self.cluster = cluster
        self.resource = resource
        self.ident = ident
        self.value = value
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.backoff = Backoff(backoff_base, backoff_cap)
        self.connect_timeout = connect_timeout
        self.data: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()  # set after the first complete list
        self.resource_version = ""
        self.error: str | None = None  # the last failure, until the next success
        self._stop = threading.Event()
        self._resp: Any = None
        self._thread: threading.Thread | None = None

    # --- state -----------------------------------------------------------------------------------
    def _put(self, data: dict[str, dict[str, Any]], obj: Mapping[str, Any], deleted: bool = False) -> None:
        group, key = self.ident(obj)
        value = None if deleted else self.value(obj)
        bucket = data.setdefault(group, {})
        if value is None:
            bucket.pop(key, None)
            if not bucket:
                data.pop(group, None)
        else:
            bucket[key] = value

    def get(self, group: str, key: str) -> Any:
        with self.lock:
            return self.data.get(group, {}).get(key)

    def values(self, group: str) -> list[Any]:
        with self.lock:
            return list(self.data.get(group, {}).items())

    # --- API calls -------------------------------------------------------------------------------
    def list(self) -> None:
        """A complete, paginated listing replaces the kept state at once (deletions missed are dropped)."""
        data: dict[str, dict[str, Any]] = {}
        cont: str | None = None
        rv = ""
        while True:
            kwargs: dict[str, Any] = {"limit": self.page_size, "_preload_content": False,
                                      "_request_timeout": (self.connect_timeout, 60)}
            if cont:
                kwargs["_continue"] = cont
            resp = self._fn(**kwargs)
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            meta = body.get("metadata") or {}
            rv = rv or str(meta.get("resourceVersion") or "")
            for item in body.get("items") or []:
                if isinstance(item, Mapping):
                    self._put(data, item)
            cont = meta.get("continue") or None
            if not cont:
                break
        with self.lock:
            self.data = data
        self.resource_version = rv
        self.synced.set()

    def _watch_once(self) -> int:
        resp = self._fn(watch=True, resource_version=self.resource_version, allow_watch_bookmarks=True,
                        timeout_seconds=self.watch_timeout, _preload_content=False,
                        _request_timeout=(self.connect_timeout, self.watch_timeout + 30))
        self._resp = resp
        n = 0
        try:
            if self._stop.is_set():
                return n
            for etype, obj, rv in watch_events(resp):
                n += 1
                if etype in ("ADDED", "MODIFIED", "DELETED"):
                    with self.lock:
                        self._put(self.data, obj, deleted=etype == "DELETED")
                self.resource_version = rv or self.resource_version
                if self._stop.is_set():
                    break
        finally:
            self._resp = None
            resp.release_conn()
        return n

    # --- the loop --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer-{self.resource}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        resp = self._resp
        if resp is not None:
            _shutdown(resp)
        if self._thread is not None:
            self._thread.join(timeout)

    def _failed(self, message: str) -> None:
        delay = self.backoff.next()
        if message != self.error:
            log.warning("%s; retrying (next in %.1fs)", message, delay)
        self.error = message
        self._stop.wait(delay)

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        relist = True
        while not self._stop.is_set():
            verb = "list" if relist else "watch"
            try:
                if relist:
                    self.list()
                    relist = False
                    log.info("listed %s at resourceVersion %s", self.resource, self.resource_version)
                started = time.monotonic()
                n = self._watch_once()
                self.error = None
                if n == 0 and time.monotonic() - started < 1.0:
                    self._stop.wait(self.backoff.next())  # a server that closes at once is not spun on
                else:
                    self.backoff.reset()
            except Gone:
                relist = True
            except ApiException as exc:
                if self._stop.is_set():
                    break
                if exc.status == 410:
                    relist = True
                    continue
                self._failed(str(api_error(exc, verb, self.resource, "at the cluster scope", self.cluster)))
            except Exception as exc:  # refused, reset, TLS: urllib3/OSError/JSON errors
                if self._stop.is_set():
                    break
                self._failed(f"{verb} of {self.resource}: {connection_error(exc, self.cluster)}")


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _annotation(obj: Mapping[str, Any], key: str) -> str | None:
    annotations = _meta(obj).get("annotations")
    value = annotations.get(key) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


def _watts(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value >= 0 else None


class NamespacePower:
    """Budgets and predicted totals per namespace, kept current by informers (see the module docstring)."""

    def __init__(self, cluster: Cluster, *, budget_key: str, total_key: str, kinds: Sequence[KindInfo],
                 controlled: Callable[[Mapping[str, Any]], bool], **informer_options: Any) -> None:
        def ns_ident(obj: Mapping[str, Any]) -> tuple[str, str]:
            name = str(_meta(obj).get("name") or "")
            return name, name

        def total(obj: Mapping[str, Any]) -> float | None:
            return None if controlled(obj) else _watts(_annotation(obj, total_key))

        self.namespaces = Informer(cluster, "CoreV1Api", "list_namespace", "namespaces", ns_ident,
                                   lambda obj: _annotation(obj, budget_key), **informer_options)
        self.workloads = [
            Informer(cluster, k.api_class, k.list_all, k.resource, _workload_ident(k.kind), total, **informer_options)
            for k in kinds
        ]

    @property
    def informers(self) -> list[Informer]:
        return [self.namespaces, *self.workloads]

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    def stop(self) -> None:
        for informer in self.informers:
            informer._stop.set()
        for informer in self.informers:
            informer.stop()

    def wait_synced(self, timeout: float) -> bool:
        return all(i.synced.wait(timeout) for i in self.informers)

    def budget(self, namespace: str) -> str | None:
        """The namespace's budget annotation as written (None: no budget, or the namespace is not known yet)."""
        return self.namespaces.get(namespace, namespace)  # type: ignore[no-any-return]

    def others_w(self, namespace: str, exclude: str) -> float:
        """Predicted W of the namespace's uncontrolled workloads, without the one keyed `exclude`."""
        return sum(w for informer in self.workloads for key, w in informer.values(namespace) if key != exclude)


def _workload_ident(kind: str) -> Ident:
    def ident(obj: Mapping[str, Any]) -> tuple[str, str]:
        meta = _meta(obj)
        namespace = str(meta.get("namespace") or "")
        return namespace, f"{kind}/{namespace}/{meta.get('name')}"

    return ident
