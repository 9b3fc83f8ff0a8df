"""Schemathesis against the real server (`python -m app serve`, loopback), as CI runs it: a bounded run.

The checks CI needs: no server error, every answer's status code documented, its content type and body
matching the OpenAPI schema. About 2,000 cases (examples, coverage, then fuzzing; 2,064 in 46 s measured)
on one worker; the seed is fixed, so a failure reproduces. The long run (40,000+ cases, every check)
is described in docs/api.md; `tests/api/test_fuzz.py` fuzzes the app in process.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_server import start, stop, wait_for
from tests.conftest import free_port

pytestmark = [pytest.mark.server, pytest.mark.slow]

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 500
"""Fuzzing cases per operation (the coverage phase adds its own): about 2,000 cases in all."""
MAX_TIME_S = 170
"""Bound on the run (the subprocess is killed past it plus a margin). Not `--max-time`: with it, fuzzing
repeats until the time is spent, whatever `--max-examples` says."""


@pytest.fixture(scope="module")
def base(tiny_artifacts: tuple[Path, Path]) -> Iterator[str]:
    port = free_port()
    proc = start(["-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                  "--encoder", str(tiny_artifacts[0]), "--model", str(tiny_artifacts[1])])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base, "/readyz", proc)
        yield base
    finally:
        log = stop(proc)
        assert "Traceback" not in log, log[-5000:]


def test_schemathesis_against_the_server(base: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json", "--checks", CHECKS,
           "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES),
           "--workers", "1", "--seed", "20261130", "--suppress-health-check", "all",
           "--request-timeout", "20", "--output-truncate", "true"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=MAX_TIME_S)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-8000:]
    cases = re.search(r"(\d+) generated", out)
    assert cases is not None, out[-3000:]
    print(f"schemathesis: {cases.group(1)} cases against {base}")  # shown with `pytest -s`
    assert int(cases.group(1)) >= 1500, out[-3000:]  # a run that tested little is no evidence
