"""Sinks: the NDJSON file under concurrent writers and kills, the POST sink against slow and failing APIs."""

from __future__ import annotations

import io
import itertools
import json
import logging
import multiprocessing
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.adapters.collector.backoff import Backoff
from app.adapters.collector.sinks import NdjsonSink, PostSink
from app.adapters.files import read_requests, write_ndjson
from app.core.schema import InferenceRequest
from tests.conftest import EXAMPLES, REPO, free_port, need

WRITERS_PER_PROCESS = 4
LINES_PER_WRITER = 200


def _line(writer: str, i: int) -> bytes:
    # every 20th line is 64 KiB: far above PIPE_BUF, so only O_APPEND + one write keeps it whole
    pad = "x" * (65536 if i % 20 == 0 else 50 + i % 300)
    return (json.dumps({"w": writer, "i": i, "pad": pad}) + "\n").encode()


def _write_from_process(path: str, proc: int) -> None:
    sink = NdjsonSink(path)  # each process opens the file itself, as separate collectors would
    threads = [
        threading.Thread(target=lambda t=t: [sink.write_line(_line(f"p{proc}t{t}", i))
                                             for i in range(LINES_PER_WRITER)])
        for t in range(WRITERS_PER_PROCESS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sink.close()


def test_ndjson_concurrent_threads_and_processes_never_interleave(tmp_path: Path) -> None:
    need("fork" in multiprocessing.get_all_start_methods(), "needs the fork start method (Linux)")
    path = tmp_path / "out.ndjson"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_from_process, args=(str(path), p)) for p in range(4)]
    for p in procs:
        p.start()
    _write_from_process(str(path), 99)  # and this process at the same time
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    data = path.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.split(b"\n")[:-1]]  # any torn line fails to parse here
    writers = [f"p{p}t{t}" for p in (0, 1, 2, 3, 99) for t in range(WRITERS_PER_PROCESS)]
    assert len(rows) == len(writers) * LINES_PER_WRITER
    assert sorted((r["w"], r["i"]) for r in rows) == sorted((w, i) for w in writers for i in range(LINES_PER_WRITER))
    for r in rows:
        assert json.dumps(r).encode() + b"\n" == _line(r["w"], r["i"])


_KILL_WRITER = """
import sys
from app.adapters.collector.sinks import NdjsonSink
sink = NdjsonSink(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    sink.write_line(('{"i": %d, "pad": "%s"}\\n' % (i, "y" * (200000 if i % 3 == 0 else 10))).encode())
    i += 1
"""


@pytest.mark.server
def test_ndjson_sigkill_then_reopen_leaves_only_whole_lines(tmp_path: Path, caplog) -> None:
    """A SIGKILL can cut a multi-page write; the next writer to open the file removes the fragment."""
    path = tmp_path / "killed.ndjson"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_WRITER, str(path)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 10
    while (not path.exists() or path.stat().st_size < 2_000_000) and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    before = path.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    # every newline-terminated line is whole, whatever the kill hit
    rows = [json.loads(line) for line in complete.split(b"\n")[:-1]]
    assert [r["i"] for r in rows] == list(range(len(rows))) and len(rows) > 10

    caplog.set_level(logging.WARNING, logger="app.adapters.collector.sinks")
    sink = NdjsonSink(path)
    sink.write_line(b'{"i": "after"}\n')
    sink.close()
    assert path.read_bytes() == complete + b'{"i": "after"}\n'
    torn = len(before) - len(complete)
    assert (f"removed a partial last line ({torn} bytes)" in caplog.text) == (torn > 0)


def test_ndjson_partial_tail_repair_cases(tmp_path: Path) -> None:
    for content, kept in ((b"", b""), (b'{"a": 1}\n', b'{"a": 1}\n'), (b'{"a": 1}\n{"b"', b'{"a": 1}\n'),
                          (b'{"only-partial"', b""), (b'{"a": 1}\n' + b"z" * 200_000, b'{"a": 1}\n')):
        path = tmp_path / "t.ndjson"
        path.write_bytes(content)
        NdjsonSink(path).close()
        assert path.read_bytes() == kept


def test_ndjson_lines_are_what_collect_from_file_writes(tmp_path: Path) -> None:
    reqs = [r for f in sorted(EXAMPLES.glob("*.yaml")) for r in read_requests(f).requests]
    sink = NdjsonSink(tmp_path / "sub" / "out.ndjson")  # parent directory is created
    for r in reqs:
        sink.emit(r)
    sink.close()
    buf = io.StringIO()
    write_ndjson(reqs, buf)
    assert (tmp_path / "sub" / "out.ndjson").read_text() == buf.getvalue()
    with pytest.raises(ValueError, match="one newline"):
        NdjsonSink(tmp_path / "x.ndjson").write_line(b'{"a": 1}\n{"b": 2}\n')


# --- POST sink against a real loopback HTTP server ------------------------------------------------------


