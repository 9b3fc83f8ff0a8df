"""YAML loading speed: `app.workloads.yamlload.load_documents` against plain libyaml in the same run.

    python bench/bench_yaml.py              # parse ratios only (a few seconds)
    python bench/bench_yaml.py --api        # plus a 1 MiB flow-style body through /predict/from-yaml

The baseline is `yaml.load_all(text, Loader=yaml.CSafeLoader)` on the same text, timed in the same
process right before ours, best of `--repeat` runs each: the machine's speed drifts and other
processes share its cores, so read the ratio rather than the absolute times. Inputs:
  * files: each example manifest (`example/*.yaml`, 0.4 to 2 KB) loaded on its own, 100 times over:
    the size of a typical request, where fixed costs per call show;
  * block: the example manifests (`example/*.yaml`) as one multi-document stream, ~450 KB, the
    style `kubectl get -o yaml` and hand-written manifests use;
  * flow: a ~1 MiB `kind: List` of real-looking Deployments (the `kubectl get deploy -o yaml`
    example with new names) written in YAML flow style;
  * json: the same List as indented JSON (which is YAML too), as `kubectl get -o json` prints it.
With `--api` the flow body goes through the real app (Starlette's TestClient, in-process) on
benchmark artifacts fitted by `bench/artifacts.py`, and the time of the whole request is reported.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.workloads.yamlload import load_documents  # noqa: E402

MIB = 2**20


def block_text(copies: int = 60) -> str:
    texts = [p.read_text() for p in sorted((REPO / "example").glob("*.yaml"))]
    return "\n---\n".join(texts * copies)


def deployment_list(size: int = MIB) -> dict[str, object]:
    """A `kind: List` of copies of the kubectl example Deployment, renamed, whose JSON is just over `size` bytes."""
    base = yaml.safe_load((REPO / "example" / "kubectl-get-deployment.yaml").read_text())
    one = len(json.dumps(base))
    items = []
    for i in range(size // one + 1):
        item = copy.deepcopy(base)
        item["metadata"]["name"] = f"web-{i}"
        item["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": f"{100 + i % 900}m"}}
        items.append(item)
    return {"apiVersion": "v1", "kind": "List", "items": items}


def flow_text(size: int = MIB) -> str:
    return yaml.safe_dump(deployment_list(size), default_flow_style=True, width=200)


def json_text(size: int = MIB) -> str:
    return json.dumps(deployment_list(size), indent=2)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def parse_ratios(repeat: int) -> None:
    files = [p.read_text() for p in sorted((REPO / "example").glob("*.yaml"))] * 100
    print(f"{'input':6} {'bytes':>9} {'CSafeLoader s':>14} {'load_documents s':>17} {'ratio':>6}")
    for name, texts in (("files", files), ("block", [block_text()]), ("flow", [flow_text()]),
                        ("json", [json_text()])):
        for text in set(texts):
            assert list(load_documents(text)) == list(yaml.load_all(text, Loader=yaml.CSafeLoader)), name
        base = best(lambda ts=texts: [list(yaml.load_all(t, Loader=yaml.CSafeLoader)) for t in ts], repeat)
        mine = best(lambda ts=texts: [list(load_documents(t)) for t in ts], repeat)
        size = sum(map(len, texts))
        print(f"{name:6} {size:9d} {base:14.3f} {mine:17.3f} {mine / base:6.2f}")


def api_time(repeat: int) -> None:
    from fastapi.testclient import TestClient

    from app.api.app import create_app
    from app.core.settings import Settings
    from bench.artifacts import build_artifacts

    body = flow_text()
    with tempfile.TemporaryDirectory() as tmp:
        enc, model = build_artifacts(Path(tmp), n_train=500)
        app = create_app(Settings(encoder_path=enc, model_path=model), background=False)  # type: ignore[arg-type]
        with TestClient(app) as client:
            for path in ("/infer/from-yaml", "/predict/from-yaml"):
                def post(p: str = path) -> None:
                    r = client.post(p, content=body, headers={"Content-Type": "text/plain"})
                    assert r.status_code == 200, r.text[:300]
                print(f"{path}: {len(body)} bytes flow-style, {best(post, repeat):.3f} s (best of {repeat})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement; the best is reported")
    ap.add_argument("--api", action="store_true", help="also time a 1 MiB flow body through /predict/from-yaml")
    args = ap.parse_args()
    parse_ratios(args.repeat)
    if args.api:
        api_time(max(1, args.repeat // 2))


if __name__ == "__main__":
    main()
