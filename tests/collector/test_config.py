"""Configuration detection, TLS options, and the one-line errors, against a real HTTPS API server."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import Any

import pytest

from app.adapters.collector.config import ClusterConfigError, connect, parse_bool
from app.cli.main import main
from tests.collector.conftest import expected_line, read_lines
from tests.collector.fake_apiserver import FakeApiServer
from tests.collector.manifests import deployment
from tests.conftest import need


def test_no_configuration_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    with pytest.raises(ClusterConfigError) as exc:
        connect(environ={})
    assert str(exc.value) == ("no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
                              "or run in a pod with a ServiceAccount")
    with pytest.raises(ClusterConfigError, match=r"^/nope/config: kubeconfig file not found$"):
        connect("/nope/config", environ={})
    with pytest.raises(ClusterConfigError, match=r"^KUBECONFIG=/a:/b: no such file$"):
        connect(environ={"KUBECONFIG": "/a:/b"})


def test_in_cluster_is_detected_and_its_failure_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need(not Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists(), "running inside a pod")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(ClusterConfigError) as exc:
        connect()
    assert str(exc.value) == "in-cluster config: Service token file does not exist."


def test_bad_kubeconfig_and_env_values(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    with pytest.raises(ClusterConfigError, match=f"^{bad}: .*context"):
        connect(str(bad), environ={})
    assert parse_bool("VERIFY_SSL", "False") is False and parse_bool("VERIFY_SSL", "1") is True
    assert parse_bool("VERIFY_SSL", None) is None
    with pytest.raises(ClusterConfigError, match="^VERIFY_SSL='maybe': expected true or false$"):
        parse_bool("VERIFY_SSL", "maybe")
    with FakeApiServer() as api, pytest.raises(ClusterConfigError, match="^K8S_CA_FILE=/no/ca.crt: file not found$"):
        connect(str(api.write_kubeconfig(tmp_path / "kc")), environ={"K8S_CA_FILE": "/no/ca.crt"})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    try:
        from tests.collector.tls import make_pki
    except ImportError:
        need(False, "TLS tests need `cryptography`: pip install cryptography")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def https_api(pki: Any) -> Any:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    with FakeApiServer(tls=ctx) as api:
        yield api


def _run(tmp_path: Path, api: FakeApiServer, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    code = main(["collect", "watch", "--kubeconfig", str(kubeconfig), "--kinds", "Deployment", "--once",
                 "--emit-initial", "--output", str(tmp_path / "out.ndjson"), "--no-state", *extra])
    return code, capsys.readouterr().err


def test_tls_untrusted_ca_then_k8s_ca_file_then_verify_ssl_false(
    https_api: FakeApiServer, pki: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    web = https_api.apply(deployment("web"))
    monkeypatch.delenv("K8S_CA_FILE", raising=False)
    monkeypatch.delenv("VERIFY_SSL", raising=False)
    code, err = _run(tmp_path, https_api, capsys)
    assert code == 2
    (line,) = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert line.startswith(f"error: TLS with the Kubernetes API server at {https_api.url} failed")
    assert "CERTIFICATE_VERIFY_FAILED" in line and "set K8S_CA_FILE" in line

    monkeypatch.setenv("K8S_CA_FILE", str(pki.ca))
    code, err = _run(tmp_path, https_api, capsys)
    assert code == 0, err
    assert read_lines(tmp_path / "out.ndjson") == [expected_line(web)]

    monkeypatch.delenv("K8S_CA_FILE")
    monkeypatch.setenv("VERIFY_SSL", "false")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = _run(tmp_path, https_api, capsys, "--suppress-tls-warnings")
    assert code == 0, err
    assert not [w for w in caught if "Unverified HTTPS request" in str(w.message)]
    assert read_lines(tmp_path / "out.ndjson") == [expected_line(web)] * 2
