"""The real server batches concurrent misses (`app.serving.batching`) and answers as one request at a time.

Bursts of distinct requests are written on many connections before any answer is read, so the
server finds several in one read of its sockets; every answer must equal what the predictor gives
for that request alone, in process, from the same shipped artifacts, and `/metrics` must show that
some misses were computed in batches of more than one.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from app.api.routes.yaml import INLINE_YAML_BYTES
from app.core.schema import InferenceRequest
from app.serving.predictor import Predictor
from tests.api.test_server import start, stop, wait_for
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.server

ENCODER = REPO / "artifacts" / "encoder.npz"
MODEL = REPO / "artifacts" / "knn_energy.npz"


def body(i: int, yaml: bool) -> bytes:
    if yaml:
        return (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web-{i}, namespace: shop}}\n"
                f"spec:\n  replicas: {1 + i % 3}\n  template:\n    spec:\n      containers:\n"
                f"        - name: web\n          image: nginx:1.{i}\n"
                f"          resources: {{requests: {{cpu: {50 + 25 * i}m, memory: {64 + i}Mi}}}}\n").encode()
    return json.dumps({"namespace": "shop", "workload_kind": "Deployment", "workload_name": f"api-{i}",
                       "containers": [{"name": "api", "image": f"ghcr.io/acme/api:2.{i}",
                                       "req_cpu_mcpu": 100 + 37 * i, "req_mem_mib": 128 + 3 * i}]}).encode()


def blocker(n: int) -> bytes:
    """A YAML body of 90 new workloads (under the inline size): milliseconds of the event loop's time."""
    return b"---\n".join(body(1000 + 100 * n + i, yaml=True) for i in range(90))


def burst(port: int, path: str, bodies: list[bytes], ctype: str, n: int) -> list[dict]:
    """One request per connection, all written while the server is busy with a big YAML body (so it
    reads them in one go); every answer 200, returned in order (the big body's answer left out)."""
    first = blocker(n)
    assert len(first) < INLINE_YAML_BYTES
    requests = [("/predict/from-yaml", "application/yaml", first)] + [(path, ctype, b) for b in bodies]
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in requests]
    try:
        for s, (target, kind, b) in zip(conns, requests, strict=True):
            s.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\n"
                      f"Content-Length: {len(b)}\r\nConnection: close\r\n\r\n".encode() + b)
        answers = []
        for s in conns:
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
            head, _, payload = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), raw[:300]
            answers.append(json.loads(payload))
        return answers[1:]
    finally:
        for s in conns:
            s.close()


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    proc = start(["-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--encoder", str(ENCODER),
                  "--model", str(MODEL)])
    try:
        wait_for(f"http://127.0.0.1:{port}", "/readyz", proc)
        yield port
    finally:
        stop(proc)


def metric(port: int, name: str) -> float:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_concurrent_misses_answer_as_alone(server: int) -> None:
    alone = Predictor.load(ENCODER, MODEL, cache_size=0)
    bodies = [body(i, yaml=False) for i in range(48)]
    got = []
    for start_at in range(0, 48, 16):
        got += burst(server, "/predict?explain=true", bodies[start_at:start_at + 16], "application/json", start_at)
    for b, answer in zip(bodies, got, strict=True):
        expected = alone.predict(InferenceRequest.model_validate_json(b), "body", explain=True)
        assert answer == json.loads(expected.model_dump_json(exclude_none=True))
    batches = metric(server, "podpower_miss_batches_total")
    rows = metric(server, "podpower_miss_batch_rows_total")
    # the three big bodies' 270 workloads in batches of at most 64 (2 each), the 48 requests: not one by one
    assert rows == 3 * 90 + 48 and batches < 3 * 2 + 48, (batches, rows)


def test_concurrent_yaml_misses_answer_as_alone(server: int) -> None:
    from app.workloads.convert import requests_from_yaml

    alone = Predictor.load(ENCODER, MODEL, cache_size=0)
    bodies = [body(i, yaml=True) for i in range(16)]
    got = burst(server, "/predict/from-yaml?hours=24", bodies, "application/yaml", 99)
    for b, answer in zip(bodies, got, strict=True):
        requests = requests_from_yaml(b.decode(), "body").requests
        expected = alone.predict_many(requests, "body", hours=24.0)[0]
        assert answer == json.loads(expected.model_dump_json(exclude_none=True))
