"""The real server: `python -m app serve` (and `uvicorn app.api.app:app`) on a loopback port, real HTTP."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from app.api.limits import MAX_YAML_OBJECTS
from app.core.kinds import WORKLOAD_KINDS
from bench.fuzz_yaml import KILLERS
from tests.conftest import EXAMPLES, REPO, free_port

pytestmark = pytest.mark.server


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **(env or {})})


def wait_for(base: str, path: str, proc: subprocess.Popen[str], timeout: float = 90.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early: {proc.communicate()[0]}"
        try:
            r = httpx.get(base + path, timeout=2)
            if r.status_code == 200:
                return r
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{path} not 200 within {timeout} s")


def stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        return proc.communicate(timeout=15)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


@pytest.fixture(scope="module")
def server(tiny_artifacts: tuple[Path, Path]) -> Iterator[str]:
    port = free_port()
    proc = start(["-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--encoder", str(tiny_artifacts[0]), "--model", str(tiny_artifacts[1])])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, "/readyz", proc)
        yield base
    finally:
        stop(proc)


def workloads_in(path: Path) -> int:
    """Workload objects in a manifest file, counted with plain PyYAML (Lists flattened)."""
    n = 0
    for doc in yaml.safe_load_all(path.read_text()):
        items = doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        n += sum(1 for item in items if isinstance(item, dict) and item.get("kind") in WORKLOAD_KINDS)
    return n


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_manifest(server: str, name: str) -> None:
    text = (EXAMPLES / name).read_text()
    expected = workloads_in(EXAMPLES / name)
    assert expected >= 1
    inferred = httpx.post(f"{server}/infer/from-yaml", content=text, headers={"Content-Type": "text/plain"})
    assert inferred.status_code == 200, inferred.text
    assert len(inferred.json()["requests"]) == expected
    r = httpx.post(f"{server}/predict/from-yaml", content=text, headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"] if expected > 1 else [r.json()]
    assert len(preds) == expected
    for p, q in zip(preds, inferred.json()["requests"], strict=True):
        assert (p["workload_kind"], p["workload_name"]) == (q["workload_kind"], q["workload_name"])
        assert p["pred_avg_power_w"] > 0
        assert p["pred_power_w_total"] == pytest.approx(p["pred_avg_power_w"] * q["replicas"])


def test_example_request_json(server: str) -> None:
    body = (EXAMPLES / "request.json").read_bytes()
    r = httpx.post(f"{server}/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert (r.json()["workload_name"], r.json()["replicas"]) == ("checkout", 2)
    assert r.json()["pred_energy_step_j"] == pytest.approx(60 * r.json()["pred_avg_power_w"])


@pytest.mark.parametrize("name", sorted(KILLERS))
def test_yaml_killer_is_a_4xx_and_the_server_lives(server: str, name: str) -> None:
    """Bodies that overflowed libyaml's recursive composer (a SIGSEGV of the whole server) before the
    event-level guard of app/workloads/yamlload.py; bodies over 32 KiB are parsed in a worker thread."""
    for path in ("/infer/from-yaml", "/predict/from-yaml"):
        r = httpx.post(f"{server}{path}", content=KILLERS[name], headers={"Content-Type": "text/plain"}, timeout=30)
        assert r.status_code in (413, 422), (path, r.status_code, r.text[:300])
        assert r.json()["detail"].startswith("body: document 1: ") and " at line " in r.json()["detail"]
        assert httpx.get(f"{server}/healthz", timeout=5).status_code == 200


def _raw_request(port: int, head: bytes, body_chunks: list[bytes]) -> bytes:
    """Send a request by hand, never finishing the body, and return the server's whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what we want; its answer is already on the way
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = s.recv(65536)
            if not data:
                break
            answer += data
        return answer


def test_oversized_body_is_refused_before_it_is_all_sent(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    # declared too large: answered at once, the body never sent
    head = (b"POST /predict/from-yaml HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 50000000\r\n\r\n")
    answer = _raw_request(port, head, [])
    assert answer.startswith(b"HTTP/1.1 413 ")
    # chunked: 2 MiB sent (limit 1 MiB), the final chunk never: the server must answer anyway
    head = (b"POST /predict/from-yaml HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"#" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 32
    answer = _raw_request(port, head, chunks)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"MAX_BODY_BYTES" in answer


@pytest.mark.parametrize(("path", "ctype"), [("/predict", "application/json"), ("/predict/from-yaml", "text/plain")])
def test_gzip_body_is_415_and_never_inflated(server: str, path: str, ctype: str) -> None:
    """A gzip bomb (64 MiB of zeros in 64 KB) is refused as sent, 415 naming Content-Encoding: it was a 422
    "not UTF-8 text" (a plain body with `br` was even taken as plain). Nothing decompresses it."""
    bomb = gzip.compress(b"\0" * 64 * 2**20)
    r = httpx.post(f"{server}{path}", content=bomb, headers={"Content-Type": ctype, "Content-Encoding": "gzip"},
                   timeout=10)
    assert r.status_code == 415, r.text[:300]
    assert r.json()["detail"] == ("body: Content-Encoding 'gzip' is not supported: send the body uncompressed "
                                  "(no Content-Encoding, or identity)")
    assert r.headers["accept-encoding"] == "identity"


def test_body_of_thousands_of_workloads_is_413_by_count(server: str) -> None:
    """1 MiB of small Deployments (~6,000) cost ~1 s of CPU a body, and 16 at once held the server for
    15 s: now refused with a 413 once parsed, before any is converted or predicted."""
    doc = ("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n"
           "      containers: [{name: c, image: nginx, resources: {requests: {cpu: 100m}}}]\n")
    n = 2**20 // len(doc)
    for path in ("/infer/from-yaml", "/predict/from-yaml"):
        r = httpx.post(f"{server}{path}", content=doc * n, headers={"Content-Type": "text/plain"}, timeout=30)
        assert r.status_code == 413, r.text[:300]
        assert r.json()["detail"] == (f"body: {n} Kubernetes objects, more than {MAX_YAML_OBJECTS} (the "
                                      "MAX_YAML_OBJECTS limit); send them in several requests")


def test_uvicorn_module_path_and_broken_artifacts(tmp_path: Path) -> None:
    """`uvicorn app.api.app:app` with a missing model: alive, not ready, says which file and why."""
    port = free_port()
    missing = tmp_path / "gone.npz"
    proc = start(["-m", "uvicorn", "app.api.app:app", "--host", "127.0.0.1", "--port", str(port)],
                 env={"ENCODER_PATH": str(missing), "MODEL_PATH": str(missing)})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, "/healthz", proc)
        deadline = time.monotonic() + 60
        while (ready := httpx.get(base + "/readyz")).json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ready.status_code == 503 and ready.json()["status"] == "failed"
        assert f"{missing}: file not found" in ready.json()["detail"]
        r = httpx.post(base + "/predict", content=json.dumps({"workload_kind": "Pod", "workload_name": "p",
                                                              "containers": [{"name": "c"}]}),
                       headers={"Content-Type": "application/json"})
        assert r.status_code == 503 and str(missing) in r.json()["detail"]
    finally:
        log = stop(proc)
    lines = [line for line in log.splitlines() if "cannot load the model" in line]
    assert len(lines) == 1 and str(missing) in lines[0], log
