"""Decide what to emit: a workload goes out when its template hash changes, never on a status update.

Shared by the API-server watch and the kubelet poller, so both modes dedupe the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from app.adapters.collector.objects import WatchedObject
from app.adapters.collector.state import TemplateState
from app.core.schema import InferenceRequest

log = logging.getLogger("app.adapters.collector")

Emit = Callable[[InferenceRequest], None]


class Observer(Protocol):
    """Sees every live workload (not only changes) and every deletion: the `--metrics-port` exporter."""

    def seen(self, obj: WatchedObject, req: InferenceRequest) -> None: ...

    def gone(self, key: str) -> None: ...


class Tracker:
    """Apply watch events and full listings to the template state; call `emit` for every change.

    Identity is `Kind/namespace/name`; the compared value is `InferenceRequest.spec_hash()`, which
    covers containers, resources, replicas, labels … and leaves out status, annotations and
    metadata churn. `emit_initial` controls the first listing when there is no state file: emit
    everything, or only take a baseline and emit later changes. When resuming from a state file
    the first listing emits exactly what changed (or appeared) while the collector was down.
    """

    def __init__(self, state: TemplateState, emit: Emit, *, emit_initial: bool = False,
                 observer: Observer | None = None) -> None:
        self.state = state
        self.observer = observer
        self.emit = emit
        self.emit_initial = emit_initial
        self.emitted = 0
        self._bad: dict[str, str] = {}  # key → resourceVersion already warned about

    def _request(self, obj: WatchedObject) -> InferenceRequest | None:
        if obj.request is None:
            if self._bad.get(obj.key) != obj.resource_version:
                self._bad[obj.key] = obj.resource_version
                log.warning("skipping %s: %s", obj.describe(), obj.error or "not convertible")
            return None
        if self.observer is not None:
            self.observer.seen(obj, obj.request)
        return obj.request

    def _emit(self, obj: WatchedObject, req: InferenceRequest, spec_hash: str, why: str) -> None:
        self.emit(req)
        self.state.record(obj.key, spec_hash)
        self.emitted += 1
        log.info("emit %s (%s, template %s)", obj.describe(), why, spec_hash)

    def upsert(self, obj: WatchedObject) -> bool:
        """An ADDED/MODIFIED object; returns True when it was emitted."""
        req = self._request(obj)
        if req is None:
            return False
        prev, now = self.state.get(obj.key), req.spec_hash()
        if prev == now:
            return False
        self._emit(obj, req, now, "new" if prev is None else "template changed")
        return True

    def delete(self, obj: WatchedObject) -> bool:
        """A DELETED object: logged, and forgotten so a re-creation is emitted again."""
        known = self.state.forget(obj.key)
        if self.observer is not None:
            self.observer.gone(obj.key)
        log.info("deleted %s%s", obj.describe(), "" if known else " (was not tracked)")
        return known

    def sync(self, objects: Iterable[WatchedObject], in_scope: Callable[[str], bool], *, initial: bool) -> int:
        """A full listing of one scope: emit what changed, forget what is gone; returns the emit count.

        `in_scope(key)` says which tracked workloads the listing covers (one kind, maybe one
        namespace), so a workload missing from it was deleted while we were not watching.
        """
        before = self.emitted
        seen: set[str] = set()
        baseline_only = initial and not self.emit_initial and not self.state.loaded
        for obj in objects:
            seen.add(obj.key)
            req = self._request(obj)
            if req is None:
                continue
            prev, now = self.state.get(obj.key), req.spec_hash()
            if prev == now:
                continue
            if prev is None and baseline_only:
                self.state.record(obj.key, now)
                continue
            self._emit(obj, req, now, "listed" if prev is None else "template changed while not watching")
        for key in self.state.keys(lambda k: in_scope(k) and k not in seen):
            self.state.forget(key)
            if self.observer is not None:
                self.observer.gone(key)
            log.info("deleted %s (gone from the listing)", key.replace("/", " ", 1))
        return self.emitted - before
