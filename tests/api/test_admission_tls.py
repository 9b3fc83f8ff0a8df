"""The webhook as the cluster runs it: `python -m app serve --ssl-certfile --ssl-keyfile` (real uvicorn, TLS) with the
certificates scripts/webhook-certs.sh makes, called by name (`podpower-webhook.podpower.svc` as SNI and
checked against the certificate) with the script's CA, as the API server does with the caBundle.

The server loads the shipped artifacts (the model with an interval and an out-of-distribution
check), so the interval annotation and the warning are exercised; the expected values come from
`/predict/from-yaml` on the same object.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.serving.admission import PREDICTED_WATTS, PREDICTED_WATTS_INTERVAL, PREDICTED_WATTS_TOTAL
from tests.api.reviews import objects_in, patched, review
from tests.collector.tls import make_pki
from tests.conftest import EXAMPLES, REPO, free_port
from tests.k8s.test_webhook import HOST, make_certs

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("webhook-certs")
    make_certs(out)
    return out


@pytest.fixture(scope="module")
def webhook(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("webhook-log") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--ssl-certfile", str(certs / "tls.crt"), "--ssl-keyfile", str(certs / "tls.key")],
                                cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={k: v for k, v in os.environ.items() if k not in ("ENCODER_PATH", "MODEL_PATH")})
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if call(certs, "GET", base + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"/readyz not 200 in 90 s: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def call(certs: Path, method: str, url: str, body: Any = None, ca: Path | None = None) -> httpx.Response:
    """A request the way the API server makes it: to the Service's DNS name (SNI), verified with the CA."""
    with httpx.Client(verify=ssl.create_default_context(cafile=ca or certs / "ca.crt"), timeout=10) as c:
        kwargs: dict[str, Any] = {"extensions": {"sni_hostname": HOST}}
        if body is not None:
            kwargs.update(content=body if isinstance(body, str) else json.dumps(body),
                          headers={"Content-Type": "application/json" if not isinstance(body, str) else "text/plain"})
        return c.request(method, url, **kwargs)


def test_a_review_over_tls_gets_the_annotations_with_the_interval(webhook: str, certs: Path) -> None:
    (dep,) = objects_in(EXAMPLES / "kubectl-get-deployment.yaml")
    body = review(dep)
    r = call(certs, "POST", webhook + "/admission/mutate", body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["response"]["uid"] == body["request"]["uid"] and out["response"]["allowed"] is True
    ann = patched(dep, out)["metadata"]["annotations"]
    expected = call(certs, "POST", webhook + "/predict/from-yaml", yaml.safe_dump(dep)).json()
    assert ann[PREDICTED_WATTS] == f"{expected['pred_avg_power_w']:.3f}"
    assert ann[PREDICTED_WATTS_TOTAL] == f"{expected['pred_power_w_total']:.3f}"
    interval = json.loads(ann[PREDICTED_WATTS_INTERVAL])
    assert interval == {"low": round(expected["pred_avg_power_w_low"], 3),
                        "high": round(expected["pred_avg_power_w_high"], 3), "level": expected["interval_level"]}
    assert interval["low"] <= expected["pred_avg_power_w"] <= interval["high"]
    warned = any("unlike the power model's training workloads" in w
                 for w in out["response"].get("warnings", []))
    assert warned == bool(expected.get("out_of_distribution"))


ABSURD = EXAMPLES.parent / "tests" / "data" / "corpus" / "absurd"


def test_out_of_distribution_workloads_get_a_warning(webhook: str, certs: Path) -> None:
    """The examples (ordinary specs) and a few absurd ones: a warning exactly when the API says OOD."""
    flagged = []
    absurd = [ABSURD / n for n in ("cpu-100000-cores.yaml", "memory-one-byte.yaml", "cronjob-64-gpus.yaml")]
    for path in [*sorted(EXAMPLES.glob("*.yaml")), *absurd]:
        for obj in objects_in(path):
            if obj["kind"] in ("Service", "ConfigMap"):
                continue
            expected = call(certs, "POST", webhook + "/predict/from-yaml", yaml.safe_dump(obj)).json()
            warnings = call(certs, "POST", webhook + "/admission/mutate", review(obj)).json()["response"].get(
                "warnings", [])
            assert bool(warnings) == bool(expected.get("out_of_distribution")), (path.name, warnings)
            flagged += warnings
    assert len(flagged) >= len(absurd), "the absurd specs must be out of distribution: the warning is not exercised"


def test_only_tls_with_the_right_ca(webhook: str, certs: Path, tmp_path: Path) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(webhook.replace("https://", "http://") + "/healthz", timeout=5)
    other = make_pki(tmp_path)
    with pytest.raises(httpx.ConnectError):
        call(certs, "GET", webhook + "/healthz", ca=other.ca)
    with httpx.Client(verify=ssl.create_default_context(cafile=certs / "ca.crt"), timeout=5) as c, \
            pytest.raises(httpx.ConnectError):
        c.get(webhook + "/healthz")  # the certificate names the Service, not 127.0.0.1


@pytest.mark.parametrize(("flags", "message"), [
    (["--ssl-certfile", "{certs}/tls.crt"], "--ssl-certfile and --ssl-keyfile go together"),
    (["--ssl-keyfile", "{certs}/tls.key"], "--ssl-certfile and --ssl-keyfile go together"),
    (["--ssl-certfile", "{certs}/nope.crt", "--ssl-keyfile", "{certs}/tls.key"], "nope.crt: no such file"),
])
def test_serve_refuses_half_a_tls_setup(certs: Path, flags: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli.main import main

    assert main(["serve", "--port", str(free_port()), *[f.format(certs=certs) for f in flags]]) == 2
    assert message in capsys.readouterr().err
