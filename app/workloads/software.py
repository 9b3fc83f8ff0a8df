"""What software a workload runs: image references normalised, software recognised, boilerplate set aside.

Why: two manifests of the same software written by different charts share almost no tokens, while
two unrelated workloads of one chart share all of its boilerplate labels. The nearest neighbours
must be found by *what runs*: the image's name (not its registry, digest or release tag), the
command, and the well-known labels `app.kubernetes.io/name` / `component`.

The rules:

* **Image references** (`[registry[:port]/][org/…/]name[:tag][@digest]`, the distribution
  reference grammar): the registry is the first part when it has a `.` or `:` or is `localhost`;
  `docker.io/library/x` is `x`. The digest is dropped. A tag keeps only its *words* that name a
  variant of the application (`2.1.3-frontend` → `frontend`, `cuda12-2024-06-03` → `cuda`), not
  versions, dates, commit hashes, base images, architectures or build and release markers (`alpine`,
  `debian`, `slim`, `r14`, `amd64`, `sha-1a2b3c4`, `v1.8.2-7-g1a2b3c4`, `1.8.2.post1`, `-build.12`,
  `-lts`, …): a new release or CI build of the same software must look the same. A tag is read part by
  part (split at `-`, `_`, `.`, `+`): a part that is a commit hash (7+ hex digits, or git-describe's
  `g` + 7+ hex digits) says nothing; a part that starts with a digit is a version or a date; any
  other part gives its leading letters (`cuda12` → `cuda`).
* **Software**: the first of `app.kubernetes.io/name`, `app`, `k8s-app`, the image name, or a
  command word that names a known program (`redis-server`, `gunicorn`, `java`) found in `SOFTWARE`,
  the table below; a name not in the table is its own software (`orders-api`). Each known
  software has a *family* (valkey, keydb and dragonfly are redis-compatible; opensearch is an
  elasticsearch fork; mariadb and percona are mysql) and a *category* (cache, sql-database, …), so
  software never seen in training still lands near its relatives.
* **Boilerplate labels**: keys that a whole chart or tool stamps on every workload carry no
  information about the workload (`helm.sh/chart`, `app.kubernetes.io/managed-by`, `part-of`,
  `version`, `instance`, `heritage`, `release`, `chart`, `pod-template-hash`, …); they are left out
  of the text features.

Sources: the distribution reference grammar (github.com/distribution/reference), Kubernetes'
recommended labels (kubernetes.io/docs/concepts/overview/working-with-objects/common-labels) and the
projects' own documentation for what is a fork or a drop-in replacement of what.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

BOILERPLATE_LABELS = frozenset({
    "helm.sh/chart", "chart", "heritage", "release", "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of", "app.kubernetes.io/version", "app.kubernetes.io/instance",
    "pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name",
    "controller-uid", "job-name", "skaffold.dev/run-id", "argocd.argoproj.io/instance",
    "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace", "version",
    "security.istio.io/tlsMode", "service.istio.io/canonical-revision", "sidecar.istio.io/inject",
    "linkerd.io/proxy-deployment", "linkerd.io/control-plane-ns", "linkerd.io/workload-ns",
})
"""Label keys stamped on every workload of a chart or tool (Kubernetes' recommended labels, Helm, Argo CD,
Flux, Skaffold, the service meshes): no information about what the workload does."""

NAME_LABELS = ("app.kubernetes.io/name", "app", "k8s-app", "name")
"""Labels that name the software, most specific first."""

_TAG_NOISE = frozenset({
    "alpine", "debian", "ubuntu", "slim", "bookworm", "bullseye", "buster", "jammy", "focal", "noble",
    "ubi", "ubi8", "ubi9", "distroless", "static", "glibc", "musl", "scratch", "amd64", "arm64", "x86",
    "latest", "stable", "main", "master", "release", "edge", "nightly", "community", "oss", "jre", "jdk",
    "temurin", "eclipse", "openjdk", "rootless", "nonroot", "minimal", "full", "base", "runtime", "linux",
    "windows", "fips", "hotfix", "rc", "beta", "alpha", "dev", "snapshot", "debug",
    # build and release markers of CI pipelines and package versioning (PEP 440 `post`, semver build metadata)
    "sha", "git", "commit", "build", "post", "patch", "pre", "lts", "canary", "preview", "experimental", "final",
    "rel", "fix", "amd", "arm", "aarch", "ppc", "armv", "gnu",
})
_TAG_PART = re.compile(r"[-_.+]")
_HASH_PART = re.compile(r"g?[0-9a-f]{7,}")
"""A commit hash as tags carry it: 7+ hex digits (git's short hash), or git-describe's `g` + hash."""
_LEADING_LETTERS = re.compile(r"[a-z]+")


class ImageRef(NamedTuple):
    """A parsed image reference: `registry` ("" for Docker Hub), `path` (org/…/name), `name`, `tag`.

    A named tuple: one is built per new image string (every release), where a frozen dataclass's
    `__init__` costs several times more."""

    registry: str
    path: str
    name: str
    tag: str

    @property
    def org(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else ""

    def tag_words(self) -> tuple[str, ...]:
        """The tag's words that name a variant of the application (`2.1.3-frontend` → `("frontend",)`)."""
        return variant_words(self.tag)


_NOT_A_VARIANT = re.compile(r"r|v|py|cu|jdk|java|scala|node")
"""Version prefixes and runtimes, matched as whole words (`fullmatch`)."""


_DIGITS_AS_ZERO = str.maketrans("123456789", "000000000")


def variant_words(tag: str) -> tuple[str, ...]:
    """`ImageRef.tag_words` for a tag.

    Memoised by the tag with every digit written as 0: which digits a tag has changes neither its
    words (letters only), where a part starts with a digit, nor whether a part is a hash (`_HASH_PART`),
    and every release has new ones.
    """
    return _variant_words(tag.translate(_DIGITS_AS_ZERO))


@functools.lru_cache(maxsize=8192)
def _variant_words(tag: str) -> tuple[str, ...]:
    words = []
    for part in _TAG_PART.split(tag):
        if _HASH_PART.fullmatch(part) or not (m := _LEADING_LETTERS.match(part)):
            continue  # a hash, or a version or date (starts with a digit), or empty
        w = m.group()
        if len(w) > 2 and w not in _TAG_NOISE and not _NOT_A_VARIANT.fullmatch(w):
            words.append(w)
    return tuple(words)


@functools.lru_cache(maxsize=8192)
def parse_image(image: str) -> ImageRef:
    """Split `[registry/][org/…/]name[:tag][@digest]`, lower-cased; never raises.

    The tag is cut off here and the rest memoised, so a new release of a known image costs a split.
    """
    ref = image.strip().lower().split("@", 1)[0]
    tag = ""
    colon = ref.rfind(":")
    if colon > ref.rfind("/"):
        ref, tag = ref[:colon], ref[colon + 1:]
    registry, path, name = _parse_repository(ref)
    return ImageRef(registry, path, name, tag)


@functools.lru_cache(maxsize=8192)
def _parse_repository(ref: str) -> tuple[str, str, str]:
    parts = [p for p in ref.split("/") if p]
    registry = ""
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        registry, parts = parts[0], parts[1:]
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io", ""):
        registry = ""
        if parts[:1] == ["library"]:
            parts = parts[1:]
    if parts[:2] == ["docker", "library"]:  # public.ecr.aws/docker/library/x
        parts = parts[2:]
    return registry, "/".join(parts), parts[-1] if parts else ""


@dataclass(frozen=True)
class Software:
    """Known software: its family (drop-in replacements and forks share one) and category."""

    name: str
    family: str
    category: str


def _table(rows: Sequence[tuple[str, str, str, Sequence[str]]]) -> dict[str, Software]:
    out: dict[str, Software] = {}
    for name, family, category, aliases in rows:
        sw = Software(name, family, category)
        for alias in (name, *aliases):
            out[alias] = sw
    return out


SOFTWARE: dict[str, Software] = _table([
    # caches
    ("redis", "redis", "cache", ("redis-server", "redis-stack", "redis-stack-server", "redis-cart")),
    ("valkey", "redis", "cache", ("valkey-server",)),
    ("keydb", "redis", "cache", ()),
    ("dragonfly", "redis", "cache", ("dragonflydb",)),
    ("memcached", "memcached", "cache", ()),
    ("varnish", "varnish", "cache", ()),
    # relational databases
    ("postgresql", "postgresql", "sql-database", ("postgres", "timescaledb", "postgis", "cloudnative-pg",
                                                   "crunchy-postgres", "spilo", "pgvector")),
    ("mysql", "mysql", "sql-database", ("mysqld", "percona-server", "percona")),
    ("mariadb", "mysql", "sql-database", ("mariadbd",)),
    ("cockroachdb", "postgresql", "sql-database", ("cockroach",)),
    ("mssql", "mssql", "sql-database", ("mssql-server", "sqlserver")),
    # document, key-value and wide-column stores
    ("mongodb", "mongodb", "document-database", ("mongo", "mongod", "ferretdb")),
    ("couchdb", "couchdb", "document-database", ()),
    ("cassandra", "cassandra", "wide-column-database", ("scylla", "scylladb")),
    ("etcd", "etcd", "kv-store", ()),
    ("minio", "minio", "object-store", ()),
    # queues and streams
    ("kafka", "kafka", "queue", ("redpanda", "strimzi-kafka", "cp-kafka", "cp-server")),
    ("rabbitmq", "rabbitmq", "queue", ("rabbitmq-server",)),
    ("nats", "nats", "queue", ("nats-server",)),
    ("pulsar", "pulsar", "queue", ("pulsar-all",)),
    ("zookeeper", "zookeeper", "coordination", ("cp-zookeeper",)),
    # search
    ("elasticsearch", "elasticsearch", "search", ()),
    ("opensearch", "elasticsearch", "search", ()),
    ("solr", "solr", "search", ()),
    ("meilisearch", "meilisearch", "search", ()),
    # web servers, proxies and gateways
    ("nginx", "nginx", "web-server", ("nginx-unprivileged", "openresty")),
    ("httpd", "httpd", "web-server", ("apache", "apache2")),
    ("caddy", "caddy", "web-server", ()),
    ("ingress-nginx", "nginx", "ingress", ("nginx-ingress-controller", "nginx-ingress")),
    ("traefik", "traefik", "ingress", ()),
    ("envoy", "envoy", "proxy", ("envoyproxy",)),
    ("haproxy", "haproxy", "proxy", ("kubernetes-ingress",)),
    ("kong", "kong", "gateway", ("kubernetes-ingress-controller",)),
    ("istio-proxy", "envoy", "mesh-proxy", ("proxyv2",)),
    ("istio-ingressgateway", "envoy", "gateway", ("istio-egressgateway",)),
    ("linkerd-proxy", "linkerd", "mesh-proxy", ()),
    ("istiod", "istio", "control-plane", ("pilot",)),
    # observability
    ("prometheus", "prometheus", "observability-server", ("prometheus-server",)),
    ("alertmanager", "prometheus", "observability-server", ()),
    ("grafana", "grafana", "dashboard", ()),
    ("kibana", "kibana", "dashboard", ()),
    ("opensearch-dashboards", "kibana", "dashboard", ()),
    ("loki", "loki", "observability-server", ()),
    ("tempo", "tempo", "observability-server", ()),
    ("jaeger", "jaeger", "observability-server", ("all-in-one", "jaeger-collector", "jaeger-query")),
    ("node-exporter", "node-exporter", "observability-agent", ()),
    ("kube-state-metrics", "kube-state-metrics", "observability-agent", ()),
    ("fluent-bit", "fluent-bit", "log-shipper", ("fluentbit",)),
    ("fluentd", "fluentd", "log-shipper", ("fluentd-kubernetes-daemonset",)),
    ("promtail", "promtail", "log-shipper", ()),
    ("vector", "vector", "log-shipper", ()),
    ("otel-collector", "otel-collector", "observability-agent",
     ("opentelemetry-collector", "opentelemetry-collector-contrib", "opentelemetry-collector-k8s", "otelcol",
      "otelcol-contrib")),
    ("datadog-agent", "datadog-agent", "observability-agent", ("agent", "cluster-agent")),
    ("metrics-server", "metrics-server", "cluster-component", ()),
    # cluster components
    ("coredns", "coredns", "cluster-component", ()),
    ("kube-proxy", "kube-proxy", "cluster-component", ()),
    ("cert-manager", "cert-manager", "cluster-component", ("cert-manager-controller", "cert-manager-webhook",
                                                          "cert-manager-cainjector")),
    ("external-dns", "external-dns", "cluster-component", ()),
    ("cluster-autoscaler", "cluster-autoscaler", "cluster-component", ()),
    ("argocd", "argocd", "cluster-component", ()),
    ("vault", "vault", "cluster-component", ("vault-k8s",)),
    ("keycloak", "keycloak", "api", ()),
    ("dex", "dex", "cluster-component", ()),
    ("sonarqube", "jvm", "api", ()),
    # CI
    ("gitlab-runner", "ci-runner", "ci-runner", ("gitlab-runner-helper",)),
    ("actions-runner", "ci-runner", "ci-runner", ("gha-runner-scale-set-controller",)),
    ("jenkins", "jenkins", "ci-runner", ("inbound-agent", "jnlp-slave")),
    ("argo-workflows", "argo-workflows", "ci-runner", ("workflow-controller", "argoexec", "argocli")),
    ("dind", "ci-runner", "ci-runner", ()),
    # ML
    ("pytorch", "pytorch", "ml-training", ("torch", "torchrun")),
    ("tensorflow", "tensorflow", "ml-training", ()),
    ("triton", "triton", "ml-inference", ("tritonserver",)),
    ("torchserve", "torchserve", "ml-inference", ()),
    ("vllm", "vllm", "ml-inference", ("vllm-openai",)),
    ("ray", "ray", "ml-training", ()),
    ("spark", "spark", "batch", ("spark-operator", "spark-submit", "spark-jobs")),
    # runtimes an API service is written in (from the command when the image says nothing)
    ("gunicorn", "python-web", "api", ("uvicorn", "hypercorn", "daphne", "uwsgi")),
    ("celery", "python-worker", "worker", ()),
    ("node", "node-web", "api", ("npm", "pm2")),
    ("java", "jvm", "api", ("spring-boot", "tomcat", "jetty")),
    ("puma", "ruby-web", "api", ("rails", "unicorn")),
    ("php-fpm", "php-web", "api", ("php", "wordpress")),
    ("dotnet", "dotnet", "api", ("aspnet",)),
    # one-shot tools
    ("busybox", "shell", "batch", ("alpine", "sh", "bash", "netshoot")),
    ("aws-cli", "cli-tool", "batch", ("aws", "kubectl", "gsutil", "gcloud")),
])


GPU_FREE_CATEGORIES = frozenset({
    "cache", "sql-database", "document-database", "wide-column-database", "kv-store", "object-store", "queue",
    "coordination", "web-server", "ingress", "proxy", "gateway", "mesh-proxy", "control-plane",
    "observability-server", "dashboard", "observability-agent", "log-shipper", "cluster-component",
})
GPU_FREE_FAMILIES = frozenset({"shell", "cli-tool"})
"""Software that runs no GPU code: none of the table's programs in these categories or families links a GPU
runtime (CUDA, ROCm, oneAPI); busybox and alpine images have no glibc for the driver's libraries either.
ML, batch, API and worker software may, and so may anything the table does not know."""


def runs_no_gpu_code(sw: Software) -> bool:
    return sw.category in GPU_FREE_CATEGORIES or sw.family in GPU_FREE_FAMILIES


@functools.lru_cache(maxsize=8192)
def known(word: str) -> Software | None:
    """The table's software for a name, alias or a name with a common suffix (`-server`, `-operator`)."""
    word = word.lower()
    hit = SOFTWARE.get(word)
    if hit is None:
        for suffix in ("-server", "-service", "-operator", "-controller", "-exporter", "-agent"):
            if word.endswith(suffix) and (hit := SOFTWARE.get(word[: -len(suffix)])) is not None:
                break
    return hit


class Identity(NamedTuple):
    """What a workload runs: the software name (known or not), family and category ("" when unknown).

    A named tuple: built once per request, and hashed where its tokens are memoised (`app.ml.features`)."""

    software: str
    family: str
    category: str
    image_name: str
    variant: tuple[str, ...]

    def tokens(self) -> list[str]:
        out = [f"sw:{self.software}"]
        if self.family:
            out += [f"fam:{self.family}", f"catg:{self.category}"]
        out += [f"variant:{w}" for w in self.variant]
        return out


def identify(images: Sequence[str], commands: Sequence[Sequence[str]], labels: Mapping[str, str]) -> Identity:
    """The identity of a workload from its app containers' images and commands, and its labels.

    `images[0]`/`commands[0]` should be the main container (the first app container, as the
    scheduler lists them); sidecars are only consulted when the main one says nothing known.
    """
    first = parse_image(images[0]) if images else ImageRef("", "", "", "")
    variant = first.tag_words()
    for key in NAME_LABELS:
        value = labels.get(key)
        if value and (sw := known(value)) is not None:
            return Identity(sw.name, sw.family, sw.category, first.name, variant)
    for image in images:
        ref = parse_image(image)
        if (sw := known(ref.name)) is not None:
            return Identity(sw.name, sw.family, sw.category, ref.name, ref.tag_words())
    for words in commands:
        for word in words[:3]:
            program = word.rsplit("/", 1)[-1].lower()
            if (sw := known(program)) is not None:
                return Identity(sw.name, sw.family, sw.category, first.name, variant)
    name = labels.get("app.kubernetes.io/name") or first.name
    return Identity(name.lower(), "", "", first.name, variant)
