"""Connect to the API server: kubeconfig or in-cluster config, TLS overrides, and clear error lines.

Detection order: `--kubeconfig`, then `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster
ServiceAccount (`KUBERNETES_SERVICE_HOST` + the mounted token). `K8S_CA_FILE` replaces the CA
bundle, `VERIFY_SSL=false` turns verification off. Failures become one-line `PodPowerError`s
that say what to fix: which config is missing, which server is unreachable, and for 401/403
which verb on which resource the identity lacks.
"""

from __future__ import annotations

import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.errors import PodPowerError, UpstreamError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ClusterConfigError(PodPowerError):
    """No usable Kubernetes configuration (missing, unreadable or invalid)."""


@dataclass
class Cluster:
    """A configured client plus where its configuration came from (for error messages)."""

    api_client: Any  # kubernetes.client.ApiClient
    server: str
    source: str  # "kubeconfig ~/.kube/config (context kind-dev)" / "in-cluster ServiceAccount"


def parse_bool(name: str, value: str | None) -> bool | None:
    """An environment flag such as VERIFY_SSL; None when unset, an error for anything but yes/no words."""
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ClusterConfigError(f"{name}={value!r}: expected true or false")


def _kubeconfig_path(explicit: str | None, environ: Mapping[str, str]) -> str | None:
    if explicit:
        if not Path(explicit).expanduser().exists():
            raise ClusterConfigError(f"{explicit}: kubeconfig file not found")
        return str(Path(explicit).expanduser())
    if environ.get("KUBECONFIG"):
        paths = [p for p in environ["KUBECONFIG"].split(os.pathsep) if p]
        if not any(Path(p).expanduser().exists() for p in paths):
            raise ClusterConfigError(f"KUBECONFIG={environ['KUBECONFIG']}: no such file")
        return environ["KUBECONFIG"]
    home = Path("~/.kube/config").expanduser()
    return str(home) if home.exists() else None


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    suppress_tls_warnings: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Cluster:
    """Build an `ApiClient` from the detected configuration (no request is made yet)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    env = os.environ if environ is None else environ
    cfg = client.Configuration()
    path = _kubeconfig_path(kubeconfig, env)
    try:
        if path is not None:
            config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
            source = f"kubeconfig {path}" + (f" (context {context})" if context else "")
        elif env.get("KUBERNETES_SERVICE_HOST"):
            if context:
                raise ClusterConfigError("--context needs a kubeconfig; none was found")
            config.load_incluster_config(client_configuration=cfg)
            source = "in-cluster ServiceAccount"
        else:
            raise ClusterConfigError(
                "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
                "or run in a pod with a ServiceAccount"
            )
    except ConfigException as exc:
        where = path or "in-cluster config"
        raise ClusterConfigError(f"{where}: {_one_line(str(exc))}") from None
    ca_file = env.get("K8S_CA_FILE") or None
    if ca_file:
        if not Path(ca_file).exists():
            raise ClusterConfigError(f"K8S_CA_FILE={ca_file}: file not found")
        cfg.ssl_ca_cert = ca_file
    verify = parse_bool("VERIFY_SSL", env.get("VERIFY_SSL"))
    if verify is not None:
        cfg.verify_ssl = verify
    # No silent urllib3 retries: the watch loop retries with its own backoff and log lines, and a
    # failing first list should fail at once with one clear line.
    cfg.retries = False
    if suppress_tls_warnings:
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return Cluster(client.ApiClient(cfg), str(cfg.host), source)


def _one_line(text: str, limit: int = 400) -> str:
    text = re.sub(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*", "", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_message(body: Any) -> str | None:
    """The `message` of a Kubernetes `Status` body (str, bytes or dict), if it is one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return _one_line(body) or None
    if isinstance(body, Mapping) and body.get("message"):
        return _one_line(str(body["message"]))
    return None


def api_error(exc: Any, verb: str, resource: str, scope: str, cluster: Cluster) -> PodPowerError:
    """An `ApiException` from `verb` on `resource` → one line the user can act on."""
    status = getattr(exc, "status", None)
    detail = status_message(getattr(exc, "body", None)) or _one_line(str(getattr(exc, "reason", "") or ""))
    at = f"the Kubernetes API at {cluster.server}"
    if status == 401:
        return UpstreamError(f"{at} rejected the credentials from {cluster.source} (401 Unauthorized) "
                             f"when trying to {verb} {resource} {scope}: renew the token or client certificate")
    if status == 403:
        return UpstreamError(f"{at} forbids {verb} on {resource} {scope} (403 Forbidden: {detail}); grant the "
                             f"ServiceAccount get, list and watch on {resource}")
    if status == 404:
        return UpstreamError(f"{at} does not serve {resource} (404 Not Found on {verb}); "
                             "is the API group enabled on this cluster version?")
    if status == 0:  # the client reports TLS failures as status 0
        return _tls_error(cluster, detail)
    return UpstreamError(f"{at} failed to {verb} {resource} {scope} (HTTP {status}: {detail})")


def _tls_error(cluster: Cluster, detail: str) -> UpstreamError:
    return UpstreamError(f"TLS with the Kubernetes API server at {cluster.server} failed ({detail}; "
                         f"{cluster.source}): set K8S_CA_FILE to the cluster CA, or VERIFY_SSL=false to skip "
                         "verification")


def connection_error(exc: BaseException, cluster: Cluster) -> UpstreamError:
    """A transport failure (refused, DNS, timeout, TLS) → one line naming the server and the config."""
    import urllib3

    reason = getattr(exc, "reason", None) or exc
    detail = _one_line(str(reason))
    if isinstance(reason, urllib3.exceptions.SSLError | ssl.SSLError):
        return _tls_error(cluster, detail)
    return UpstreamError(f"cannot reach the Kubernetes API server at {cluster.server} ({cluster.source}): {detail}")
