"""Golden outputs: `predict --explain --hours 24` on every file in example/ answers as recorded.

Why: moving code between packages, or replacing a fast path, must not change a single answer. The
files in tests/golden/ were written by the code before such a change; the test compares every field
(floats to 1e-9 relative). When the *model* changes on purpose (new artifacts), re-record them with
`python tests/test_golden.py --update` and review the diff like any other change.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
EXAMPLES = sorted(p for p in (ROOT / "example").iterdir() if p.suffix in (".yaml", ".json"))
ARGS = ["--explain", "--hours", "24", "--grid-gco2-per-kwh", "400"]
IDENTITY = {"model_version"}
"""Fields naming the artifact rather than the answer: a retrained, identical model gets a new version."""


def run_predict(example: Path) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "app", "predict", str(example), *ARGS], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def same(a: object, b: object, path: str = "") -> list[str]:
    """Differences between two JSON values, floats compared to 1e-9 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only on one side" for k in a.keys() ^ b.keys()]
        shared = (a.keys() & b.keys()) - IDENTITY
        return out + [d for k in shared for d in same(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        ok = isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, rel_tol=1e-9)
        return [] if ok else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_predict_matches_golden(example: Path) -> None:
    want = [json.loads(line) for line in (GOLDEN / f"{example.name}.ndjson").read_text().splitlines()]
    diffs = same(run_predict(example), want)
    assert not diffs, diffs[:10]


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_golden.py --update   (re-record tests/golden/ from the current code)")
    GOLDEN.mkdir(exist_ok=True)
    for ex in EXAMPLES:
        rows = run_predict(ex)
        (GOLDEN / f"{ex.name}.ndjson").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        print(f"{ex.name}: {len(rows)} predictions")