class FakePredictApi:
    """/predict that validates the body as an InferenceRequest; its behaviour per request is scripted."""

    def __init__(self, respond: Callable[[int], tuple[int, float]]) -> None:
        self.respond = respond  # hit number (0-based) → (status, seconds to sleep first)
        self.hits: list[tuple[float, str]] = []  # (time, workload name)
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                req = InferenceRequest.model_validate_json(body)
                with api.lock:
                    n = len(api.hits)
                    api.hits.append((time.monotonic(), req.workload_name))
                code, delay = api.respond(n)
                time.sleep(delay)
                out = json.dumps({"workload_name": req.workload_name}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/predict"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def names(self) -> list[str]:
        with self.lock:
            return [n for _, n in self.hits]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def predict_api() -> Iterator[Callable[[Callable[[int], tuple[int, float]]], FakePredictApi]]:
    servers: list[FakePredictApi] = []

    def make(respond: Callable[[int], tuple[int, float]]) -> FakePredictApi:
        servers.append(FakePredictApi(respond))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def _req(name: str) -> InferenceRequest:
    return InferenceRequest(namespace="shop", workload_kind="Deployment", workload_name=name,
                            containers=[{"name": "app", "image": "nginx", "req_cpu_mcpu": 100}])


def test_post_sink_never_blocks_on_a_slow_api_and_drops_oldest(predict_api, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="app.adapters.collector.sinks")
    api = predict_api(lambda _n: (200, 0.15))  # every answer takes 150 ms
    sink = PostSink(api.url, max_queue=5, retries=0)
    names = [f"w{i:02d}" for i in range(20)]
    durations = []
    for name in names:
        t0 = time.perf_counter()
        sink.emit(_req(name))
        durations.append(time.perf_counter() - t0)
    # 20 emits while the API needs 150 ms per request: each emit returned at once
    assert max(durations) < 0.05, durations
    assert sum(durations) < 0.1
    sink.close(timeout=5)
    received = api.names()
    dropped = [n for n in names if f"dropped the oldest request, Deployment shop/{n}" in caplog.text]
    assert sorted(received + dropped) == names  # every request either arrived or was logged as dropped
    assert received[-5:] == names[-5:]  # the newest ones are kept
    assert len(dropped) == sink.dropped >= 20 - 5 - 1  # queue of 5, at most one in flight
    assert sink.sent == len(received)


def test_post_sink_retries_with_backoff_and_logs_each_failure(predict_api, caplog) -> None:
    caplog.set_level(logging.INFO, logger="app.adapters.collector.sinks")
    api = predict_api(lambda n: (503, 0.0) if n < 3 else (200, 0.0))  # three failures, then success
    sink = PostSink(api.url, retries=4, backoff=Backoff(0.05, 1.0))
    sink.emit(_req("flaky"))
    sink.close(timeout=10)
    assert api.names() == ["flaky"] * 4
    assert (sink.sent, sink.failed) == (1, 0)
    failures = [r.getMessage() for r in caplog.records if "failed (attempt" in r.getMessage()]
    assert len(failures) == 3 and all("HTTP 503" in m for m in failures)
    times = [t for t, _ in api.hits]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # equal-jitter backoff: the n-th wait is at least half of 0.05·2ⁿ, and at most 0.05·2ⁿ (+ slack)
    for n, gap in enumerate(gaps):
        assert 0.05 * 2**n / 2 <= gap <= 0.05 * 2**n + 0.25, gaps


def test_post_sink_gives_up_rejected_and_unreachable(predict_api, caplog) -> None:
    caplog.set_level(logging.INFO, logger="app.adapters.collector.sinks")
    down = predict_api(lambda _n: (500, 0.0))
    sink = PostSink(down.url, retries=2, backoff=Backoff(0.01, 0.05))
    sink.emit(_req("doomed"))
    sink.close(timeout=10)
    assert down.names() == ["doomed"] * 3 and sink.failed == 1
    assert "POST Deployment shop/doomed to " + down.url + " failed: HTTP 500" in caplog.text

    bad = predict_api(lambda _n: (422, 0.0))
    sink = PostSink(bad.url, retries=5, backoff=Backoff(0.01, 0.05))
    sink.emit(_req("invalid"))
    sink.close(timeout=10)
    assert bad.names() == ["invalid"] and sink.failed == 1  # a 4xx is not retried
    assert "rejected (HTTP 422" in caplog.text

    nowhere = f"http://127.0.0.1:{free_port()}/predict"
    sink = PostSink(nowhere, retries=1, backoff=Backoff(0.01, 0.05))
    sink.emit(_req("lost"))
    sink.close(timeout=10)
    assert sink.failed == 1 and sink.sent == 0
    assert f"POST Deployment shop/lost to {nowhere} failed (attempt 1/2, ConnectError" in caplog.text


def test_post_sink_close_is_bounded_when_the_api_hangs(predict_api) -> None:
    api = predict_api(lambda _n: (503, 0.0))
    sink = PostSink(api.url, retries=100, backoff=Backoff(0.2, 5.0))
    for i in range(3):
        sink.emit(_req(f"h{i}"))
    t0 = time.monotonic()
    sink.close(timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert sink.sent == 0 and sink.dropped + sink.failed == 3

