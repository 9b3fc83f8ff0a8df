"""A real Prometheus for tests and benchmarks: TSDB blocks from simulator OpenMetrics, served on loopback.

`promtool tsdb create-blocks-from openmetrics` turns the simulator's history into blocks; the real
`prometheus` binary then serves them read-only (no scrape targets) with a 100-year retention so the
2026 timestamps are never compacted away.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import running


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
    url = f"http://127.0.0.1:{port}"
    cmd = [prometheus, f"--config.file={cfg}", f"--storage.tsdb.path={data_dir}",
           "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
           "--query.max-samples=200000000"]
    with running(cmd, url + "/-/ready", data_dir.parent / f"prometheus-{port}.log", timeout_s=timeout_s):
        yield url


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
