"""What the simulated cluster is made of: instance types, sidecars, init containers and the software family record.

Rule: a *family* is a real piece of software as clusters run it (image as public registries name it, command,
chart labels) together with how much it *uses* (CPU cores with and without traffic, processes, working set).
Usage, not requests, drives power, because Kepler attributes a node's power by CPU time. The family table
itself lives in `app.simulate.families`; sources for every figure are in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    """An EC2 instance type as Karpenter would launch it."""

    name: str
    vcpus: int
    mem_gib: float
    gpus: int = 0
    gpu_model: str = ""
    nodepool: str = "default"


INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType("m5.xlarge", 4, 16),
        InstanceType("m5.2xlarge", 8, 32),
        InstanceType("m5.4xlarge", 16, 64),
        InstanceType("c5.2xlarge", 8, 16),
        InstanceType("r5.2xlarge", 8, 64),
        InstanceType("p3.2xlarge", 8, 61, 1, "V100", "gpu"),
        InstanceType("p3.8xlarge", 32, 244, 4, "V100", "gpu"),
        InstanceType("g4dn.xlarge", 4, 16, 1, "T4", "gpu"),
    )
}
GENERAL_TYPES = ("m5.2xlarge", "m5.4xlarge", "c5.2xlarge", "r5.2xlarge", "m5.xlarge")
GENERAL_WEIGHTS = (0.30, 0.40, 0.10, 0.15, 0.05)


@dataclass(frozen=True)
class SidecarKind:
    """A helper container that rides along with the app (log shipper, reloader, mesh proxy, exporter).

    ``idle_cores`` is what it burns with no traffic; ``load_share`` is its CPU per core of app load (a mesh
    proxy handles every request the app does); ``procs`` is how many processes Kepler sees in it.
    """

    name: str
    image: str
    args: tuple[str, ...]
    idle_cores: float
    load_share: float
    mem_gb: float
    cpu_request: float
    mem_request_mib: int
    procs: int = 1


SIDECARS: dict[str, SidecarKind] = {
    s.name: s
    for s in (
        SidecarKind("log-shipper", "cr.fluentbit.io/fluent/fluent-bit:2.2.2",
                    ("--config=/fluent-bit/etc/fluent-bit.conf",), 0.002, 0.03, 0.04, 0.02, 32),
        SidecarKind("config-reloader", "ghcr.io/jimmidyson/configmap-reload:v0.12.0",
                    ("--volume-dir=/etc/config", "--webhook-url=http://127.0.0.1:8080/-/reload"),
                    0.0002, 0.0, 0.01, 0.005, 16),
        SidecarKind("istio-proxy", "docker.io/istio/proxyv2:1.20.3",
                    ("proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"), 0.004, 0.25, 0.06,
                    0.1, 128, 2),
        SidecarKind("cloud-sql-proxy", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.8.2",
                    ("--structured-logs", "--port=5432", "acme-prod:us-east1:orders"), 0.0005, 0.05, 0.03, 0.05,
                    64),
        SidecarKind("postgres-exporter", "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
                    ("--web.listen-address=:9187",), 0.0015, 0.0, 0.03, 0.05, 64),
        SidecarKind("mysqld-exporter", "docker.io/prom/mysqld-exporter:v0.15.1",
                    ("--web.listen-address=:9104",), 0.0012, 0.0, 0.03, 0.05, 64),
        SidecarKind("redis-exporter", "docker.io/oliver006/redis_exporter:v1.58.0",
                    ("--web.listen-address=:9121",), 0.0008, 0.0, 0.02, 0.02, 32),
        SidecarKind("jmx-exporter", "docker.io/bitnami/jmx-exporter:0.20.0",
                    ("5556", "/etc/jmx-kafka/jmx-kafka-prometheus.yml"), 0.008, 0.0, 0.15, 0.1, 256),
        SidecarKind("prometheus-config-reloader",
                    "quay.io/prometheus-operator/prometheus-config-reloader:v0.71.2",
                    ("--reload-url=http://127.0.0.1:9090/-/reload",), 0.0003, 0.0, 0.02, 0.01, 32),
    )
}
MESH_SIDECAR = "istio-proxy"  # injected into every Deployment/StatefulSet of a mesh namespace
# Istio's injection template defaults (values.global.proxy.resources)
MESH_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2000m", "memory": "1024Mi"}}

# Plain init containers: (image or "{app}", command). "{db}" is replaced by a database name.
INITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wait-for-db": ("docker.io/library/busybox:1.36", ("sh", "-c", "until nc -z {db} 5432; do sleep 2; done")),
    "migrate": ("{app}", ("alembic", "upgrade", "head")),
    "flyway-migrate": ("docker.io/flyway/flyway:10.7.1", ("flyway", "migrate")),
    "init-permissions": ("docker.io/library/busybox:1.36", ("sh", "-c", "chown -R 999:999 /data")),
    "download-dataset": ("public.ecr.aws/aws-cli/aws-cli:2.15.10",
                         ("aws", "s3", "sync", "s3://acme-ml-datasets/imagenet/", "/data/")),
    "download-model": ("public.ecr.aws/aws-cli/aws-cli:2.15.10",
                       ("aws", "s3", "cp", "--recursive", "s3://acme-ml-models/{name}/", "/models/")),
    "init-config": ("docker.io/library/busybox:1.36", ("sh", "-c", "cp /config-ro/* /config/")),
}


@dataclass(frozen=True)
class Family:
    """A kind of software as a cluster runs it: how its spec looks and how much it uses.

    Spec side: image template (``{v}`` version, ``{name}`` workload name), command, chart. When ``release``
    is set, every workload of the family belongs to that one Helm release (an umbrella chart), so the chart
    labels are the same for all of them and only image, command and name tell them apart.

    Usage side (cores, per pod): a workload is *unused* with probability ``p_unused`` (it only burns its
    runtime's ``idle_cores``); otherwise its mean load is lognormal with median ``load_cores`` and spread
    ``load_sigma``, shaped over time by ``profile``. Batch families (``load_from_request``) are CPU-bound:
    they use most of what they request. ``procs`` counts the processes Kepler sees.
    """

    key: str
    category: str
    kind: str
    namespace: str
    names: tuple[str, ...]
    image: str
    versions: tuple[str, ...]
    container: str
    component: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    chart: str = ""
    release: str = ""
    part_of: str = ""
    port: int = 0
    replicas: tuple[int, int] = (1, 1)
    idle_cores: float = 0.001
    load_cores: float = 0.05
    load_sigma: float = 1.0
    p_unused: float = 0.0
    load_from_request: bool = False
    procs: int = 1
    profile: str = "flat"  # diurnal | flat | bursty | batch | training | idle
    mem_gb: float = 0.2
    warmup: bool = False
    gpu_options: tuple[tuple[str, int], ...] = ()  # (instance type, gpus per pod)
    gpu_util: float = 0.0
    fs_read: float = 1e3  # bytes/s per core of load
    fs_write: float = 1e4
    net_rx: float = 1e5
    net_tx: float = 1e5
    weight: float = 1.0  # how often it appears beyond the first of each
    cpu_choices: tuple[float, ...] = (0.25, 0.5, 1.0)
    mem_choices_mib: tuple[int, ...] = (256, 512, 1024)
    styles: tuple[str, ...] = ()  # restrict resource styles (default: the field mix)
    sidecars: tuple[str, ...] = ()
    sidecar_prob: float = 0.0
    inits: tuple[str, ...] = ()
    init_prob: float = 0.0
    duration_s: tuple[int, int] = (0, 0)  # batch families: run time range
    schedules: tuple[str, ...] = ()  # CronJobs


# Resource styles and how often each appears (memory limit without any CPU setting is the most common habit
# in public charts; Sysdig 2023: 59 % of containers have no CPU limit).
STYLES = ("none", "mem_limit_only", "limits_only", "requests_only", "cpu_request_only", "burstable", "guaranteed")
STYLE_WEIGHTS = (0.22, 0.26, 0.08, 0.12, 0.04, 0.21, 0.07)
NAMESPACES = ("shop", "data", "ml", "batch", "observability", "ci")
