"""Node-local mode against a loopback kubelet serving a PodList over HTTPS (certificates made in the test)."""

from __future__ import annotations

import copy
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.adapters.collector.kubelet import KubeletClient, KubeletOptions, owning_workload, pod_ready, run_kubelet
from app.adapters.collector.objects import from_raw
from app.adapters.collector.sinks import NdjsonSink
from app.adapters.collector.state import TemplateState
from app.adapters.collector.tracker import Tracker
from app.cli.main import main
from tests.collector.conftest import expected_line, read_lines, wait_for
from tests.collector.manifests import container, pod
from tests.conftest import need


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    try:
        from tests.collector.tls import make_pki
    except ImportError:
        need(False, "the kubelet TLS tests need `cryptography`: pip install cryptography")
    return make_pki(tmp_path_factory.mktemp("pki"))


class FakeKubelet:
    """GET /pods → PodList over HTTPS; bearer token and/or client certificate required as configured."""

    def __init__(self, pki: Any, *, token: str | None = None, client_certs: bool = False) -> None:
        self.pods: list[dict[str, Any]] = []
        self.token = token
        self.forbidden = False
        self.lock = threading.Lock()
        self.hits = 0
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: object) -> None:
                pass

            def reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with kubelet.lock:
                    kubelet.hits += 1
                    items = copy.deepcopy(kubelet.pods)
                if self.path != "/pods":
                    return self.reply(404, b"404 page not found", "text/plain")
                if kubelet.token and self.headers.get("Authorization") != f"Bearer {kubelet.token}":
                    return self.reply(401, b"Unauthorized", "text/plain")
                if kubelet.forbidden:  # what a real kubelet answers when SubjectAccessReview says no
                    return self.reply(403, b"Forbidden (user=system:serviceaccount:power:collector, verb=get, "
                                           b"resource=nodes, subresource(s)=[proxy])", "text/plain")
                body = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
                return self.reply(200, json.dumps(body).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.server_cert, pki.server_key)
        if client_certs:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki.ca)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def set_pods(self, pods: list[dict[str, Any]]) -> None:
        with self.lock:
            self.pods = copy.deepcopy(pods)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def kubelet_factory(pki: Any) -> Iterator[Any]:
    made: list[FakeKubelet] = []

    def make(**kw: Any) -> FakeKubelet:
        made.append(FakeKubelet(pki, **kw))
        return made[-1]

    yield make
    for k in made:
        k.close()


def node_pods() -> list[dict[str, Any]]:
    """One node's pods: ready and unready, owned and bare, as the kubelet reports them."""
    web_labels = {"app": "web", "pod-template-hash": "5d8f"}
    db_labels = {"app": "db", "controller-revision-hash": "db-7f"}
    two = [container("exporter", "prom/node-exporter:1.8", "50m"), container("rbac", "kube-rbac-proxy:0.18", "10m")]
    return [
        pod("web-5d8f-aaaaa", owner=("ReplicaSet", "web-5d8f"), labels=web_labels),
        pod("web-5d8f-bbbbb", owner=("ReplicaSet", "web-5d8f"), labels=web_labels),
        pod("web-5d8f-ccccc", owner=("ReplicaSet", "web-5d8f"), labels=web_labels, ready=[False]),  # starting
        pod("db-0", "data", owner=("StatefulSet", "db"),
            labels={**db_labels, "statefulset.kubernetes.io/pod-name": "db-0"}, cpu="1"),
        pod("db-1", "data", owner=("StatefulSet", "db"), labels=db_labels, phase="Pending", ready=[False], cpu="1"),
        pod("node-exporter-x1", "monitoring", owner=("DaemonSet", "node-exporter"), containers=two,
            ready=[True, False]),  # one of two containers not ready
        pod("migrate-abcde", "batch", owner=("Job", "migrate"), phase="Succeeded", ready=[False]),
        pod("debug", "shop"),
        pod("kube-apiserver-node-1", "kube-system", owner=("Node", "node-1")),  # static pod
    ]


def workload(kind: str, name: str, namespace: str, labels: dict[str, str], pod_spec: dict[str, Any],
             replicas: int) -> dict[str, Any]:
    """The controller manifest that would have produced these pods, for the expected lines."""
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}, "spec": pod_spec}}}


def test_pod_ready_and_owner_resolution() -> None:
    pods = {p["metadata"]["name"]: p for p in node_pods()}
    assert [n for n, p in pods.items() if pod_ready(p)] == [
        "web-5d8f-aaaaa", "web-5d8f-bbbbb", "db-0", "debug", "kube-apiserver-node-1"]
    assert owning_workload(from_raw(pods["web-5d8f-aaaaa"], "Pod")) == ("Deployment", "web")
    assert owning_workload(from_raw(pods["db-0"], "Pod")) == ("StatefulSet", "db")
    assert owning_workload(from_raw(pods["kube-apiserver-node-1"], "Pod")) == ("Pod", "kube-apiserver-node-1")
    bare_rs = pod("x-1", owner=("ReplicaSet", "x"))  # no pod-template-hash: a ReplicaSet of its own
    assert owning_workload(from_raw(bare_rs, "Pod")) == ("ReplicaSet", "x")
    no_status = pod("y")
    del no_status["status"]["containerStatuses"]
    assert not pod_ready(no_status)


