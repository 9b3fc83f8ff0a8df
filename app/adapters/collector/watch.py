"""List + watch workload kinds on the API server and feed the tracker, losing and duplicating nothing.

One thread per (kind, namespace) scope runs the informer loop the Kubernetes API expects: list
(paginated) → watch from the list's resourceVersion with bookmarks → on a clean timeout or a
dropped connection, watch again from the last resourceVersion seen → on `410 Gone`, list again.
The threads only parse and convert; every decision (emit, forget, persist) happens on the one
thread that runs `Collector.run`, in the order events arrived, so no locks guard the state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.adapters.collector.backoff import Backoff
from app.adapters.collector.config import Cluster, api_error, connection_error
from app.adapters.collector.objects import WatchedObject, from_raw
from app.adapters.collector.tracker import Tracker
from app.adapters.kube_watch import Gone, watch_events
from app.core.errors import PodPowerError
from app.core.kinds import KindInfo

log = logging.getLogger("app.adapters.collector.watch")


@dataclass
class WatchOptions:
    """How to watch; the defaults match a production deployment, tests shorten the timings."""

    kinds: Sequence[KindInfo]
    namespaces: Sequence[str] = ()  # empty: all namespaces
    exclude_namespaces: frozenset[str] = frozenset()
    include_owned_pods: bool = False
    watch_timeout: int = 300  # server-side timeoutSeconds of one watch request
    page_size: int = 500
    connect_timeout: float = 10.0
    list_timeout: float = 60.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    state_interval: float = 1.0  # seconds between state-file writes while events flow
    once: bool = False  # list, emit, exit


@dataclass(frozen=True)
class Scope:
    """What one watcher covers: one kind, in one namespace or all (minus the excluded ones)."""

    info: KindInfo
    namespace: str | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)

    def admits(self, namespace: str) -> bool:
        return (self.namespace is None or namespace == self.namespace) and namespace not in self.exclude

    def covers(self, key: str) -> bool:
        """Whether a tracked `Kind/namespace/name` belongs to this scope (for deletions found on relist)."""
        kind, namespace, _ = key.split("/", 2)
        return kind == self.info.kind and self.admits(namespace)

    @property
    def where(self) -> str:
        return f"in namespace {self.namespace}" if self.namespace else "in all namespaces"

    @property
    def field_selector(self) -> str | None:
        if self.namespace or not self.exclude:
            return None
        return ",".join(f"metadata.namespace!={ns}" for ns in sorted(self.exclude))


@dataclass
class Listed:
    scope: Scope
    objects: list[WatchedObject]
    initial: bool


@dataclass
class Event:
    scope: Scope
    type: str
    obj: WatchedObject


@dataclass
class Failed:
    scope: Scope
    error: BaseException


def _shutdown(resp: Any) -> None:
    """Unblock a thread reading `resp` by shutting its socket down (what `watch.Watch.stop` does).

    The socket hangs off the pooled connection, or, when the server said `Connection: close`
    (http.client then detaches it from the connection), off the response's file object.
    """
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    if sock is None:
        raw = getattr(getattr(getattr(resp, "_fp", None), "fp", None), "raw", None)
        sock = getattr(raw, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class ScopeWatcher:
    """The list/watch loop for one scope; runs on its own thread and reports through `out`."""

    def __init__(self, cluster: Cluster, scope: Scope, options: WatchOptions, out: queue.Queue[Any],
                 stop: threading.Event) -> None:
        from kubernetes import client

        self.cluster = cluster
        self.scope = scope
        self.options = options
        self.out = out
        self.stop_event = stop
        api = getattr(client, scope.info.api_class)(cluster.api_client)
        info = scope.info
        self._fn: Callable[..., Any] = getattr(api, info.list_namespaced if scope.namespace else info.list_all)
        self.resource_version = ""
        self._resp: Any = None
        self._thread: threading.Thread | None = None
        self.lists = 0  # how many list calls were made (initial + relists)
        self.watches = 0  # how many watch requests were opened

    # --- API calls -------------------------------------------------------------------------------
    def _call(self, **kwargs: Any) -> Any:
        if self.scope.field_selector:
            kwargs["field_selector"] = self.scope.field_selector
        kwargs["_preload_content"] = False
        if self.scope.namespace:
            return self._fn(self.scope.namespace, **kwargs)
        return self._fn(**kwargs)

    def list(self) -> tuple[list[WatchedObject], str]:
        """A consistent, paginated listing: the objects and the resourceVersion to watch from."""
        from kubernetes.client.exceptions import ApiException

        objects: list[WatchedObject] = []
        cont: str | None = None
        rv = ""
        timeout = (self.options.connect_timeout, self.options.list_timeout)
        while True:
            kwargs: dict[str, Any] = {"limit": self.options.page_size, "_request_timeout": timeout}
            if cont:
                kwargs["_continue"] = cont
            try:
                resp = self._call(**kwargs)
            except ApiException as exc:
                if exc.status == 410 and cont:  # the continue token expired: start the listing over
                    log.info("list of %s %s: continue token expired, listing again", self.scope.info.resource,
                             self.scope.where)
                    objects, cont, rv = [], None, ""
                    continue
                raise
            try:
                body = json.loads(resp.data)
            finally:
                resp.release_conn()
            meta = body.get("metadata") or {}
            rv = rv or str(meta.get("resourceVersion") or "")
            kind = self.scope.info.kind
            for item in body.get("items") or []:
                obj = from_raw(item, kind, f"list {self.scope.info.resource}")
                if self.scope.admits(obj.namespace):
                    objects.append(obj)
            cont = meta.get("continue") or None
            if not cont:
                break
        self.lists += 1
        return objects, rv

    def _watch_once(self) -> int:
        """One watch request from `self.resource_version`; returns the number of events received."""
        timeout = self.options.watch_timeout
        resp = self._call(watch=True, resource_version=self.resource_version, allow_watch_bookmarks=True,
                          timeout_seconds=timeout,
                          _request_timeout=(self.options.connect_timeout, timeout + 30))
        self._resp = resp
        self.watches += 1
        n = 0
        kind = self.scope.info.kind
        try:
            if self.stop_event.is_set():
                return n
            for etype, payload, rv in watch_events(resp):
                n += 1
                if etype == "BOOKMARK":
                    self.resource_version = rv or self.resource_version
                    continue
                if etype not in ("ADDED", "MODIFIED", "DELETED"):
                    log.warning("watch of %s: unknown event type %r ignored", self.scope.info.resource, etype)
                    continue
                obj = from_raw(payload, kind, f"watch {self.scope.info.resource}", convert=etype != "DELETED")
                if self.scope.admits(obj.namespace):
                    self.out.put(Event(self.scope, etype, obj))
                self.resource_version = rv or self.resource_version
                if self.stop_event.is_set():
                    break
        finally:
            self._resp = None
            resp.release_conn()
        return n

    # --- the loop --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"watch-{self.scope.info.plural}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        resp = self._resp
        if resp is not None:
            _shutdown(resp)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        backoff = Backoff(self.options.backoff_base, self.options.backoff_cap)
        relist = False
        what = f"{self.scope.info.resource} {self.scope.where}"
        while not self.stop_event.is_set():
            verb = "list" if relist else "watch"
            try:
                if relist:
                    objects, self.resource_version = self.list()
                    self.out.put(Listed(self.scope, objects, initial=False))
                    log.info("relisted %s: %d object(s) at resourceVersion %s", what, len(objects),
                             self.resource_version)
                    relist = False
                started = time.monotonic()
                n = self._watch_once()
                if self.stop_event.is_set():
                    break
                if n == 0 and time.monotonic() - started < 1.0:
                    delay = backoff.next()  # the server closes at once: do not spin
                    log.debug("watch of %s closed immediately; again in %.2fs", what, delay)
                    self.stop_event.wait(delay)
                else:
                    backoff.reset()
                    log.debug("watch of %s ended; resuming from resourceVersion %s", what, self.resource_version)
            except Gone as exc:
                log.info("watch of %s: resourceVersion %s expired (410 Gone: %s); relisting", what,
                         self.resource_version, exc)
                relist = True
            except ApiException as exc:
                if self.stop_event.is_set():
                    break
                if exc.status == 410:
                    relist = True
                    continue
                if exc.status in (401, 403, 404):
                    self.out.put(Failed(self.scope, api_error(exc, verb, self.scope.info.resource,
                                                              self.scope.where, self.cluster)))
                    return
                delay = backoff.next()
                log.warning("%s of %s failed (HTTP %s %s); retrying from resourceVersion %s in %.2fs", verb, what,
                            exc.status, exc.reason, self.resource_version, delay)
                self.stop_event.wait(delay)
            except Exception as exc:  # dropped connections surface as urllib3/OSError/JSON errors
                if self.stop_event.is_set():
                    break
                delay = backoff.next()
                log.warning("%s of %s interrupted (%s: %s); resuming from resourceVersion %s in %.2fs", verb,
                            what, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "",
                            self.resource_version, delay)
                self.stop_event.wait(delay)


class Collector:
    """Run the watchers and apply their reports to the tracker on the calling thread."""

    def __init__(self, cluster: Cluster, options: WatchOptions, tracker: Tracker) -> None:
        self.cluster = cluster
        self.options = options
        self.tracker = tracker
        self.queue: queue.Queue[Any] = queue.Queue()
        self.stop_event = threading.Event()
        self.watched_kinds = {k.kind for k in options.kinds}
        namespaces: list[str | None] = list(options.namespaces) or [None]
        self.watchers = [
            ScopeWatcher(cluster, Scope(info, ns, frozenset(options.exclude_namespaces)), options, self.queue,
                         self.stop_event)
            for info in options.kinds
            for ns in namespaces
        ]

    def wanted(self, obj: WatchedObject) -> bool:
        """Skip objects a watched controller covers: owned Pods (unless asked), Jobs of watched CronJobs, …"""
        owner = obj.controller
        if owner is None:
            return True
        if obj.kind == "Pod":
            return self.options.include_owned_pods
        return owner.kind not in self.watched_kinds

    def _initial_list(self, watcher: ScopeWatcher) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            objects, rv = watcher.list()
        except ApiException as exc:
            raise api_error(exc, "list", watcher.scope.info.resource, watcher.scope.where, self.cluster) from None
        except PodPowerError:
            raise
        except Exception as exc:  # refused, DNS, timeouts: urllib3 wraps them in MaxRetryError
            raise connection_error(exc, self.cluster) from None
        watcher.resource_version = rv
        self.handle(Listed(watcher.scope, objects, initial=True))
        log.info("listed %s %s: %d object(s) at resourceVersion %s", watcher.scope.info.resource,
                 watcher.scope.where, len(objects), rv)

    def handle(self, msg: Any) -> None:
        """Apply one report from a watcher (called on the collector thread only)."""
        if isinstance(msg, Listed):
            self.tracker.sync([o for o in msg.objects if self.wanted(o)], msg.scope.covers, initial=msg.initial)
        elif isinstance(msg, Event):
            if not self.wanted(msg.obj):
                log.debug("%s %s skipped: owned by %s", msg.type, msg.obj.describe(), msg.obj.controller)
            elif msg.type == "DELETED":
                self.tracker.delete(msg.obj)
            else:
                self.tracker.upsert(msg.obj)

    def stop(self) -> None:
        """Ask `run` to finish: safe from a signal handler or another thread."""
        self.stop_event.set()
        for w in self.watchers:
            w.stop()

    def run(self) -> None:
        """List every scope (errors here are fatal and clear), then watch until `stop()`.

        On stop, the watchers are interrupted, the events they already delivered are applied
        (so nothing received is lost), and the state file is written.
        """
        state = self.tracker.state
        for w in self.watchers:
            self._initial_list(w)
        state.save()
        if self.options.once:
            return
        for w in self.watchers:
            w.start()
        log.info("watching %d scope(s)", len(self.watchers))
        failure: BaseException | None = None
        last_save = time.monotonic()
        try:
            while not self.stop_event.is_set():
                try:
                    msg = self.queue.get(timeout=0.2)
                except queue.Empty:
                    msg = None
                if isinstance(msg, Failed):
                    failure = msg.error
                    break
                if msg is not None:
                    self.handle(msg)
                if state.dirty and (time.monotonic() - last_save >= self.options.state_interval or msg is None):
                    state.save()
                    last_save = time.monotonic()
        finally:
            self.stop()
            for w in self.watchers:
                w.join(5.0)
            while True:  # apply what the watchers delivered before they stopped
                try:
                    msg = self.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(msg, Failed):
                    failure = failure or msg.error
                else:
                    self.handle(msg)
            state.save()
        if failure is not None:
            raise failure
