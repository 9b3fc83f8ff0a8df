"""A real Prometheus for tests and benchmarks: TSDB blocks from simulator OpenMetrics, served on loopback.

`promtool tsdb create-blocks-from openmetrics` turns the simulator's history into blocks; the real
`prometheus` binary then serves them read-only (no scrape targets) with a 100-year retention so the
2026 timestamps are never compacted away.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def build_tsdb(openmetrics: Path, data_dir: Path, promtool: str = "promtool") -> Path:
    """Blocks from an OpenMetrics file (raises with promtool's own message when it refuses the file)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(data_dir)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"promtool failed: {proc.stderr.strip()[-2000:]}")
    return data_dir


@contextmanager
def run_prometheus(data_dir: Path, port: int, prometheus: str = "prometheus",
                   timeout_s: float = 60.0) -> Iterator[str]:
    """Start Prometheus on 127.0.0.1:`port` over `data_dir`, wait for /-/ready, yield its URL, stop it."""
    cfg = data_dir.parent / f"prometheus-{port}.yml"
    cfg.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    log = open(data_dir.parent / f"prometheus-{port}.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
         "--query.max-samples=200000000"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready after {timeout_s:g}s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
