"""The test corpus in tests/data/corpus loads through the collector, is large and varied, and is documented.

Rule: every manifest of ordinary software in tests/data/corpus (and every absurd spec in its
`absurd/` directory) converts through `python -m app collect from-file` into one InferenceRequest
per workload object, with no error; the corpus holds at least 110 workloads of at least 40 software
families; tests/data/corpus/README.md names every file (and no file that is missing).
Source: issue #17 (a corpus of realistic manifests for distribution and out-of-distribution tests).
Guarantees: the expected request count per file is computed here from the raw YAML (documents and
`kind: List` items whose kind is a workload kind), independently of the converter, so a converter
that silently drops or invents workloads fails; families are counted from the emitted requests.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from app.adapters.files import read_requests
from app.cli.main import main
from app.core.schema import InferenceRequest

CORPUS = Path(__file__).resolve().parent / "data" / "corpus"
ABSURD = CORPUS / "absurd"
README = CORPUS / "README.md"
CORPUS_FILES = sorted(CORPUS.glob("*.yaml"))
ABSURD_FILES = sorted(ABSURD.glob("*.yaml"))
# Written out here rather than imported, so the expectation does not share the converter's list.
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job", "CronJob",
                  "Pod"}
MIN_WORKLOADS = 110
MIN_FAMILIES = 40
MIN_ABSURD = 40


def _expected_workloads(path: Path) -> int:
    """Workload objects in a file, counted from the YAML itself (List items flattened)."""
    count = 0
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not isinstance(doc, dict):
            continue
        items = doc.get("items") if doc.get("kind") == "List" else [doc]
        count += sum(1 for item in items or [] if isinstance(item, dict) and item.get("kind") in WORKLOAD_KINDS)
    return count


def _image_name(ref: str) -> str:
    """`registry.k8s.io/ingress-nginx/controller:v1.10.1@sha256:…` → `controller`."""
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _convert_via_cli(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[InferenceRequest]:
    """Run `collect from-file` as the command line does and parse what it wrote."""
    out = tmp_path / f"{path.stem}.ndjson"
    code = main(["collect", "from-file", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "error" not in err.lower(), err
    return [InferenceRequest.model_validate_json(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_corpus_is_present() -> None:
    assert CORPUS_FILES, f"no manifests under {CORPUS}"
    assert len(ABSURD_FILES) >= MIN_ABSURD, f"{len(ABSURD_FILES)} absurd specs, want >= {MIN_ABSURD}"


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_file_converts(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requests = _convert_via_cli(path, tmp_path, capsys)
    assert len(requests) >= 1
    assert len(requests) == _expected_workloads(path)
    assert all(c.image for r in requests for c in r.containers), "every container names an image"


@pytest.mark.parametrize("path", ABSURD_FILES, ids=lambda p: p.name)
def test_absurd_file_converts(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert path.read_text(encoding="utf-8").startswith("# Absurd (out-of-distribution) spec: ")
    requests = _convert_via_cli(path, tmp_path, capsys)
    assert len(requests) >= 1
    assert len(requests) == _expected_workloads(path)


def test_corpus_size_and_spread() -> None:
    requests = [r for path in CORPUS_FILES for r in read_requests(path).requests]
    assert len(requests) >= MIN_WORKLOADS, f"{len(requests)} workloads, want >= {MIN_WORKLOADS}"
    names = {r.labels["app.kubernetes.io/name"] for r in requests if "app.kubernetes.io/name" in r.labels}
    images = {_image_name(c.image) for r in requests for c in r.containers}
    assert len(names) >= MIN_FAMILIES, sorted(names)
    assert len(images) >= MIN_FAMILIES, sorted(images)
    kinds = Counter(r.workload_kind for r in requests)
    assert {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"} <= kinds.keys(), kinds
    assert any(r.gpu_count > 0 for r in requests), "GPU workloads are part of the corpus"
    assert any(r.sidecar_count > 0 for r in requests), "multi-container pods are part of the corpus"


def test_image_name() -> None:
    assert _image_name("registry.k8s.io/ingress-nginx/controller:v1.10.1@sha256:" + "a" * 64) == "controller"
    assert _image_name("localhost:5000/team/app") == "app"
    assert _image_name("nginx:1.27-alpine") == "nginx"


def test_readme_names_every_file() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [p.name for p in CORPUS_FILES if f"`{p.name}`" not in text]
    assert not missing, f"README.md does not describe: {missing}"
    assert "absurd/" in text and "written for this project" in text.lower()
    named = set(re.findall(r"`([\w.-]+\.yaml)`", text))
    stale = sorted(n for n in named if not (CORPUS / n).exists())
    assert not stale, f"README.md names files that do not exist: {stale}"
