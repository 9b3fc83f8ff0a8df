"""Start a real server process, wait until it answers 200 on a URL, stop it afterwards.

Shared by the fixtures that run real binaries on loopback (Prometheus, the API behind the image's
entrypoint) and by the benchmarks, so start-up, readiness polling and shutdown behave the same.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


@contextmanager
def running(cmd: Sequence[str], ready_url: str, log_path: Path, *, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout_s: float = 90.0, stop_timeout_s: float = 20.0) -> Iterator[None]:
    """Run `cmd` (output to `log_path`) until `ready_url` answers 200; raise with the log path if it never does."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env), stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{ready_url} not 200 after {timeout_s:g}s: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
