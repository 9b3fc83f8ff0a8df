"""The webhook manifests are safe by default and hang together with the app, cert-manager and the cert script.

Strict OpenAPI validation of every object (webhook configurations, Service, RBAC, Deployment) is in
test_validate.py; the cert-manager objects (custom resources, no schema there) are checked here
field by field. What the webhook serves is read from the app itself (its routes, `ADMITTED`, the CLI
parser), so a renamed path, kind or flag fails here.
"""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from app.api.routes.admission import router
from app.cli.main import build_parser
from app.core.kinds import KINDS
from app.serving.admission import ADMITTED, SKIP_LABEL
from tests.conftest import REPO, need_binary
from tests.k8s.manifests import app_argv, container_env, find, pod_spec
from tests.k8s.test_validate import kv, validate

NAME = "podpower-webhook"
HOST = "podpower-webhook.podpower.svc"
CONFIGS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
PATHS = {"MutatingWebhookConfiguration": "/admission/mutate", "ValidatingWebhookConfiguration": "/admission/validate"}


def webhooks(kind: str) -> list[dict[str, Any]]:
    return list(find(kind, NAME).obj["webhooks"])


def rules_kinds(rules: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(group, Kind) every rule matches, resolved through the collector's kind table."""
    by_plural = {(k.group, k.plural): k.kind for k in KINDS.values()}
    out = set()
    for rule in rules:
        assert rule["apiVersions"] == ["v1"] and rule["scope"] == "Namespaced", rule
        assert sorted(rule["operations"]) == ["CREATE", "UPDATE"], rule
        out |= {(g, by_plural[(g, r)]) for g in rule["apiGroups"] for r in rule["resources"]}
    return out


@pytest.mark.parametrize("kind", [*CONFIGS, "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                  "Deployment"])
def test_the_webhook_objects_validate_strictly(kind: str) -> None:
    """Named here as well as in test_validate.py's sweep, so no filter there can drop them unnoticed."""
    validate(copy.deepcopy(find(kind, NAME).obj))


@pytest.mark.parametrize("kind", CONFIGS)
def test_the_validator_knows_webhook_configurations(kind: str) -> None:
    obj = copy.deepcopy(find(kind, NAME).obj)
    obj["webhooks"][0]["failurepolicy"] = obj["webhooks"][0].pop("failurePolicy")  # a typo
    with pytest.raises(kv.ValidationError):
        validate(obj)


@pytest.mark.parametrize("kind", CONFIGS)
def test_the_webhooks_are_safe_by_default(kind: str) -> None:
    (hook,) = webhooks(kind)
    assert hook["failurePolicy"] == "Ignore"
    assert hook["timeoutSeconds"] <= 5
    assert hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    excluded = {(e["key"], e["operator"]): e["values"] for e in hook["namespaceSelector"]["matchExpressions"]}
    assert {"kube-system", "podpower"} <= set(excluded[("kubernetes.io/metadata.name", "NotIn")])
    assert excluded[(SKIP_LABEL, "NotIn")] == ["true"]
    assert hook["objectSelector"]["matchExpressions"] == [{"key": SKIP_LABEL, "operator": "NotIn", "values": ["true"]}]
    assert rules_kinds(hook["rules"]) == set(ADMITTED)


def test_budgets_are_opt_in() -> None:
    (hook,) = webhooks("ValidatingWebhookConfiguration")
    assert {"key": "podpower.io/budget", "operator": "In", "values": ["enforce"]} in \
        hook["namespaceSelector"]["matchExpressions"]


@pytest.mark.parametrize("kind", CONFIGS)
def test_the_webhooks_call_the_service_on_the_apps_paths(kind: str) -> None:
    (hook,) = webhooks(kind)
    ref = hook["clientConfig"]["service"]
    svc = find("Service", NAME)
    assert (ref["name"], ref["namespace"]) == (svc.name, svc.namespace)
    (port,) = svc.obj["spec"]["ports"]
    assert ref["port"] == port["port"] == 443
    assert ref["path"] == PATHS[kind]
    assert PATHS[kind] in {r.path for r in router.routes}  # type: ignore[attr-defined]
    assert "caBundle" not in hook["clientConfig"], "the CA comes from cert-manager or the script, never the repo"
    assert find(kind, NAME).obj["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "podpower/" + NAME


def test_the_deployment_serves_tls_from_the_secret_the_certificate_writes() -> None:
    doc = find("Deployment", NAME)
    spec = pod_spec(doc)
    assert spec is not None
    (c,) = spec["containers"]
    argv = app_argv(c)
    assert argv is not None
    args = build_parser().parse_args(argv)  # the real CLI accepts the flags
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    tls = next(name for name, v in volumes.items() if "secret" in v)
    secret = volumes[tls]["secret"]["secretName"]
    assert mounts[tls]["readOnly"] is True
    assert args.ssl_certfile == f"{mounts[tls]['mountPath']}/tls.crt"
    assert args.ssl_keyfile == f"{mounts[tls]['mountPath']}/tls.key"
    (port,) = c["ports"]
    assert port["containerPort"] == args.port and find("Service", NAME).obj["spec"]["ports"][0]["targetPort"] == \
        port["name"]
    assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container_env(c)["ADMISSION_BUDGETS"] == "true"
    cert = find("Certificate", NAME).obj
    assert cert["spec"]["secretName"] == secret
    assert spec["serviceAccountName"] == NAME


def test_the_cert_manager_objects() -> None:
    issuer = find("Issuer", "podpower-webhook-selfsigned").obj
    cert = find("Certificate", NAME).obj
    for obj in (issuer, cert):
        assert obj["apiVersion"] == "cert-manager.io/v1"
        assert obj["metadata"]["namespace"] == "podpower"
    assert issuer["spec"] == {"selfSigned": {}}
    spec = cert["spec"]
    assert spec["issuerRef"] == {"name": issuer["metadata"]["name"], "kind": "Issuer", "group": "cert-manager.io"}
    assert HOST in spec["dnsNames"] and f"{HOST}.cluster.local" in spec["dnsNames"]
    assert "server auth" in spec["usages"]
    assert set(spec) <= {"secretName", "commonName", "dnsNames", "duration", "renewBefore", "privateKey", "usages",
                         "issuerRef"}
    assert spec["privateKey"]["algorithm"] in ("RSA", "ECDSA", "Ed25519")


def test_rbac_reads_namespaces_and_the_admitted_kinds_and_writes_nothing() -> None:
    rules = find("ClusterRole", NAME).obj["rules"]
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    assert {v for _, _, v in granted} == {"get", "list", "watch"}
    plural = {k.kind: k.plural for k in KINDS.values()}
    wanted = {("", "namespaces")} | {(g, plural[kind]) for g, kind in ADMITTED}
    assert {(g, r) for g, r, _ in granted} == wanted
    binding = find("ClusterRoleBinding", NAME).obj
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": "podpower"}]


def make_certs(out: Path) -> str:
    """Run scripts/webhook-certs.sh into `out`; returns what it printed on stdout (the caBundle)."""
    need_binary("openssl", "apt-get install openssl")
    run = subprocess.run(["sh", str(REPO / "scripts" / "webhook-certs.sh"), str(out)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_openssl_script_makes_a_ca_and_a_serving_cert(tmp_path: Path) -> None:
    bundle = make_certs(tmp_path)
    ca_pem = (tmp_path / "ca.crt").read_bytes()
    assert base64.b64decode(bundle, validate=True) == ca_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls.crt").read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert HOST in names and f"{HOST}.cluster.local" in names
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (tmp_path / "tls.key").stat().st_mode & 0o077 == 0, "the private key is readable by others"
