"""Fixtures: a fake API server on loopback and a collector running against it through the real client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.adapters.collector.config import connect
from app.adapters.collector.sinks import NdjsonSink
from app.adapters.collector.state import TemplateState
from app.adapters.collector.tracker import Tracker
from app.adapters.collector.watch import Collector, WatchOptions
from app.core.kinds import parse_kinds
from app.workloads.convert import request_from_object
from tests.collector.fake_apiserver import FakeApiServer


def expected_line(obj: dict[str, Any]) -> str:
    """The NDJSON line `collect from-file` writes for this manifest: what the collector must emit too."""
    return request_from_object(obj).model_dump_json(exclude_none=True)


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@dataclass
class Running:
    """A collector running on a thread; `stop()` returns after it finished (or re-raises its error)."""

    collector: Collector
    thread: threading.Thread
    output: Path
    state_path: Path
    sink: NdjsonSink
    errors: list[BaseException]

    def lines(self) -> list[str]:
        return read_lines(self.output)

    def wait_lines(self, n: int, timeout: float = 10.0) -> list[str]:
        wait_for(lambda: len(self.lines()) >= n, timeout, f"{n} NDJSON lines in {self.output}")
        return self.lines()

    def stop(self) -> None:
        self.collector.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "collector did not stop"
        self.sink.close()
        if self.errors:
            raise self.errors[0]


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def start_collector(api: FakeApiServer, tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start a collector against `api`; options as keywords (short timings by default)."""
    running: list[Running] = []
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")

    def start(kinds: tuple[str, ...] = ("Deployment",), *, emit_initial: bool = True, output: Path | None = None,
              state: Path | None = None, **opts: Any) -> Running:
        output = output or tmp_path / "in.ndjson"
        state_path = state or Path(f"{output}.state.json")
        cluster = connect(str(kubeconfig), environ={})
        options = WatchOptions(kinds=parse_kinds(list(kinds)), **{"watch_timeout": 30, "backoff_base": 0.02,
                                                                   "backoff_cap": 0.2, **opts})
        sink = NdjsonSink(output)
        tracker = Tracker(TemplateState.load(state_path), sink.emit, emit_initial=emit_initial)
        collector = Collector(cluster, options, tracker)
        errors: list[BaseException] = []

        def body() -> None:
            try:
                collector.run()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=body, daemon=True)
        thread.start()
        run = Running(collector, thread, output, state_path, sink, errors)
        running.append(run)
        return run

    yield start
    for run in running:
        if run.thread.is_alive():
            run.collector.stop()
            run.thread.join(15)


def lines_as_json(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]
