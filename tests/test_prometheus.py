"""PromClient against a small real HTTP server on loopback: retries, backoff, errors, auth, chunking."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from app.adapters.prometheus import PromClient
from app.core.errors import UpstreamError
from tests.conftest import REPO, free_port

OK_VECTOR = {"status": "success", "data": {"resultType": "vector",
                                            "result": [{"metric": {"a": "1"}, "value": [100.0, "2.5"]}]}}


class FlakyServer:
    """Answers `fail_first` requests with `fail_status` (or sleeps `hang_s` first), then succeeds."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503, body: dict | None = None,
                 hang_first: int = 0, hang_s: float = 0.0) -> None:
        self.fail_first, self.fail_status, self.hang_first, self.hang_s = fail_first, fail_status, hang_first, hang_s
        self.body = body or OK_VECTOR
        self.hits: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                u = urlparse(self.path)
                owner.hits.append({"path": u.path, "params": parse_qs(u.query),
                                   "auth": self.headers.get("Authorization"),
                                   "encoding": self.headers.get("Accept-Encoding")})
                n = len(owner.hits)
                if n <= owner.hang_first:
                    time.sleep(owner.hang_s)
                if n <= owner.fail_first:
                    status, body = owner.fail_status, {"status": "error", "errorType": "unavailable",
                                                       "error": "try later"}
                else:
                    status, body = (200 if owner.body.get("status") == "success" else 400), owner.body
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky() -> Iterator[type[FlakyServer]]:
    yield FlakyServer


def test_retries_503_then_succeeds(flaky: type[FlakyServer]) -> None:
    with flaky(fail_first=2) as srv, PromClient(srv.url, retries=3, backoff_s=0.01) as c:
        out = c.query("up")
    assert len(srv.hits) == 3
    assert out[0].labels == {"a": "1"} and out[0].samples == [(100.0, 2.5)]


def test_backoff_grows_between_retries(flaky: type[FlakyServer]) -> None:
    with flaky(fail_first=3) as srv, PromClient(srv.url, retries=3, backoff_s=0.1) as c:
        t0 = time.monotonic()
        c.query("up")
        elapsed = time.monotonic() - t0
    # jittered 0.1·(1, 2, 4)·[0.5, 1.5): at least 0.35 s in total
    assert elapsed >= 0.35
    assert len(srv.hits) == 4


def test_gives_up_after_retries_with_the_status(flaky: type[FlakyServer]) -> None:
    with flaky(fail_first=99) as srv, PromClient(srv.url, retries=2, backoff_s=0.01) as c, \
            pytest.raises(UpstreamError, match="HTTP 503"):
        c.query("up")
    assert len(srv.hits) == 3


def test_timeout_is_retried(flaky: type[FlakyServer]) -> None:
    with flaky(hang_first=1, hang_s=1.0) as srv, PromClient(srv.url, retries=2, backoff_s=0.01, timeout_s=0.3) as c:
        out = c.query("up")
    assert out[0].samples[0][1] == 2.5
    assert len(srv.hits) == 2


def test_400_is_not_retried_and_names_the_query(flaky: type[FlakyServer]) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}
    with flaky(body=body) as srv, PromClient(srv.url, retries=3, backoff_s=0.01) as c, \
            pytest.raises(UpstreamError) as exc:
        c.query("sum(")
    msg = str(exc.value)
    assert len(srv.hits) == 1
    assert "HTTP 400" in msg and "parse error" in msg and "sum(" in msg and "\n" not in msg


def test_unreachable_server_is_one_clear_error() -> None:
    port = free_port()  # nothing listens there
    with PromClient(f"http://127.0.0.1:{port}", retries=1, backoff_s=0.01) as c, \
            pytest.raises(UpstreamError, match="unreachable"):
        c.query("up")


def test_bearer_token_is_sent(flaky: type[FlakyServer]) -> None:
    with flaky() as srv, PromClient(srv.url, token="s3cret") as c:
        c.query("up", at=123.5)
    assert srv.hits[0]["auth"] == "Bearer s3cret"
    assert srv.hits[0]["params"]["time"] == ["123.5"]


def test_no_gzip_on_loopback_unless_asked(flaky: type[FlakyServer]) -> None:
    with flaky() as srv:
        with PromClient(srv.url) as c:
            c.query("up")
        with PromClient(srv.url, compress=True) as c:
            c.query("up")
    assert srv.hits[0]["encoding"] == "identity"
    assert "gzip" in srv.hits[1]["encoding"]


def test_chunks_cover_the_grid_once_within_the_point_limit() -> None:
    c = PromClient("http://127.0.0.1:9", max_points=30)
    chunks = list(c.chunks(1000.0, 1000.0 + 100 * 15, 15.0))
    points = []
    for s, e in chunks:
        n = round((e - s) / 15) + 1
        assert n <= 30
        points += [s + 15 * i for i in range(n)]
    assert points == [1000.0 + 15 * i for i in range(101)]


def test_max_points_above_prometheus_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="11000"):
        PromClient("http://127.0.0.1:9", max_points=20_000)


def test_cli_answers_a_400_with_exit_2_and_one_line(flaky: type[FlakyServer]) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "invalid parameter \"query\": parse error"}
    with flaky(body=body) as srv:
        proc = subprocess.run([sys.executable, "-m", "app", "labels", "--prom", srv.url, "--start", "1000",
                               "--end", "2000", "--out", "x.parquet"], capture_output=True, text=True, cwd=REPO,
                              timeout=60)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "HTTP 400" in lines[0] and "parse error" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_unreachable_exit_2() -> None:
    port = free_port()
    proc = subprocess.run([sys.executable, "-m", "app", "labels", "--prom", f"http://127.0.0.1:{port}",
                           "--retries", "0", "--check"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: Prometheus at")
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
