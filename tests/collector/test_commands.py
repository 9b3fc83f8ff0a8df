"""`python -m app collect watch` as a real process: SIGTERM stops it cleanly, a restart resumes exactly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.workloads.convert import request_from_object
from tests.collector.conftest import expected_line, read_lines, wait_for
from tests.collector.fake_apiserver import FakeApiServer
from tests.collector.manifests import deployment
from tests.conftest import REPO


def _start(kubeconfig: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "app", "collect", "watch", "--kubeconfig", str(kubeconfig),
                             "--kinds", "Deployment", "--output", str(out), *extra],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)


@pytest.mark.server
def test_sigterm_mid_stream_flushes_and_restart_completes_exactly(api: FakeApiServer, tmp_path: Path) -> None:
    originals = [api.apply(deployment(f"w{i:02d}")) for i in range(20)]
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    out = tmp_path / "in.ndjson"
    proc = _start(kubeconfig, out, "--emit-initial")
    try:
        wait_for(lambda: len(read_lines(out)) == 20, 30, "the initial 20 workloads")
        api.wait_watching("Deployment")
        changed = [api.apply(deployment(f"w{i:02d}", image="nginx:1.28")) for i in range(20)]
        proc.send_signal(signal.SIGTERM)  # while the changes are still streaming in
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after flushing" in err

    data = out.read_bytes()
    assert data.endswith(b"\n")
    lines = read_lines(out)
    assert 20 <= len(lines) <= 40
    assert lines == [expected_line(o) for o in originals + changed[: len(lines) - 20]]
    # the state file agrees with what reached the output, workload by workload
    last = {}
    for line in lines:
        req = json.loads(line)
        last[f"Deployment/shop/{req['workload_name']}"] = request_from_object(
            deployment(req["workload_name"], image=req["containers"][0]["image"])).spec_hash()
    assert json.loads((tmp_path / "in.ndjson.state.json").read_text())["workloads"] == last

    # a restart emits exactly the changes the first process did not get to, and nothing twice
    again = _start(kubeconfig, out, "--once")
    _, err = again.communicate(timeout=30)
    assert again.returncode == 0, err
    assert read_lines(out) == [expected_line(o) for o in originals + changed]
