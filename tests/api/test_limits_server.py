"""Connection limits of `python -m app serve`, over raw sockets on loopback against the real server.

The server runs with small limits from the environment (MAX_HEADER_BYTES, HEADER_TIMEOUT_S, BODY_TIMEOUT_S,
KEEP_ALIVE_TIMEOUT_S, LIMIT_CONCURRENCY), so every test is bounded in time: each waits at most a few
seconds past the limit it checks, and every socket has its own timeout. Its log goes to a file, so a
test can check what a refused or abandoned request logged (an ERROR traceback is a bug).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, free_port
from tests.processes import running

pytestmark = pytest.mark.server

MAX_HEADER_BYTES = 4096
HEADER_TIMEOUT_S = 1.5
BODY_TIMEOUT_S = 1.5
KEEP_ALIVE_TIMEOUT_S = 1.0
LIMIT_CONCURRENCY = 3
SLACK_S = 2.0
"""What a refusal may take past its limit: the timer's own delay and a loaded 2-core machine."""


@pytest.fixture(scope="module")
def served(tiny_artifacts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """The server's port and its log file."""
    port = free_port()
    log = tmp_path_factory.mktemp("limits_server") / "server.log"
    env = {"MAX_HEADER_BYTES": str(MAX_HEADER_BYTES), "HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
           "BODY_TIMEOUT_S": str(BODY_TIMEOUT_S), "KEEP_ALIVE_TIMEOUT_S": str(KEEP_ALIVE_TIMEOUT_S),
           "LIMIT_CONCURRENCY": str(LIMIT_CONCURRENCY)}
    cmd = [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--encoder",
           str(tiny_artifacts[0]), "--model", str(tiny_artifacts[1])]
    with running(cmd, f"http://127.0.0.1:{port}/readyz", log, env={**os.environ, **env}, cwd=REPO):
        yield port, log


@pytest.fixture(scope="module")
def port(served: tuple[int, Path]) -> int:
    return served[0]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 2 * SLACK_S)


