"""Where emitted requests go: an append-only NDJSON file and/or the prediction API.

The NDJSON sink writes each line with one `write(2)` on an `O_APPEND` descriptor: the kernel
appends the whole buffer at the end of the file under the inode lock, so concurrent writers
(threads or processes) never interleave, and readers can tail the file while it grows. SIGTERM
is handled (the collector stops between lines). A SIGKILL, though, can cut a write that spans a
page boundary (Linux checks for fatal signals between pages), so opening the sink first removes
a partial last line left by a killed writer, under an exclusive `flock` that every writer takes
shared around its write, so a live writer's line is never mistaken for a torn one.

The POST sink never blocks the watch: requests wait in a bounded queue that a background thread
drains; when the API is slow the oldest waiting request is dropped (and logged), because a newer
template for the same cluster is worth more than an old one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx

from app.adapters.collector.backoff import Backoff
from app.core.schema import InferenceRequest

log = logging.getLogger("app.adapters.collector.sinks")


class Sink(Protocol):
    def emit(self, req: InferenceRequest) -> None: ...

    def close(self) -> None: ...


def request_line(req: InferenceRequest) -> bytes:
    """The NDJSON line for a request, the same shape `collect from-file` writes."""
    return (req.model_dump_json(exclude_none=True) + "\n").encode()


class NdjsonSink:
    """Append-only NDJSON; `path` `-` means standard output."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.lines = 0
        if self.path == "-":
            self._fd = 1
            self._owns = False
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._owns = True
        # An flock belongs to the open file, not to a thread: one thread's unlock would end a sibling's
        # shared lock in the middle of its write, and another process opening the file could then cut
        # that write as a "partial last line". The process's writers take turns instead.
        self._write_lock = threading.Lock()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            dropped = _drop_partial_tail(self._fd)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if dropped:
            log.warning("%s: removed a partial last line (%d bytes) left by a killed writer", self.path, dropped)

    def write_line(self, data: bytes) -> None:
        """Write one complete line (must end in exactly one newline) in a single system call."""
        if not data.endswith(b"\n") or b"\n" in data[:-1]:
            raise ValueError("an NDJSON line must end with one newline and contain no other")
        if not self._owns:
            self._write(data)
            self.lines += 1
            return
        with self._write_lock:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                self._write(data)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self.lines += 1

    def _write(self, data: bytes) -> None:
        written = os.write(self._fd, data)
        while written < len(data):  # a pipe, or a full disk; regular files take the buffer whole
            written += os.write(self._fd, data[written:])

    def emit(self, req: InferenceRequest) -> None:
        self.write_line(request_line(req))

    def close(self) -> None:
        if self._owns and self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


def _drop_partial_tail(fd: int, block: int = 65536) -> int:
    """Truncate the file after its last newline; returns how many bytes were removed."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - block)
        chunk = os.pread(fd, end - start, start)
        if end == size and chunk.endswith(b"\n"):
            return 0
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            os.ftruncate(fd, keep)
            return size - keep
        end = start
    if size:
        os.ftruncate(fd, 0)
    return size


class PostSink:
    """POST each request as JSON to the prediction API's `/predict` from a background thread.

    Retries connection errors, 408/429 and 5xx with jittered exponential backoff, logging one line
    per failed attempt; other 4xx answers mean the request itself is bad and are not retried.
    """

    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 1000,
        retries: int = 5,
        timeout: float = 10.0,
        backoff: Backoff | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"--post-queue must be at least 1, got {max_queue}")
        self.url = url
        self.retries = retries
        self._backoff_proto = backoff or Backoff(0.5, 30.0)
        self._queue: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._abort = threading.Event()
        self._client = httpx.Client(timeout=timeout, headers={"content-type": "application/json", **(headers or {})})
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="post-sink", daemon=True)
        self._thread.start()

    def emit(self, req: InferenceRequest) -> None:
        """Enqueue without blocking; a full queue drops its oldest entry."""
        item = (f"{req.workload_kind} {req.namespace}/{req.workload_name}", request_line(req).rstrip(b"\n"))
        with self._lock:
            while True:
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        old, _ = self._queue.get_nowait()
                    except queue.Empty:
                        continue
                    self._queue.task_done()
                    self.dropped += 1
                    log.warning("POST queue full (%d): dropped the oldest request, %s", self._queue.maxsize, old)

    def _post(self, what: str, body: bytes) -> None:
        backoff = Backoff(self._backoff_proto.base, self._backoff_proto.cap)
        for attempt in range(1, self.retries + 2):
            try:
                resp = self._client.post(self.url, content=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if resp.status_code < 300:
                    self.sent += 1
                    log.debug("POST %s: %s", what, resp.text[:200])
                    return
                problem = f"HTTP {resp.status_code}: {resp.text[:200]!r}"
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    self.failed += 1
                    log.error("POST %s to %s rejected (%s); not retried", what, self.url, problem)
                    return
            if attempt > self.retries:
                break
            delay = backoff.next()
            log.warning("POST %s to %s failed (attempt %d/%d, %s); retrying in %.2fs",
                        what, self.url, attempt, self.retries + 1, problem, delay)
            if self._abort.wait(delay):
                break
        self.failed += 1
        log.error("POST %s to %s failed: %s; gave up", what, self.url, problem)

    def _run(self) -> None:
        while not self._abort.is_set():
            try:
                what, body = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            try:
                self._post(what, body)
            finally:
                self._queue.task_done()

    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued for up to `timeout` seconds, then drop the rest (logged)."""
        self._closing.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abort.set()
            self._thread.join(5)
        left = self._queue.qsize()
        if left:
            self.dropped += left
            log.error("POST sink closed with %d request(s) unsent", left)
        self._client.close()
        log.info("POST sink: %d sent, %d failed, %d dropped", self.sent, self.failed, self.dropped)


class FanOut:
    """Emit to several sinks; closes them all even when one fails to close."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def emit(self, req: InferenceRequest) -> None:
        for sink in self.sinks:
            sink.emit(req)

    def close(self) -> None:
        errors: list[BaseException] = []
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # close every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