def test_client_certificate_and_ca_through_the_cli(kubelet_factory, pki: Any, tmp_path: Path) -> None:
    kubelet = kubelet_factory(client_certs=True)
    pods = node_pods()
    kubelet.set_pods(pods)
    out = tmp_path / "node.ndjson"
    code = main(["collect", "kubelet", "--endpoint", kubelet.url, "--client-cert", str(pki.client_cert),
                 "--client-key", str(pki.client_key), "--ca-file", str(pki.ca), "--once", "--emit-initial",
                 "--output", str(out)])
    assert code == 0
    by_name = {p["metadata"]["name"]: p for p in pods}
    expected = [
        workload("Deployment", "web", "shop", {"app": "web"}, by_name["web-5d8f-aaaaa"]["spec"], replicas=2),
        by_name["kube-apiserver-node-1"],
        by_name["debug"],
        workload("StatefulSet", "db", "data", {"app": "db"}, by_name["db-0"]["spec"], replicas=1),
    ]
    assert read_lines(out) == [expected_line(o) for o in expected]
    state = json.loads((tmp_path / "node.ndjson.state.json").read_text())["workloads"]
    assert sorted(state) == ["Deployment/shop/web", "Pod/kube-system/kube-apiserver-node-1", "Pod/shop/debug",
                             "StatefulSet/data/db"]

    # a second run resumes from the state file: nothing changed, nothing emitted
    assert main(["collect", "kubelet", "--endpoint", kubelet.url, "--client-cert", str(pki.client_cert),
                 "--client-key", str(pki.client_key), "--ca-file", str(pki.ca), "--once", "--emit-initial",
                 "--output", str(out)]) == 0
    assert len(read_lines(out)) == 4


def test_token_polling_emits_template_changes_only(kubelet_factory, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="app.adapters.collector")
    kubelet = kubelet_factory(token="s3cret")
    pods = node_pods()
    kubelet.set_pods(pods)
    (tmp_path / "token").write_text("s3cret\n")
    options = KubeletOptions(endpoint=kubelet.url, token_file=str(tmp_path / "token"), insecure=True,
                             interval=0.05, exclude_namespaces=frozenset({"kube-system"}))
    client = KubeletClient(options)
    out = tmp_path / "poll.ndjson"
    sink = NdjsonSink(out)
    tracker = Tracker(TemplateState(), sink.emit, emit_initial=True)
    stop = threading.Event()
    thread = threading.Thread(target=run_kubelet, args=(client, tracker, options, stop), daemon=True)
    thread.start()
    wait_for(lambda: len(read_lines(out)) == 3, what="the initial workloads")

    by_name = {p["metadata"]["name"]: p for p in pods}
    hits = kubelet.hits
    by_name["web-5d8f-aaaaa"]["status"]["containerStatuses"][0]["restartCount"] = 3  # status only
    kubelet.set_pods(list(by_name.values()))
    wait_for(lambda: kubelet.hits >= hits + 2, what="two more polls")
    assert len(read_lines(out)) == 3

    by_name["web-5d8f-ccccc"]["status"]["containerStatuses"][0]["ready"] = True  # a third replica is ready
    del by_name["db-0"]  # the StatefulSet's only ready pod left the node
    kubelet.set_pods(list(by_name.values()))
    wait_for(lambda: len(read_lines(out)) == 4, what="the scaled Deployment")
    wait_for(lambda: "deleted StatefulSet data/db" in caplog.text, what="the deletion log line")
    stop.set()
    thread.join(5)
    sink.close()
    client.close()
    web_spec = pods[0]["spec"]
    assert read_lines(out)[3] == expected_line(workload("Deployment", "web", "shop", {"app": "web"}, web_spec, 3))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--token", "wrong", "--insecure"], "refused GET /pods (401 Unauthorized: Unauthorized); give the identity "
                                             "get on nodes/proxy"),
        (["--token", "s3cret"], "CERTIFICATE_VERIFY_FAILED"),  # the kubelet's CA was not given
    ],
    ids=["bad-token", "unverified-tls"],
)
def test_kubelet_errors_are_one_line_exit_2(kubelet_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            args: list[str], expected: str) -> None:
    kubelet = kubelet_factory(token="s3cret")
    kubelet.set_pods(node_pods())
    code = main(["collect", "kubelet", "--endpoint", kubelet.url, *args, "--once", "--output",
                 str(tmp_path / "o.ndjson")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and expected in err[-1]
    assert read_lines(tmp_path / "o.ndjson") == []


def test_kubelet_forbidden_names_the_permission(kubelet_factory, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    kubelet = kubelet_factory(token="s3cret")
    kubelet.forbidden = True
    code = main(["collect", "kubelet", "--endpoint", kubelet.url, "--token", "s3cret", "--insecure", "--once",
                 "--output", str(tmp_path / "o.ndjson")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (
        f"error: the kubelet at {kubelet.url} refused GET /pods (403 Forbidden: Forbidden (user=system:serviceaccount:"
        "power:collector, verb=get, resource=nodes, subresource(s)=[proxy])); give the identity get on nodes/proxy "
        "(nodes/pods with KubeletFineGrainedAuthz)")