def read_all(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    return out


def status_and_detail(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)["detail"]


def request_counts(port: int) -> dict[tuple[str, str], float]:
    """`podpower_http_requests_total` by (route, status), from /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=SLACK_S).text
    pattern = r'^podpower_http_requests_total\{route="([^"]*)",status="(\d+)"\} (\S+)$'
    return {(m[1], m[2]): float(m[3]) for m in re.finditer(pattern, text, re.MULTILINE)}


def wait_for_count(port: int, key: tuple[str, str], count: float) -> dict[tuple[str, str], float]:
    """The counts once `key` reached `count`: the app records a request when it ends, after the client is gone."""
    deadline = time.monotonic() + SLACK_S
    while (counts := request_counts(port)).get(key, 0) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts.get(key, 0) == count, counts
    return counts


def no_error_logged(log: Path) -> None:
    text = log.read_text()
    assert "ERROR" not in text and "Traceback" not in text, text[-3000:]


def test_ordinary_requests_pass(port: int) -> None:
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("finished", [True, False])
def test_oversized_head_is_431(port: int, finished: bool) -> None:
    """A head over MAX_HEADER_BYTES, sent whole in one write or never finished, is refused with 431."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (2 * MAX_HEADER_BYTES)
    with connect(port) as s:
        started = time.monotonic()
        s.sendall(head + (b"\r\n\r\n" if finished else b""))
        answer = read_all(s)
        assert time.monotonic() - started < SLACK_S  # answered at once, not at a timeout
    status, detail = status_and_detail(answer)
    assert status == 431 and "MAX_HEADER_BYTES" in detail and str(MAX_HEADER_BYTES) in detail


def test_head_just_under_the_limit_passes(port: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: "
    with connect(port) as s:
        s.sendall(head + b"a" * (MAX_HEADER_BYTES - len(head) - 100) + b"\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 200 ")


def test_slowloris_head_is_cut_off(port: int) -> None:
    """One header byte every 0.25 s: the head never completes; 408 at HEADER_TIMEOUT_S, then closed."""
    with connect(port) as s:
        started = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(0.25)
        answer = b""
        for byte in b"X-Slow: " + b"z" * 100:
            try:
                s.sendall(bytes([byte]))
                answer += s.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer.endswith(b"}") or time.monotonic() - started > HEADER_TIMEOUT_S + SLACK_S:
                break
        elapsed = time.monotonic() - started
        s.settimeout(SLACK_S)
        answer += read_all(s)
    assert HEADER_TIMEOUT_S - 0.1 <= elapsed <= HEADER_TIMEOUT_S + SLACK_S
    status, detail = status_and_detail(answer)
    assert status == 408 and "HEADER_TIMEOUT_S" in detail


def test_silent_connection_is_closed(port: int) -> None:
    with connect(port) as s:
        started = time.monotonic()
        answer = read_all(s)
        elapsed = time.monotonic() - started
    assert HEADER_TIMEOUT_S - 0.1 <= elapsed <= HEADER_TIMEOUT_S + SLACK_S
    assert status_and_detail(answer)[0] == 408


def test_slow_body_is_cut_off(served: tuple[int, Path]) -> None:
    """A body announced as 200 bytes of which 10 arrive: 408 at BODY_TIMEOUT_S, not a request held forever.
    /metrics counts the 408 the client got; the app, which then sees a disconnect, logs no error (it did:
    a `ClientDisconnect` traceback, counted as a 500)."""
    port, log = served
    before = request_counts(port).get(("/predict", "408"), 0)
    with connect(port) as s:
        started = time.monotonic()
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n{\"workload")
        answer = read_all(s)
        elapsed = time.monotonic() - started
    assert BODY_TIMEOUT_S - 0.1 <= elapsed <= BODY_TIMEOUT_S + SLACK_S
    status, detail = status_and_detail(answer)
    assert status == 408 and "BODY_TIMEOUT_S" in detail
    counts = wait_for_count(port, ("/predict", "408"), before + 1)
    assert ("/predict", "500") not in counts
    no_error_logged(log)


@pytest.mark.parametrize(("path", "ctype"), [("/predict", "application/json"), ("/predict/from-yaml", "text/plain"),
                                             ("/infer/from-yaml", "text/plain"),
                                             ("/admission/mutate", "application/json")])
def test_client_gone_mid_body_is_499_not_an_error(served: tuple[int, Path], path: str, ctype: str) -> None:
    """A client that closes the connection before its body is complete: counted under 499 (nginx's "client
    closed request"), not as a 5xx, and no ERROR traceback in the log (both were the case)."""
    port, log = served
    key = (path, "499")
    before = request_counts(port).get(key, 0)
    with connect(port) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 1000\r\n\r\n"
                  "{\"w".encode())
        time.sleep(0.1)  # the app has the head and waits for the body
    counts = wait_for_count(port, key, before + 1)
    assert (path, "500") not in counts
    no_error_logged(log)


def test_idle_keep_alive_connection_is_closed(port: int) -> None:
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.endswith(b"}"):  # the whole response, in however many reads
            chunk = s.recv(65536)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        rest = read_all(s)  # nothing more is sent: the server closes the idle connection
        elapsed = time.monotonic() - started
    assert rest == b""
    assert KEEP_ALIVE_TIMEOUT_S - 0.1 <= elapsed <= KEEP_ALIVE_TIMEOUT_S + SLACK_S


def test_concurrency_limit_is_503(port: int) -> None:
    """LIMIT_CONCURRENCY connections open: the next request is answered 503 at once; later, 200 again."""
    held = [connect(port) for _ in range(LIMIT_CONCURRENCY)]
    try:
        time.sleep(0.2)  # let the server accept them
        with connect(port) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert read_all(s).startswith(b"HTTP/1.1 503 ")
    finally:
        for h in held:
            h.close()
    time.sleep(0.2)
    with connect(port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 200 ")
