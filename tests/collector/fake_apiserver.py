"""A loopback HTTP server that speaks the Kubernetes API's list and watch protocol, for tests.

What it implements, as the real API server does:
  * lists at `/api/v1/pods`, `/apis/apps/v1/namespaces/{ns}/deployments`, `/api/v1/namespaces`, … with
    `metadata.resourceVersion`, items without `kind`/`apiVersion`, `limit`/`continue` paging and
    `fieldSelector` on `metadata.namespace` (`=`, `!=`);
  * `?watch=true` as a chunked stream of newline-delimited JSON events (`ADDED`, `MODIFIED`,
    `DELETED`, `BOOKMARK` when `allowWatchBookmarks=true`, `ERROR`) after the requested
    resourceVersion, closed cleanly after `timeoutSeconds`;
  * `410 Gone` for a resourceVersion older than the last compaction, as an `ERROR` event holding
    a `Status` (what real servers send) or as an HTTP 410 response;
  * `403` / `401` with a real `Status` body for forbidden resources / other bearer tokens.
Test controls: `apply`, `delete`, `bump`, `bookmark`, `drop_watches` (optionally in the middle of
an event line), `compact`, `forbid`, `required_token`, `gate` (hold new watch requests),
`wait_watching`, and a log of every request.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# plural → (API prefix, Kind)
RESOURCES = {
    "pods": ("/api/v1", "Pod"),
    "replicationcontrollers": ("/api/v1", "ReplicationController"),
    "deployments": ("/apis/apps/v1", "Deployment"),
    "statefulsets": ("/apis/apps/v1", "StatefulSet"),
    "daemonsets": ("/apis/apps/v1", "DaemonSet"),
    "replicasets": ("/apis/apps/v1", "ReplicaSet"),
    "jobs": ("/apis/batch/v1", "Job"),
    "cronjobs": ("/apis/batch/v1", "CronJob"),
    "namespaces": ("/api/v1", "Namespace"),
}
CLUSTER_SCOPED = {"namespaces"}  # no metadata.namespace; listed at /api/v1/namespaces only
PLURAL = {kind: plural for plural, (_, kind) in RESOURCES.items()}
_PATH = re.compile(r"^(/api/v1|/apis/(?:apps|batch)/v1)(?:/namespaces/([^/]+))?/([a-z]+)$")


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `meta/v1 Status` object, the body Kubernetes sends with every error."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "details": details or {}, "code": code}


class FakeApiServer:
    """Threaded loopback API server; `with FakeApiServer() as api:` starts and stops it."""

    def __init__(self, *, gone_as_http: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.cond = threading.Condition()
        self.rv = 100
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.log: list[tuple[int, str, str, dict[str, Any]]] = []  # (rv, plural, type, object)
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.gone_as_http = gone_as_http
        self.forbidden: dict[str, str] = {}  # plural → user name in the 403 message
        self.required_token: str | None = None  # when set, other bearer tokens get 401
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (path, query, headers)
        self.open_watches: dict[int, str] = {}  # id → plural
        self.drop_generation = 0
        self.drop_mid_event = False
        self.bookmark_generation = 0
        self.closing = False
        self.gate = threading.Event()  # cleared: new watch requests wait (a server that is slow to answer)
        self.gate.set()
        self._next_watch = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                server._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    def write_kubeconfig(self, path: Path, token: str = "test-token") -> Path:
        """A kubeconfig pointing at this server, as a user would have."""
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: fake, cluster: {{server: '{self.url}'}}}}]\n"
            f"users: [{{name: tester, user: {{token: {token}}}}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: tester}}]\n"
            "current-context: fake\n"
        )
        return path

    # --- test controls ---------------------------------------------------------------------------
    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object (ADDED or MODIFIED event); returns it with its new resourceVersion."""
        obj = copy.deepcopy(obj)
        plural = PLURAL[obj["kind"]]
        meta = obj.setdefault("metadata", {})
        if plural not in CLUSTER_SCOPED:
            meta.setdefault("namespace", "default")
        key = (plural, meta.get("namespace", ""), meta["name"])
        with self.cond:
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", f"uid-{plural}-{meta.get('namespace', '')}-{meta['name']}")
            etype = "MODIFIED" if key in self.objects else "ADDED"
            self.objects[key] = obj
            self.log.append((self.rv, plural, etype, copy.deepcopy(obj)))
            self.cond.notify_all()
        return obj

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object (DELETED event); `namespace` is "" for a Namespace."""
        plural = PLURAL[kind]
        with self.cond:
            obj = self.objects.pop((plural, namespace, name))
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.log.append((self.rv, plural, "DELETED", obj))
            self.cond.notify_all()

    def bump(self, n: int = 1) -> None:
        """Advance the resourceVersion without touching watched kinds (other objects changing)."""
        with self.cond:
            self.rv += n

    def bookmark(self) -> None:
        """Every open watch that asked for bookmarks gets one at the current resourceVersion."""
        with self.cond:
            self.bookmark_generation += 1
            self.cond.notify_all()

    def drop_watches(self, *, mid_event: bool = False) -> None:
        """Abruptly close every open watch (no terminating chunk), at once or halfway through the next event."""
        with self.cond:
            if mid_event:
                self.drop_mid_event = True
            else:
                self.drop_generation += 1
            self.cond.notify_all()

    def compact(self) -> None:
        """Forget history: watching from any resourceVersion seen so far now gets 410 Gone."""
        with self.cond:
            self.rv += 1
            self.compacted = self.rv

    def forbid(self, kind: str, user: str = "system:serviceaccount:power:collector") -> None:
        self.forbidden[PLURAL[kind]] = user

    def watch_requests(self, kind: str) -> list[dict[str, str]]:
        return [q for p, q, _ in self.requests if p.endswith("/" + PLURAL[kind]) and q.get("watch") == "true"]

    def list_requests(self, kind: str) -> list[dict[str, str]]:
        return [q for p, q, _ in self.requests if p.endswith("/" + PLURAL[kind]) and q.get("watch") != "true"]

    def wait_watching(self, kind: str, count: int = 1, timeout: float = 10.0) -> None:
        """Block until `count` watches of `kind` are open (so pushed events go to a live stream)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while sum(1 for p in self.open_watches.values() if p == PLURAL[kind]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no watch of {kind} opened within {timeout}s")
                self.cond.wait(left)

    # --- protocol --------------------------------------------------------------------------------
    def _send_json(self, h: BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self.cond:
            self.requests.append((parts.path, query, {k.lower(): v for k, v in h.headers.items()}))
        m = _PATH.match(parts.path)
        if not m or m.group(3) not in RESOURCES or RESOURCES[m.group(3)][0] != m.group(1):
            self._send_json(h, 404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        if self.required_token and h.headers.get("Authorization") != f"Bearer {self.required_token}":
            self._send_json(h, 401, status(401, "Unauthorized", "Unauthorized"))
            return
        prefix, namespace, plural = m.group(1), m.group(2), m.group(3)
        group = prefix.split("/")[2] if prefix.startswith("/apis/") else ""
        watch = query.get("watch") == "true"
        if plural in self.forbidden:
            resource = f"{plural}.{group}" if group else plural
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            verb = "watch" if watch else "list"
            msg = (f'{resource} is forbidden: User "{self.forbidden[plural]}" cannot {verb} resource "{plural}" '
                   f'in API group "{group}" {scope}')
            self._send_json(h, 403, status(403, "Forbidden", msg, {"group": group, "kind": plural}))
            return
        selector = _selector(query.get("fieldSelector", ""))
        if watch:
            self._watch(h, plural, namespace, selector, query)
        else:
            self._list(h, prefix, plural, namespace, selector, query)

    def _matches(self, plural: str, namespace: str | None, selector: list[tuple[str, str]],
                 obj_plural: str, obj: dict[str, Any]) -> bool:
        ns = obj["metadata"].get("namespace", "")
        if obj_plural != plural or (namespace and ns != namespace):
            return False
        return all((ns == v) if op == "=" else (ns != v) for op, v in selector)

    def _list(self, h: BaseHTTPRequestHandler, prefix: str, plural: str, namespace: str | None,
              selector: list[tuple[str, str]], query: dict[str, str]) -> None:
        kind = RESOURCES[plural][1]
        with self.cond:
            rv = self.rv
            items = [copy.deepcopy(o) for (p, _, _), o in sorted(self.objects.items())
                     if self._matches(plural, namespace, selector, p, o)]
        start = 0
        if query.get("continue"):
            snap, start_s = query["continue"].split(":")
            if int(snap) < self.compacted:
                self._send_json(h, 410, status(410, "Expired", "The provided continue parameter is too old"))
                return
            start = int(start_s)
        limit = int(query.get("limit") or 0) or len(items) + 1
        page = items[start:start + limit]
        for item in page:  # list items carry no kind/apiVersion, only the list does
            item.pop("kind", None)
            item.pop("apiVersion", None)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = f"{rv}:{start + limit}"
        self._send_json(h, 200, {"kind": f"{kind}List", "apiVersion": prefix.split("/", 2)[-1],
                                 "metadata": meta, "items": page})

    def _watch(self, h: BaseHTTPRequestHandler, plural: str, namespace: str | None,
               selector: list[tuple[str, str]], query: dict[str, str]) -> None:
        kind = RESOURCES[plural][1]
        while not self.gate.wait(0.05):
            if self.closing:
                return
        rv_param = query.get("resourceVersion", "")
        if rv_param not in ("", "0") and int(rv_param) < self.compacted and self.gone_as_http:
            self._send_json(h, 410, status(410, "Expired", f"too old resource version: {rv_param} ({self.rv})"))
            return
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        sock: socket.socket = h.connection

        def chunk(data: bytes) -> None:
            h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            h.wfile.flush()

        def event(etype: str, obj: dict[str, Any]) -> bytes:
            return json.dumps({"type": etype, "object": obj}).encode() + b"\n"

        if rv_param not in ("", "0") and int(rv_param) < self.compacted:
            chunk(event("ERROR", status(410, "Expired", f"too old resource version: {rv_param} ({self.rv})")))
            chunk(b"")
            return
        deadline = time.monotonic() + int(query.get("timeoutSeconds") or 3600)
        bookmarks = query.get("allowWatchBookmarks") == "true"
        with self.cond:
            self._next_watch += 1
            wid = self._next_watch
            self.open_watches[wid] = plural
            cursor = self.rv if rv_param in ("", "0") else int(rv_param)
            initial = [copy.deepcopy(o) for (p, _, _), o in sorted(self.objects.items())
                       if rv_param in ("", "0") and self._matches(plural, namespace, selector, p, o)]
            drops, marks = self.drop_generation, self.bookmark_generation
            self.cond.notify_all()
        try:
            for obj in initial:
                chunk(event("ADDED", obj))
            while True:
                with self.cond:
                    pending = [(rv, t, o) for rv, p, t, o in self.log
                               if rv > cursor and self._matches(plural, namespace, selector, p, o)]
                    dropped = self.drop_generation != drops or self.closing
                    mid = self.drop_mid_event and bool(pending)
                    if mid:
                        self.drop_mid_event = False
                    mark = self.bookmark_generation != marks
                    marks = self.bookmark_generation
                    now_rv = self.rv
                    if not pending and not dropped and not mark:
                        self.cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                if dropped:
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                if mid:
                    line = event(pending[0][1], pending[0][2])
                    chunk(line[: len(line) // 2])
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                for rv, etype, obj in pending:
                    chunk(event(etype, obj))
                    cursor = rv
                if mark and bookmarks:
                    chunk(event("BOOKMARK", {"kind": kind, "apiVersion": "v1",
                                             "metadata": {"resourceVersion": str(now_rv)}}))
                    cursor = max(cursor, now_rv)
                if time.monotonic() >= deadline:
                    chunk(b"")  # timeoutSeconds reached: end the stream cleanly
                    return
        except OSError:
            return  # the client went away
        finally:
            with self.cond:
                self.open_watches.pop(wid, None)
                self.cond.notify_all()


def _selector(text: str) -> list[tuple[str, str]]:
    out = []
    for term in filter(None, text.split(",")):
        field, op, value = re.match(r"^([\w.]+)(!=|==|=)(.*)$", term).groups()  # type: ignore[union-attr]
        if field != "metadata.namespace":
            raise ValueError(f"fake API server: unsupported field selector {term!r}")
        out.append(("!=" if op == "!=" else "=", value))
    return out
