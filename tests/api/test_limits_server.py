"""Connection limits of `python -m app serve`, over raw sockets on loopback against the real server.

The server runs with small limits from the environment (MAX_HEADER_BYTES, HEADER_TIMEOUT_S, BODY_TIMEOUT_S,
KEEP_ALIVE_TIMEOUT_S, LIMIT_CONCURRENCY), so every test is bounded in time: each waits at most a few
seconds past the limit it checks, and every socket has its own timeout.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_server import start, stop, wait_for
from tests.conftest import free_port

pytestmark = pytest.mark.server

MAX_HEADER_BYTES = 4096
HEADER_TIMEOUT_S = 1.5
BODY_TIMEOUT_S = 1.5
KEEP_ALIVE_TIMEOUT_S = 1.0
LIMIT_CONCURRENCY = 3
SLACK_S = 2.0
"""What a refusal may take past its limit: the timer's own delay and a loaded 2-core machine."""


@pytest.fixture(scope="module")
def port(tiny_artifacts: tuple[Path, Path]) -> Iterator[int]:
    port = free_port()
    env = {"MAX_HEADER_BYTES": str(MAX_HEADER_BYTES), "HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
           "BODY_TIMEOUT_S": str(BODY_TIMEOUT_S), "KEEP_ALIVE_TIMEOUT_S": str(KEEP_ALIVE_TIMEOUT_S),
           "LIMIT_CONCURRENCY": str(LIMIT_CONCURRENCY)}
    proc = start(["-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--encoder",
                  str(tiny_artifacts[0]), "--model", str(tiny_artifacts[1])], env=env)
    try:
        wait_for(f"http://127.0.0.1:{port}", "/readyz", proc)
        yield port
    finally:
        stop(proc)


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


def test_slow_body_is_cut_off(port: int) -> None:
    """A body announced as 200 bytes of which 10 arrive: 408 at BODY_TIMEOUT_S, not a request held forever."""
    with connect(port) as s:
        started = time.monotonic()
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 200\r\n\r\n{\"workload")
        answer = read_all(s)
        elapsed = time.monotonic() - started
    assert BODY_TIMEOUT_S - 0.1 <= elapsed <= BODY_TIMEOUT_S + SLACK_S
    status, detail = status_and_detail(answer)
    assert status == 408 and "BODY_TIMEOUT_S" in detail


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
