"""A seeded, deterministic demo Kubernetes cluster with exact per-pod power ground truth.

Why this exists: k8sPodPCP learns per-pod power from workload specs, and nobody can hand a
developer (or CI) a real cluster with wall-plug truth. This module builds one in memory —
the manifests users would apply, the pods those manifests become, and the Prometheus history
the usual exporters (Kepler 0.7 and 0.10+, kube-state-metrics, Karpenter, cAdvisor) would have
recorded — with the true energy of every pod known exactly, so the label builder and the
model can be tested end to end against a known answer. Same arguments, same bytes.

Physical model (Cloud Carbon Footprint coefficients; see docs/simulator.md)
---------------------------------------------------------------------------
For each pod, over each simulation step ``k`` (``step_s`` seconds, default 60)::

    P_k = noise * ( vcpus * (0.74 + (3.5 - 0.74) * util_k)            # CPU package
                  + mem_GB_k * 0.392                                   # DRAM
                  + gpus * (gpu_idle_w + (gpu_max_w - gpu_idle_w) * gpu_util_k) )

* ``vcpus`` is the pod's *effective CPU request* computed exactly as the scheduler does
  (``max(sum(app containers) + sum(native sidecars), max(init_i + native sidecars before it))
  + spec.overhead``) where each container's request is ``requests.cpu``, else ``limits.cpu``
  (Kubernetes defaults the request to the limit), else the archetype's *typical cores* for that
  container — so a spec without CPU requests carries the information only through its
  image/command/labels.
* ``util_k`` is the archetype's mean utilisation shaped by its profile (diurnal, flat, bursty,
  batch, training), clipped to [0.002, 1]. ``cpu_cores_used = vcpus * util``.
* ``mem_GB_k`` (1 GB = 1e9 bytes) is the working set: 0.75 x memory request, else 0.6 x memory
  limit, else the archetype's typical working set, plus the sidecars' typical working sets; caches,
  databases and JVMs warm up from 55 % to 100 % over their first 30 minutes.
* GPUs come from ``limits["nvidia.com/gpu"]``; their model from the instance type the spec pins
  (p3 → V100: 50 W idle, 300 W max; g4dn → T4: 10 W idle, 70 W max).
* ``noise`` is a per-pod lognormal factor, ``exp(N(-σ²/2, σ))`` with σ = 0.10 (mean 1).

Energy components (Kepler's split): ``idle = noise*(vcpus*0.74 + gpus*gpu_idle_w)``;
``dynamic`` is the rest. ``package`` = CPU part (idle + dynamic), ``dram`` = memory part (all
dynamic, no idle share), ``gpu`` = GPU part; ``package + dram + gpu = idle + dynamic = total``.
Ground truth is the exact integral of the piecewise-constant power, which is also exactly what
every simulated counter reports.

Counter contract for consumers (see docs/simulator.md for the full table): every per-pod and
per-container counter series starts at 0 with a sample at the pod's (or the container's) start
time and has a sample at its end time; a restarted container gets a new container id and so a
new series starting at 0; a Kepler exporter restart (``SimCluster.exporter_restarts``) resets all
Kepler counters on that node to 0 — the exporter is scraped at the restart instant and one
second after it. Summing, per series, the reset-aware increase (as Prometheus' ``increase()``
does, without extrapolation) over a pod's series recovers the ground truth exactly.
"""

from __future__ import annotations

import copy
import math
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import yaml
from kubernetes.utils.quantity import parse_quantity as _k8s_parse_quantity

__all__ = [
    "ARCHETYPES",
    "CCF_MAX_W_PER_VCPU",
    "CCF_MIN_W_PER_VCPU",
    "CCF_W_PER_GB",
    "GPU_MODELS",
    "GROUND_TRUTH_COLUMNS",
    "HISTORY_GROUPS",
    "INSTANCE_TYPES",
    "NOISE_SIGMA",
    "Archetype",
    "ExporterRestart",
    "ScrapeGap",
    "SimCluster",
    "SimContainer",
    "SimNode",
    "SimOwner",
    "SimPod",
    "SimRollout",
    "ground_truth_frame",
    "parse_quantity",
    "simulate_cluster",
    "write_cluster",
    "write_manifests",
    "write_openmetrics",
]

# --------------------------------------------------------------------------------------------
# Model constants (documented in docs/simulator.md)
# --------------------------------------------------------------------------------------------

CCF_MIN_W_PER_VCPU = 0.74  # CCF AWS average min watts per vCPU (idle)
CCF_MAX_W_PER_VCPU = 3.5  # CCF AWS average max watts per vCPU (100 % busy)
CCF_W_PER_GB = 0.392  # CCF memory coefficient, watts per GB of memory in use
GPU_MODELS: dict[str, tuple[float, float]] = {"V100": (50.0, 300.0), "T4": (10.0, 70.0)}
NOISE_SIGMA = 0.10  # per-pod lognormal measurement noise
ENERGY_STEP_S = 60  # energy_step_j is joules per 60 s, whatever step_s is
INIT_TYPICAL_CORES = 0.1  # typical cores of an init container that sets no CPU request
PAUSE_CORES = 0.0002  # the pod sandbox ("POD") burns almost nothing
PAUSE_MEM_BYTES = 593_920.0
KEPLER_ZONES = ("package", "core", "uncore", "dram", "psys")
CORE_OF_PACKAGE = 0.85  # Kepler >= 0.10 zone "core" as a share of "package"
UNCORE_OF_PACKAGE = 0.08  # zone "uncore" as a share of "package"
PSYS_FACTOR = 1.10  # zone "psys" = 1.10 x (package + dram)
KEPLER_TERMINATED_RETENTION_S = 1800  # how long Kepler >= 0.10 keeps a terminated pod's series
_MI = 2**20
_GI = 2**30
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' rand.SafeEncodeString alphabet


# --------------------------------------------------------------------------------------------
# Kubernetes quantities
# --------------------------------------------------------------------------------------------

def parse_quantity(value: str | int | float) -> float:
    """Parse a Kubernetes quantity (``500m``, ``"1.5"``, ``2``, ``512Mi``, ``90G``, ``5e8``) to base units.

    Uses the kubernetes client's exact parser directly rather than the project's converter, so the
    simulator's ground truth stays independent of the code it is used to test.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity {value!r}")
    return float(_k8s_parse_quantity(value))


def _fmt_cpu(cores: float, rng: np.random.Generator) -> str | int | float:
    """Write a CPU quantity in one of the notations seen in the field (``500m``, ``"0.5"``, 2, …)."""
    milli = round(cores * 1000)
    r = rng.random()
    if milli % 1000 == 0:
        whole = milli // 1000
        if r < 0.4:
            return whole
        return str(whole) if r < 0.75 else f"{milli}m"
    if r < 0.6:
        return f"{milli}m"
    if r < 0.85:
        return f"{milli / 1000:g}"
    return float(milli / 1000)


def _fmt_mem(mib: float, rng: np.random.Generator) -> str | int:
    """Write a memory quantity in a field notation (``512Mi``, ``1.5Gi``, ``537M``, ``90G``, ``537e6``)."""
    nbytes = mib * _MI
    r = rng.random()
    if r < 0.45:
        return f"{round(mib)}Mi"
    if r < 0.68 and mib % 512 == 0:
        return f"{mib / 1024:g}Gi"
    if r < 0.78:
        return f"{round(nbytes / 1e6)}M"
    if r < 0.88 and nbytes >= 2e9:
        return f"{round(nbytes / 1e9)}G"
    if r < 0.94:
        return f"{round(nbytes / 1e6)}e6"
    if r < 0.97:
        return round(nbytes)
    return f"{round(mib)}Mi"


# --------------------------------------------------------------------------------------------
# Catalogue: instance types, sidecars, archetypes
# --------------------------------------------------------------------------------------------


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
_GENERAL_TYPES = ("m5.2xlarge", "m5.4xlarge", "c5.2xlarge", "r5.2xlarge", "m5.xlarge")
_GENERAL_WEIGHTS = (0.30, 0.40, 0.10, 0.15, 0.05)


@dataclass(frozen=True)
class SidecarKind:
    """A helper container that rides along with the app (log shipper, reloader, proxy, exporter)."""

    name: str
    image: str
    args: tuple[str, ...]
    typical_cores: float
    mem_gb: float
    cpu_request: float
    mem_request_mib: int


SIDECARS: dict[str, SidecarKind] = {
    s.name: s
    for s in (
        SidecarKind("log-shipper", "cr.fluentbit.io/fluent/fluent-bit:2.2.2",
                    ("--config=/fluent-bit/etc/fluent-bit.conf",), 0.05, 0.04, 0.02, 32),
        SidecarKind("config-reloader", "ghcr.io/jimmidyson/configmap-reload:v0.12.0",
                    ("--volume-dir=/etc/config", "--webhook-url=http://127.0.0.1:8080/-/reload"),
                    0.01, 0.01, 0.005, 16),
        SidecarKind("istio-proxy", "docker.io/istio/proxyv2:1.20.3",
                    ("proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"), 0.1, 0.06, 0.1,
                    128),
        SidecarKind("cloud-sql-proxy", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.8.2",
                    ("--structured-logs", "--port=5432", "acme-prod:us-east1:orders"), 0.05, 0.03, 0.05, 64),
        SidecarKind("postgres-exporter", "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
                    ("--web.listen-address=:9187",), 0.05, 0.03, 0.05, 64),
        SidecarKind("mysqld-exporter", "docker.io/prom/mysqld-exporter:v0.15.1",
                    ("--web.listen-address=:9104",), 0.05, 0.03, 0.05, 64),
        SidecarKind("redis-exporter", "docker.io/oliver006/redis_exporter:v1.58.0",
                    ("--web.listen-address=:9121",), 0.02, 0.02, 0.02, 32),
        SidecarKind("jmx-exporter", "docker.io/bitnami/jmx-exporter:0.20.0",
                    ("5556", "/etc/jmx-kafka/jmx-kafka-prometheus.yml"), 0.1, 0.15, 0.1, 256),
        SidecarKind("prometheus-config-reloader",
                    "quay.io/prometheus-operator/prometheus-config-reloader:v0.71.2",
                    ("--reload-url=http://127.0.0.1:9090/-/reload",), 0.01, 0.02, 0.01, 32),
    )
}

# Plain init containers: (image or "{app}", command). "{db}" is replaced by a database name.
_INITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "wait-for-db": ("docker.io/library/busybox:1.36", ("sh", "-c",
                                                       "until nc -z {db} 5432; do sleep 2; done")),
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
class Archetype:
    """A kind of workload: how its spec looks (image, command, labels) and how it burns power.

    The power-relevant numbers (typical cores, utilisation, working set, GPU use) are what a
    spec-based regressor has to learn from image/command/labels when no requests are set.
    """

    key: str
    kind: str
    namespace: str
    names: tuple[str, ...]
    image: str  # template: {v} version, {name} workload name
    versions: tuple[str, ...]
    container: str
    component: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    chart: str = ""
    part_of: str = ""
    port: int = 0
    replicas: tuple[int, int] = (1, 1)
    typical_cores: float = 0.5
    util: float = 0.3
    profile: str = "flat"  # diurnal | flat | bursty | batch | training | idle
    mem_gb: float = 0.2
    warmup: bool = False
    gpu_options: tuple[tuple[str, int], ...] = ()  # (instance type, gpus per pod)
    gpu_util: float = 0.0
    fs_read: float = 1e3  # bytes/s at mean load
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
    duration_s: tuple[int, int] = (0, 0)  # batch archetypes: run time range
    schedules: tuple[str, ...] = ()  # CronJobs


ARCHETYPES: dict[str, Archetype] = {
    a.key: a
    for a in (
        Archetype("nginx", "Deployment", "shop", ("web", "storefront", "static-assets", "edge", "landing"),
                  "docker.io/library/nginx:{v}", ("1.25.3", "1.25.4", "1.25.4-alpine"), "nginx", "web",
                  chart="nginx-15.10.4", part_of="storefront", port=8080, replicas=(2, 3),
                  typical_cores=0.2, util=0.2, profile="diurnal", mem_gb=0.06, fs_read=2e3, fs_write=1.5e4,
                  net_rx=1.5e6, net_tx=6e6, weight=5, cpu_choices=(0.1, 0.2, 0.25, 0.5),
                  mem_choices_mib=(64, 128, 256), sidecars=("log-shipper", "config-reloader"),
                  sidecar_prob=0.4),
        Archetype("envoy", "Deployment", "shop", ("gateway", "edge-proxy", "ingress-envoy"),
                  "docker.io/envoyproxy/envoy:{v}", ("v1.28.1", "v1.29.1", "v1.29.2"), "envoy", "gateway",
                  command=("envoy",), args=("-c", "/etc/envoy/envoy.yaml", "--log-level", "warn"),
                  chart="envoy-1.9.4", part_of="storefront", port=8080, replicas=(1, 2), typical_cores=0.5,
                  util=0.25, profile="diurnal", mem_gb=0.1, fs_write=5e3, net_rx=5e6, net_tx=5e6, weight=2,
                  cpu_choices=(0.25, 0.5, 1.0), mem_choices_mib=(128, 256, 512),
                  sidecars=("config-reloader",), sidecar_prob=0.3),
        Archetype("gunicorn", "Deployment", "shop",
                  ("orders-api", "catalog-api", "payments-api", "search-api", "users-api", "auth-api",
                   "reviews-api", "pricing-api", "returns-api", "loyalty-api"),
                  "ghcr.io/acme-shop/{name}:{v}", ("3.4.0", "3.4.1", "3.5.0"), "api", "api",
                  command=("gunicorn",),
                  args=("app.wsgi:application", "--workers", "4", "--bind", "0.0.0.0:8000", "--timeout",
                        "30"),
                  chart="python-service-2.3.0", part_of="shop", port=8000, replicas=(1, 3), typical_cores=1.0,
                  util=0.3, profile="diurnal", mem_gb=0.45, warmup=False, fs_read=1e4, fs_write=2e4,
                  net_rx=5e5, net_tx=1e6, weight=8, cpu_choices=(0.25, 0.5, 1.0, 1.5),
                  mem_choices_mib=(384, 512, 768, 1024),
                  sidecars=("log-shipper", "istio-proxy", "cloud-sql-proxy"), sidecar_prob=0.5,
                  inits=("migrate", "wait-for-db"), init_prob=0.35),
        Archetype("celery", "Deployment", "shop", ("orders-worker", "email-worker", "thumbnail-worker",
                                                   "import-worker", "webhook-worker"),
                  "ghcr.io/acme-shop/{name}:{v}", ("3.4.0", "3.4.1", "3.5.0"), "worker", "worker",
                  command=("celery",), args=("-A", "app.tasks", "worker", "--concurrency", "4", "--loglevel",
                                             "INFO"),
                  chart="python-service-2.3.0", part_of="shop", replicas=(1, 2), typical_cores=1.0, util=0.5,
                  profile="bursty", mem_gb=0.6, fs_read=5e4, fs_write=1e5, net_rx=2e5, net_tx=2e5, weight=4,
                  cpu_choices=(0.5, 1.0, 2.0), mem_choices_mib=(512, 1024, 1536),
                  sidecars=("log-shipper",), sidecar_prob=0.3, inits=("wait-for-db",), init_prob=0.2),
        Archetype("node", "Deployment", "shop", ("cart", "checkout", "currency", "shipping", "ads", "email",
                                                 "quote", "frontend-bff", "wishlist", "notifications"),
                  "registry.acme.io/shop/demo:{v}-{name}", ("2.1.2", "2.1.3", "2.2.0"), "server", "api",
                  command=("node",), args=("server.js",), chart="opentelemetry-demo-0.26.1", part_of="shop",
                  port=8080, replicas=(1, 3), typical_cores=0.5, util=0.3, profile="diurnal", mem_gb=0.25,
                  fs_read=5e3, fs_write=1e4, net_rx=4e5, net_tx=8e5, weight=7, cpu_choices=(0.1, 0.25, 0.5),
                  mem_choices_mib=(128, 256, 512), sidecars=("istio-proxy", "log-shipper"), sidecar_prob=0.4,
                  inits=("wait-for-db",), init_prob=0.15),
        Archetype("spring", "Deployment", "shop", ("inventory-service", "billing-service", "ledger-service",
                                                   "fraud-service", "accounts-service", "tax-service"),
                  "123456789012.dkr.ecr.us-east-1.amazonaws.com/acme/{name}:{v}", ("1.7.2", "1.8.0", "1.8.1"),
                  "app", "api", command=("java",),
                  args=("-XX:MaxRAMPercentage=75.0", "-jar", "/app/app.jar", "--spring.profiles.active=prod"),
                  chart="spring-boot-1.4.0", part_of="shop", port=8080, replicas=(1, 3), typical_cores=2.0,
                  util=0.22, profile="diurnal", mem_gb=1.6, warmup=True, fs_read=1e4, fs_write=3e4,
                  net_rx=6e5, net_tx=9e5, weight=6, cpu_choices=(0.5, 1.0, 2.0), mem_choices_mib=(1536, 2048,
                                                                                                  3072),
                  sidecars=("istio-proxy", "log-shipper"), sidecar_prob=0.4,
                  inits=("flyway-migrate", "wait-for-db"), init_prob=0.35),
        Archetype("redis-cache", "Deployment", "shop", ("session-cache", "rate-limit-redis", "cart-redis"),
                  "docker.io/library/redis:{v}", ("7.2.3", "7.2.4"), "redis", "cache",
                  command=("redis-server",),
                  args=("--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru", "--save", ""),
                  chart="redis-18.6.1", part_of="shop", port=6379, replicas=(1, 1), typical_cores=0.5,
                  util=0.12,
                  profile="flat", mem_gb=1.0, warmup=True, fs_write=2e3, net_rx=8e5, net_tx=1.2e6, weight=3,
                  cpu_choices=(0.1, 0.25, 0.5), mem_choices_mib=(1024, 1536, 2048),
                  sidecars=("redis-exporter",), sidecar_prob=0.4),
        Archetype("memcached", "Deployment", "shop", ("memcached", "page-cache", "fragment-cache"),
                  "docker.io/library/memcached:{v}", ("1.6.22", "1.6.23"), "memcached", "cache",
                  args=("-m", "1024", "-c", "4096", "-t", "4"), chart="memcached-6.14.0", part_of="shop",
                  port=11211, replicas=(1, 2), typical_cores=0.5, util=0.08, profile="diurnal", mem_gb=0.9,
                  warmup=True, fs_write=0.0, fs_read=0.0, net_rx=1e6, net_tx=2e6, weight=2,
                  cpu_choices=(0.1, 0.25, 0.5), mem_choices_mib=(1024, 1280, 1536)),
        Archetype("redis", "StatefulSet", "data", ("redis", "queue-redis"),
                  "docker.io/bitnami/redis:{v}", ("7.2.4-debian-12-r0", "7.2.4-debian-12-r9"), "redis",
                  "master",
                  command=("/opt/bitnami/scripts/start-scripts/start-master.sh",), chart="redis-18.6.1",
                  part_of="data-platform", port=6379, replicas=(1, 2), typical_cores=0.5, util=0.15,
                  profile="flat", mem_gb=1.5, warmup=True, fs_write=3e5, net_rx=1e6, net_tx=1e6, weight=1,
                  cpu_choices=(0.25, 0.5, 1.0), mem_choices_mib=(1024, 2048, 3072),
                  styles=("burstable", "guaranteed", "requests_only", "none"),
                  sidecars=("redis-exporter",), sidecar_prob=0.5),
        Archetype("postgres", "StatefulSet", "data", ("postgres", "orders-db", "catalog-db", "users-db"),
                  "docker.io/library/postgres:{v}", ("15.5", "16.1", "16.2"), "postgres", "primary",
                  args=("-c", "shared_buffers=1GB", "-c", "max_connections=200"), chart="postgresql-13.2.24",
                  part_of="data-platform", port=5432, replicas=(1, 2), typical_cores=2.0, util=0.3,
                  profile="diurnal", mem_gb=4.0, warmup=True, fs_read=2e6, fs_write=1e6, net_rx=5e5,
                  net_tx=1.5e6, weight=3, cpu_choices=(1.0, 2.0, 4.0), mem_choices_mib=(4096, 8192, 12288),
                  styles=("burstable", "guaranteed", "requests_only", "limits_only", "none"),
                  sidecars=("postgres-exporter",), sidecar_prob=0.6, inits=("init-permissions",),
                  init_prob=0.4),
        Archetype("mysql", "StatefulSet", "data", ("mysql", "legacy-db", "wordpress-db"),
                  "docker.io/library/mysql:{v}", ("8.0.35", "8.0.36"), "mysql", "primary",
                  args=("--innodb-buffer-pool-size=1G", "--max-connections=300"), chart="mysql-9.16.1",
                  part_of="data-platform", port=3306, replicas=(1, 2), typical_cores=2.0, util=0.28,
                  profile="diurnal", mem_gb=3.0, warmup=True, fs_read=1.5e6, fs_write=8e5, net_rx=4e5,
                  net_tx=1e6, weight=2, cpu_choices=(1.0, 2.0), mem_choices_mib=(3072, 4096, 6144),
                  styles=("burstable", "guaranteed", "requests_only", "none"),
                  sidecars=("mysqld-exporter",), sidecar_prob=0.5, inits=("init-permissions",),
                  init_prob=0.3),
        Archetype("kafka", "StatefulSet", "data", ("kafka", "events-kafka"),
                  "docker.io/bitnami/kafka:{v}", ("3.6.0", "3.6.1"), "kafka", "broker",
                  command=("/opt/bitnami/scripts/kafka/entrypoint.sh",),
                  args=("/opt/bitnami/scripts/kafka/run.sh",),
                  chart="kafka-26.8.3", part_of="data-platform", port=9092, replicas=(3, 3),
                  typical_cores=2.0,
                  util=0.4, profile="flat", mem_gb=5.0, warmup=True, fs_read=1e6, fs_write=8e6, net_rx=1e7,
                  net_tx=1e7, weight=1, cpu_choices=(1.0, 2.0, 3.0), mem_choices_mib=(4096, 6144, 8192),
                  styles=("burstable", "guaranteed", "none"), sidecars=("jmx-exporter",), sidecar_prob=0.5,
                  inits=("init-config",), init_prob=0.5),
        Archetype("rabbitmq", "StatefulSet", "data", ("rabbitmq", "jobs-rabbitmq"),
                  "docker.io/library/rabbitmq:{v}", ("3.12.10-management", "3.12.12-management"), "rabbitmq",
                  "server", chart="rabbitmq-12.6.1", part_of="data-platform", port=5672, replicas=(1, 2),
                  typical_cores=1.0, util=0.2, profile="flat", mem_gb=1.0, warmup=True, fs_write=2e5,
                  net_rx=8e5, net_tx=8e5, weight=1, cpu_choices=(0.5, 1.0, 2.0), mem_choices_mib=(1024,
                                                                                                  2048)),
        Archetype("prometheus", "StatefulSet", "observability", ("prometheus", "prometheus-longterm"),
                  "quay.io/prometheus/prometheus:{v}", ("v2.48.1", "v2.49.1"), "prometheus", "server",
                  args=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.retention.time=15d",
                        "--storage.tsdb.path=/prometheus"),
                  chart="kube-prometheus-stack-56.6.2", part_of="monitoring", port=9090, replicas=(1, 2),
                  typical_cores=1.0, util=0.35, profile="flat", mem_gb=4.0, warmup=True, fs_read=5e5,
                  fs_write=2e6, net_rx=2e6, net_tx=3e5, weight=0.5, cpu_choices=(0.5, 1.0, 2.0),
                  mem_choices_mib=(4096, 6144, 8192), sidecars=("prometheus-config-reloader",),
                  sidecar_prob=0.8),
        Archetype("grafana", "Deployment", "observability", ("grafana", "grafana-ops"),
                  "docker.io/grafana/grafana:{v}", ("10.2.3", "10.3.3"), "grafana", "dashboard",
                  chart="grafana-7.3.0", part_of="monitoring", port=3000, replicas=(1, 1), typical_cores=0.25,
                  util=0.05, profile="diurnal", mem_gb=0.2, fs_read=1e3, fs_write=5e3, net_rx=1e5, net_tx=2e5,
                  weight=0.5, cpu_choices=(0.1, 0.25), mem_choices_mib=(128, 256, 512),
                  sidecars=("config-reloader",), sidecar_prob=0.5),
        Archetype("ml-train", "Job", "ml", ("train-resnet50", "train-bert-base", "finetune-llama-7b",
                                            "train-recsys", "train-yolov8", "hpo-trial",
                                            "train-whisper-small"),
                  "nvcr.io/nvidia/pytorch:{v}", ("23.12-py3", "24.01-py3"), "trainer", "training",
                  command=("torchrun",), args=("--nproc_per_node=gpu", "train.py", "--model", "{name}",
                                               "--epochs", "30"),
                  part_of="ml-platform", replicas=(1, 2), typical_cores=6.0, util=0.85, profile="training",
                  mem_gb=30.0, gpu_options=(("p3.2xlarge", 1), ("p3.2xlarge", 1), ("p3.8xlarge", 4)),
                  gpu_util=0.9, fs_read=5e7, fs_write=2e6, net_rx=2e7, net_tx=1e6, weight=4,
                  cpu_choices=(4.0, 6.0, 7.0), mem_choices_mib=(16384, 24576, 40960),
                  styles=("burstable", "guaranteed"), sidecars=("log-shipper",), sidecar_prob=0.2,
                  inits=("download-dataset",), init_prob=0.5, duration_s=(2700, 14400)),
        Archetype("ml-infer-gpu", "Deployment", "ml", ("triton-inference", "embedding-server", "llm-serving"),
                  "nvcr.io/nvidia/tritonserver:{v}", ("23.12-py3", "24.01-py3"), "triton", "inference",
                  command=("tritonserver",), args=("--model-repository=/models", "--http-port=8000"),
                  part_of="ml-platform", port=8000, replicas=(1, 2), typical_cores=2.0, util=0.3,
                  profile="diurnal", mem_gb=6.0, warmup=True, gpu_options=(("g4dn.xlarge", 1),),
                  gpu_util=0.35,
                  fs_read=1e5, fs_write=1e4, net_rx=3e6, net_tx=3e6, weight=1.5, cpu_choices=(1.0, 2.0, 3.0),
                  mem_choices_mib=(4096, 8192, 12288), styles=("burstable", "guaranteed", "requests_only"),
                  inits=("download-model",), init_prob=0.6),
        Archetype("ml-infer-cpu", "Deployment", "ml", ("torchserve-cpu", "onnx-scorer", "feature-server"),
                  "docker.io/pytorch/torchserve:{v}", ("0.9.0-cpu", "0.10.0-cpu"), "torchserve", "inference",
                  command=("torchserve",), args=("--start", "--model-store", "/models", "--foreground"),
                  part_of="ml-platform", port=8080, replicas=(1, 2), typical_cores=2.0, util=0.45,
                  profile="diurnal", mem_gb=2.5, warmup=True, fs_read=2e4, net_rx=1e6, net_tx=1e6, weight=2,
                  cpu_choices=(1.0, 2.0, 4.0), mem_choices_mib=(2048, 4096),
                  sidecars=("log-shipper",), sidecar_prob=0.3, inits=("download-model",), init_prob=0.4),
        Archetype("backup", "CronJob", "batch", ("backup", "db-backup", "orders-backup"),
                  "docker.io/library/postgres:{v}", ("16.2",), "pg-dump", "backup", command=("/bin/sh", "-c"),
                  args=("pg_dump -h orders-db.data -U backup orders"
                        " | gzip > /backup/orders-$(date +%s).sql.gz",),
                  part_of="ops", typical_cores=1.0, util=0.6, profile="batch", mem_gb=0.3, fs_read=2e7,
                  fs_write=5e6, net_rx=2e7, net_tx=1e5, weight=2, cpu_choices=(0.5, 1.0),
                  mem_choices_mib=(256, 512), sidecars=("cloud-sql-proxy",), sidecar_prob=0.4,
                  duration_s=(180, 720), schedules=("0 * * * *", "*/30 * * * *", "30 */2 * * *")),
        Archetype("report", "CronJob", "batch", ("report", "daily-report", "invoice-report", "usage-report"),
                  "ghcr.io/acme-shop/reports:{v}", ("1.2.0", "1.3.0"), "report", "report",
                  command=("python", "-m", "reports.generate"), args=("--report", "{name}", "--format",
                                                                      "pdf"),
                  part_of="ops", typical_cores=0.5, util=0.7, profile="batch", mem_gb=0.8, fs_read=1e5,
                  fs_write=5e5, net_rx=2e6, net_tx=5e5, weight=3, cpu_choices=(0.25, 0.5, 1.0),
                  mem_choices_mib=(512, 1024), duration_s=(60, 360),
                  schedules=("15 * * * *", "*/20 * * * *", "45 */3 * * *")),
        Archetype("etl", "Job", "batch", ("etl-orders", "reindex-search", "data-migration", "spark-etl"),
                  "docker.io/apache/spark:{v}", ("3.5.0", "3.5.1"), "spark", "etl",
                  command=("/opt/spark/bin/spark-submit",), args=("--master", "local[*]",
                                                                  "/opt/jobs/{name}.py"),
                  part_of="data-platform", replicas=(1, 2), typical_cores=4.0, util=0.75, profile="batch",
                  mem_gb=8.0, fs_read=3e7, fs_write=1e7, net_rx=5e6, net_tx=5e6, weight=2,
                  cpu_choices=(2.0, 4.0), mem_choices_mib=(8192, 12288), duration_s=(600, 3600)),
        Archetype("fluent-bit", "DaemonSet", "kube-system", ("fluent-bit",),
                  "cr.fluentbit.io/fluent/fluent-bit:{v}", ("2.2.1", "2.2.2"), "fluent-bit", "logging",
                  chart="fluent-bit-0.43.0", part_of="logging", port=2020, typical_cores=0.3, util=0.35,
                  profile="flat", mem_gb=0.05, fs_read=5e4, fs_write=1e3, net_rx=1e4, net_tx=5e4, weight=0,
                  cpu_choices=(0.05, 0.1), mem_choices_mib=(64, 128),
                  styles=("requests_only", "burstable", "none", "mem_limit_only")),
        Archetype("node-exporter", "DaemonSet", "kube-system", ("node-exporter",),
                  "quay.io/prometheus/node-exporter:{v}", ("v1.7.0",), "node-exporter", "metrics",
                  args=("--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root"),
                  chart="prometheus-node-exporter-4.26.0", part_of="monitoring", port=9100, typical_cores=0.1,
                  util=0.15, profile="flat", mem_gb=0.03, fs_read=1e3, fs_write=0.0, net_rx=5e3, net_tx=2e4,
                  weight=0, cpu_choices=(0.05, 0.1), mem_choices_mib=(32, 64),
                  styles=("requests_only", "burstable", "none", "limits_only")),
        Archetype("debug", "Pod", "shop", ("debug-shell", "psql-client", "netcheck"),
                  "docker.io/library/busybox:{v}", ("1.36",), "shell", "debug", command=("sleep", "infinity"),
                  typical_cores=0.02, util=0.005, profile="idle", mem_gb=0.004, fs_read=0.0, fs_write=10.0,
                  net_rx=10.0, net_tx=10.0, weight=1, styles=("none",)),
        Archetype("loadgen", "Pod", "shop", ("load-test", "k6-smoke"),
                  "docker.io/grafana/k6:{v}", ("0.49.0",), "k6", "loadtest", command=("k6", "run"),
                  args=("--vus", "50", "--duration", "20m", "/scripts/load.js"), typical_cores=1.0, util=0.6,
                  profile="batch", mem_gb=0.3, fs_read=0.0, fs_write=1e3, net_rx=4e6, net_tx=2e6, weight=0.5,
                  cpu_choices=(0.5, 1.0), mem_choices_mib=(256, 512), duration_s=(600, 1500)),
        Archetype("legacy-worker", "ReplicaSet", "shop", ("legacy-worker",),
                  "docker.io/acme/legacy-worker:{v}", ("0.9.12",), "worker", "worker",
                  command=("python", "worker.py"), replicas=(2, 2), typical_cores=0.5, util=0.2,
                  profile="bursty",
                  mem_gb=0.3, weight=0, cpu_choices=(0.25, 0.5), mem_choices_mib=(256, 512)),
        Archetype("legacy-poller", "ReplicationController", "batch", ("legacy-poller",),
                  "docker.io/library/python:{v}", ("3.9-slim",), "poller", "poller",
                  command=("python", "-u", "/app/poller.py"), replicas=(1, 1), typical_cores=0.25, util=0.1,
                  profile="flat", mem_gb=0.1, weight=0, cpu_choices=(0.1, 0.25), mem_choices_mib=(128, 256)),
    )
}

# First one of each (in this order, so small clusters still cover every kind of thing), then weighted.
_COVERAGE = (
    "fluent-bit", "node-exporter", "nginx", "gunicorn", "postgres", "ml-train", "backup", "debug", "node",
    "spring", "redis-cache", "report", "kafka", "ml-infer-gpu", "celery", "mysql", "envoy", "memcached",
    "prometheus", "etl", "grafana", "rabbitmq", "redis", "ml-infer-cpu", "loadgen", "legacy-worker",
    "legacy-poller",
)
_STYLES = ("none", "mem_limit_only", "limits_only", "requests_only", "cpu_request_only", "burstable",
           "guaranteed")
_STYLE_WEIGHTS = (0.27, 0.12, 0.11, 0.13, 0.05, 0.22, 0.10)
_NAMESPACES = ("shop", "data", "ml", "batch", "observability")


# --------------------------------------------------------------------------------------------
# Public data classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimContainer:
    """One container of a pod (app, sidecar or native sidecar) and how pod energy is split onto it.

    ``segments`` lists ``(container_id, start_s, end_s)``: a container restart ends one segment
    and starts a new one with a new id, so per-container counters start again at 0.
    """

    name: str
    image: str
    role: str  # "app" | "sidecar" | "native-sidecar"
    is_init: bool  # native sidecars live in spec.initContainers
    cpu_weight: float  # share of the pod's CPU energy/cores (sums to 1 over containers)
    mem_weight: float  # share of the pod's DRAM energy/working set (sums to 1)
    gpus: int
    cpu_request: float | None  # cores, after defaulting request := limit; None if unset
    mem_request: float | None  # bytes, same defaulting
    segments: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class SimPod:
    """One pod's life and ground truth.

    Workload identity is the *top* controller (Deployment, not ReplicaSet; CronJob, not Job;
    ``Pod`` + pod name for bare pods). ``owner_kind``/``owner_name`` are the *direct* owner as
    kube-state-metrics' ``kube_pod_owner`` reports it ('' for bare pods). Energies are joules over
    ``[start_s, end_s]``; ``end_s`` is clipped to the window end for pods still running then.
    """

    namespace: str
    workload_kind: str
    workload_name: str
    pod: str
    pod_uid: str
    node: str
    instance_type: str
    nodepool: str
    owner_kind: str
    owner_name: str
    start_s: int
    end_s: int
    archetype: str = ""
    qos_class: str = ""
    completed: bool = False  # ran to completion inside the window (Job/CronJob pods, run-once bare pods)
    deleted_s: int = 0  # when the pod object disappears (>= end_s; completed pods linger)
    sandbox_id: str = ""
    containers: tuple[SimContainer, ...] = ()
    init_requests: tuple[tuple[str, float | None, float | None], ...] = ()  # plain init containers
    # model inputs
    vcpus: float = 0.0
    mem_gb: float = 0.0
    gpus: int = 0
    gpu_model: str = ""
    gpu_idle_w: float = 0.0
    gpu_max_w: float = 0.0
    util_mean: float = 0.0
    gpu_util_mean: float = 0.0
    profile: str = "flat"
    warmup: bool = False
    noise: float = 1.0
    io_rates: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # fs_r, fs_w, rx, tx at mean load
    profile_seed: int = 0
    # ground truth
    avg_power_w: float = 0.0
    total_energy_j: float = 0.0
    energy_dynamic_j: float = 0.0
    energy_idle_j: float = 0.0
    energy_package_j: float = 0.0
    energy_dram_j: float = 0.0
    energy_gpu_j: float = 0.0
    package_dynamic_j: float = 0.0
    package_idle_j: float = 0.0
    dram_dynamic_j: float = 0.0
    gpu_dynamic_j: float = 0.0
    gpu_idle_j: float = 0.0
    cpu_cores_used: float = 0.0
    mem_bytes_used: float = 0.0
    fs_read_bytes_per_s: float = 0.0
    fs_write_bytes_per_s: float = 0.0
    net_rx_bytes_per_s: float = 0.0
    net_tx_bytes_per_s: float = 0.0

    @property
    def duration_s(self) -> int:
        return self.end_s - self.start_s

    @property
    def container_restarts(self) -> int:
        return sum(len(c.segments) - 1 for c in self.containers)


@dataclass(frozen=True)
class SimNode:
    """A node Karpenter launched; GPU nodes live only as long as the pods that needed them."""

    name: str
    instance_type: str
    nodepool: str
    vcpus: int
    mem_gib: float
    gpus: int
    gpu_model: str
    start_s: int
    end_s: int
    ip: str
    kepler_pod: str


@dataclass(frozen=True)
class SimOwner:
    """A ReplicaSet or Job object (the intermediate owners kube-state-metrics reports)."""

    kind: str
    namespace: str
    name: str
    owner_kind: str  # '' when it has no controller
    owner_name: str
    created_s: int
    deleted_s: int


@dataclass(frozen=True)
class SimRollout:
    """A Deployment rollout: a new ReplicaSet replaces the old one's pods one by one."""

    namespace: str
    deployment: str
    old_replicaset: str
    new_replicaset: str
    start_s: int
    end_s: int
    old_image: str
    new_image: str


@dataclass(frozen=True)
class ExporterRestart:
    """A Kepler exporter restart: all Kepler counters on ``node`` drop to 0 at ``time_s``.

    The exporter is scraped exactly at ``time_s`` (last pre-restart value) and at ``time_s + 1``
    (first value after the restart, counting from ``time_s``), so no energy is lost.
    """

    node: str
    time_s: int
    job: str = "kepler-exporter"


@dataclass(frozen=True)
class ScrapeGap:
    """Missing scrapes of ``job`` on ``node`` in [from_s, to_s); '*' matches every node / every job."""

    job: str
    node: str
    from_s: int
    to_s: int


@dataclass
class SimCluster:
    """The whole simulated cluster: what users applied, what ran where, and what was observed."""

    seed: int
    start_s: int
    end_s: int
    step_s: int
    manifests: list[dict[str, Any]]
    pods: list[SimPod]
    nodes: list[SimNode] = field(default_factory=list)
    replicasets: list[SimOwner] = field(default_factory=list)
    jobs: list[SimOwner] = field(default_factory=list)
    rollouts: list[SimRollout] = field(default_factory=list)
    exporter_restarts: list[ExporterRestart] = field(default_factory=list)
    scrape_gaps: list[ScrapeGap] = field(default_factory=list)
    scrape_offsets: dict[str, float] = field(default_factory=dict)  # target -> phase in [0, 1) of scrape_s
    ksm_pod: str = ""
    ksm_instance: str = ""
    karpenter_pod: str = ""
    karpenter_instance: str = ""

    def node(self, name: str) -> SimNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _suffix(rng: np.random.Generator, n: int = 5) -> str:
    return "".join(_SAFE[i] for i in rng.integers(0, len(_SAFE), n))


def _uid(rng: np.random.Generator) -> str:
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


def _hex(rng: np.random.Generator, nbytes: int = 32) -> str:
    return rng.bytes(nbytes).hex()


def _noise_factor(rng: np.random.Generator, sigma: float) -> float:
    """Mean-one lognormal factor."""
    return float(np.exp(rng.normal(-0.5 * sigma * sigma, sigma)))


def _pin_digest(image: str, rng: np.random.Generator) -> str:
    """Pin an image by digest, sometimes keeping the tag (``repo:tag@sha256:…``) and sometimes not."""
    digest = "sha256:" + _hex(rng)
    if rng.random() < 0.5:
        return f"{image}@{digest}"
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@{digest}"


# --------------------------------------------------------------------------------------------
# Pod spec analysis: the ground truth is computed from the manifest, not from hidden choices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CInfo:
    name: str
    image: str
    role: str
    is_init: bool
    cores: float  # effective cores (request, else limit, else typical)
    cpu_request: float | None
    mem_request: float | None
    mem_ws: float  # bytes
    gpus: int


@dataclass(frozen=True)
class _SpecInfo:
    vcpus: float
    mem_gb: float
    gpus: int
    qos: str
    running: tuple[_CInfo, ...]  # app + sidecars + native sidecars
    plain_inits: tuple[_CInfo, ...]
    allowed_types: tuple[str, ...]


def _res(c: dict[str, Any], kind: str, key: str) -> float | None:
    v = (c.get("resources") or {}).get(kind, {}) or {}
    return parse_quantity(v[key]) if key in v else None


def _analyse_pod_spec(spec: dict[str, Any], arch: Archetype) -> _SpecInfo:
    """Derive the model inputs from a pod spec, following Kubernetes' own rules.

    Why here: the brief is that power must be a function of what the spec says, so this is
    the single place the simulator reads resources — from the manifest it wrote.
    """

    def cinfo(c: dict[str, Any], role: str, is_init: bool) -> _CInfo:
        req_cpu = _res(c, "requests", "cpu")
        lim_cpu = _res(c, "limits", "cpu")
        req_mem = _res(c, "requests", "memory")
        lim_mem = _res(c, "limits", "memory")
        cpu_req = req_cpu if req_cpu is not None else lim_cpu
        mem_req = req_mem if req_mem is not None else lim_mem
        gpus = int(_res(c, "limits", "nvidia.com/gpu") or 0)
        if role == "app":
            typical, typical_ws = arch.typical_cores, arch.mem_gb * 1e9
        elif role == "init":
            typical, typical_ws = INIT_TYPICAL_CORES, 0.05e9
        else:
            sk = SIDECARS[c["name"]]
            typical, typical_ws = sk.typical_cores, sk.mem_gb * 1e9
        cores = cpu_req if cpu_req is not None else typical
        if role == "app" and req_mem is not None:
            ws = 0.75 * req_mem
        elif role == "app" and lim_mem is not None:
            ws = 0.6 * lim_mem
        else:
            ws = typical_ws
        if lim_mem is not None:
            ws = min(ws, 0.9 * lim_mem)
        return _CInfo(c["name"], c["image"], role, is_init, cores, cpu_req, mem_req, ws, gpus)

    running: list[_CInfo] = []
    for i, c in enumerate(spec.get("containers", [])):
        running.append(cinfo(c, "app" if i == 0 else "sidecar", False))
    plain: list[_CInfo] = []
    native_cores = 0.0
    init_peak = 0.0
    for c in spec.get("initContainers", []) or []:
        if c.get("restartPolicy") == "Always":
            ci = cinfo(c, "native-sidecar", True)
            running.append(ci)
            native_cores += ci.cores
        else:
            ci = cinfo(c, "init", True)
            plain.append(ci)
            init_peak = max(init_peak, ci.cores + native_cores)
    regular = sum(c.cores for c in running)  # includes the native sidecars
    overhead = spec.get("overhead") or {}
    vcpus = max(regular, init_peak) + (parse_quantity(overhead["cpu"]) if "cpu" in overhead else 0.0)

    all_c = list(spec.get("containers", [])) + list(spec.get("initContainers", []) or [])
    has_any = False
    guaranteed = True
    for c in all_c:
        r = (c.get("resources") or {}).get("requests", {}) or {}
        lim = (c.get("resources") or {}).get("limits", {}) or {}
        if any(k in r or k in lim for k in ("cpu", "memory")):
            has_any = True
        for k in ("cpu", "memory"):
            if k not in lim or (k in r and parse_quantity(r[k]) != parse_quantity(lim[k])):
                guaranteed = False
    qos = "BestEffort" if not has_any else ("Guaranteed" if guaranteed else "Burstable")

    allowed: tuple[str, ...] = ()
    sel = (spec.get("nodeSelector") or {}).get("node.kubernetes.io/instance-type")
    if sel:
        allowed = (sel,)
    aff = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
           .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in aff.get("nodeSelectorTerms", []):
        for ex in term.get("matchExpressions", []):
            if ex.get("key") == "node.kubernetes.io/instance-type" and ex.get("operator") == "In":
                allowed = tuple(ex["values"])
    mem_gb = sum(c.mem_ws for c in running) / 1e9
    return _SpecInfo(vcpus, mem_gb, sum(c.gpus for c in running), qos, tuple(running), tuple(plain), allowed)


# --------------------------------------------------------------------------------------------
# Workload planning (manifests)
# --------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    arch: Archetype
    namespace: str
    name: str
    kind: str
    manifest: dict[str, Any]
    pod_spec: dict[str, Any]
    image: str
    old_image: str
    info: _SpecInfo
    replicas: int
    extra: list[dict[str, Any]]
    schedule: str = ""
    ttl_s: int | None = None
    rollout: bool = False
    overhead: bool = False


def _resources(style: str, cpu: float, mem_mib: float, rng: np.random.Generator) -> dict[str, Any] | None:
    """Resource block in one of the styles seen in real clusters (None = no ``resources`` key)."""
    if style == "none":
        return {} if rng.random() < 0.25 else None
    c, m = _fmt_cpu(cpu, rng), _fmt_mem(mem_mib, rng)
    if style == "mem_limit_only":
        return {"limits": {"memory": _fmt_mem(mem_mib * 1.5, rng)}}
    if style == "limits_only":
        return {"limits": {"cpu": c, "memory": m}}
    if style == "requests_only":
        return {"requests": {"cpu": c, "memory": m}}
    if style == "cpu_request_only":
        return {"requests": {"cpu": c}}
    if style == "guaranteed":
        return {"requests": {"cpu": c, "memory": m}, "limits": {"cpu": c, "memory": m}}
    limits: dict[str, Any] = {"memory": _fmt_mem(mem_mib * 2, rng)}
    if rng.random() < 0.5:
        limits["cpu"] = _fmt_cpu(cpu * 2, rng)
    return {"requests": {"cpu": c, "memory": m}, "limits": limits}


def _labels(arch: Archetype, name: str, version: str) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": arch.container if arch.kind != "Pod" else name,
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": arch.component,
    }
    if arch.part_of:
        labels["app.kubernetes.io/part-of"] = arch.part_of
    if arch.chart:
        labels["app.kubernetes.io/managed-by"] = "Helm"
        labels["helm.sh/chart"] = arch.chart
    labels["app.kubernetes.io/version"] = re.sub(r"[^A-Za-z0-9._-]", "-", version)[:63]
    return labels


def _selector(arch: Archetype, name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": arch.container if arch.kind != "Pod" else name,
            "app.kubernetes.io/instance": name}


def _build_pod_spec(
    arch: Archetype, name: str, namespace: str, image: str, rng: np.random.Generator, *,
    overhead: bool, extra: list[dict[str, Any]],
) -> dict[str, Any]:
    """A pod spec in the style of the archetype, with the field's resource habits."""
    app: dict[str, Any] = {"name": arch.container, "image": image}
    if arch.command:
        app["command"] = [s.format(name=name) for s in arch.command]
    if arch.args:
        app["args"] = [s.format(name=name) for s in arch.args]
    if arch.port:
        app["ports"] = [{"name": "http" if arch.kind != "StatefulSet" else arch.component[:15],
                         "containerPort": arch.port, "protocol": "TCP"}]
    spec: dict[str, Any] = {}
    cpu = float(rng.choice(arch.cpu_choices))
    mem = float(rng.choice(arch.mem_choices_mib))
    gpu_type, gpus = "", 0
    if arch.gpu_options:
        gpu_type, gpus = arch.gpu_options[int(rng.integers(len(arch.gpu_options)))]
        cpu *= gpus
        mem *= gpus
    styles = arch.styles or _STYLES
    weights = np.array([_STYLE_WEIGHTS[_STYLES.index(s)] for s in styles])
    style = str(rng.choice(styles, p=weights / weights.sum()))
    res = _resources(style, cpu, mem, rng)
    if gpus:
        res = res or {}
        res.setdefault("limits", {})["nvidia.com/gpu"] = gpus
        spec["nodeSelector"] = {"node.kubernetes.io/instance-type": gpu_type, "karpenter.sh/nodepool": "gpu"}
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if res is not None:
        app["resources"] = res
    containers = [app]
    inits: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []

    if arch.inits and rng.random() < arch.init_prob:
        iname = str(rng.choice(arch.inits))
        iimage, icmd = _INITS[iname]
        init: dict[str, Any] = {
            "name": iname,
            "image": image if iimage == "{app}" else iimage,
            "command": [s.format(db="orders-db.data", name=name) for s in icmd],
        }
        r = rng.random()
        if r < 0.35:  # heavier than the app: migrations, downloads
            heavy = min(max(2.0, cpu * 1.5), max(cpu, 6.0))  # still fits the node it needs
            init["resources"] = {"requests": {"cpu": _fmt_cpu(heavy, rng),
                                              "memory": _fmt_mem(2048, rng)}}
        elif r < 0.7:
            init["resources"] = {"requests": {"cpu": _fmt_cpu(0.1, rng), "memory": _fmt_mem(64, rng)}}
        inits.append(init)

    if arch.sidecars and rng.random() < arch.sidecar_prob:
        picks = [arch.sidecars[int(i)] for i in rng.permutation(len(arch.sidecars))]
        for sname in picks[: 1 + int(rng.random() < 0.25)]:
            sk = SIDECARS[sname]
            side: dict[str, Any] = {"name": sk.name, "image": sk.image, "args": list(sk.args)}
            if rng.random() < 0.65:
                side["resources"] = {"requests": {"cpu": _fmt_cpu(sk.cpu_request, rng),
                                                  "memory": _fmt_mem(sk.mem_request_mib, rng)}}
                if rng.random() < 0.5:
                    side["resources"]["limits"] = {"memory": _fmt_mem(sk.mem_request_mib * 2, rng)}
            if sname in ("config-reloader", "prometheus-config-reloader"):
                volumes.append({"name": "config", "configMap": {"name": f"{name}-config"}})
                mount = {"name": "config", "mountPath": "/etc/config"}
                app["volumeMounts"] = [mount]
                side["volumeMounts"] = [{**mount, "readOnly": True}]
                extra.append({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": f"{name}-config", "namespace": namespace},
                              "data": {"config.yaml": f"# {name} configuration\nlog_level: info\n"}})
            native = sname in ("log-shipper", "istio-proxy", "cloud-sql-proxy") and rng.random() < 0.4
            if native or (arch.kind in ("Job", "CronJob") and sname == "cloud-sql-proxy"):
                side["restartPolicy"] = "Always"
                if rng.random() < 0.5:
                    inits.insert(0, side)
                else:
                    inits.append(side)
            else:
                containers.append(side)

    if overhead:
        spec["runtimeClassName"] = "kata-qemu"
        spec["overhead"] = {"cpu": "250m", "memory": "160Mi"}
    if not gpus and arch.kind != "DaemonSet" and rng.random() < 0.12:
        if arch.kind == "StatefulSet":
            values = ["r5.2xlarge", "m5.4xlarge"]
        else:
            values = sorted({str(rng.choice(_GENERAL_TYPES[:4])), str(rng.choice(_GENERAL_TYPES[:4]))})
        spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": values}]}]}}}
    if arch.kind == "DaemonSet":
        spec["tolerations"] = [{"operator": "Exists"}]
        host = ("/var/log",) if arch.key == "fluent-bit" else ("/proc", "/sys", "/")
        mounts = []
        for i, p in enumerate(host):
            vname = f"host-{i}"
            volumes.append({"name": vname, "hostPath": {"path": p}})
            mounts.append({"name": vname, "mountPath": "/host" + (p if p != "/" else "/root"),
                           "readOnly": True})
        app["volumeMounts"] = mounts
        spec["priorityClassName"] = "system-node-critical"
    if arch.kind == "StatefulSet":
        app.setdefault("volumeMounts", []).append({"name": "data", "mountPath": "/data"})
        spec["terminationGracePeriodSeconds"] = 60
    if arch.kind in ("Job", "CronJob"):
        spec["restartPolicy"] = "Never" if rng.random() < 0.6 else "OnFailure"
    elif arch.kind == "Pod" and arch.key == "loadgen":
        spec["restartPolicy"] = "Never"
    spec["containers"] = containers
    if inits:
        spec["initContainers"] = inits
    if volumes:
        spec["volumes"] = volumes
    # stable key order, like kubectl would show
    order = ("runtimeClassName", "overhead", "priorityClassName", "restartPolicy",
             "terminationGracePeriodSeconds", "nodeSelector", "affinity", "tolerations", "initContainers",
             "containers", "volumes")
    return {k: spec[k] for k in order if k in spec}


def _plan_workloads(rng: np.random.Generator, n_workloads: int, start_s: int, end_s: int) -> list[_Plan]:
    """Choose archetypes and names, and write each workload's manifest."""
    keys = list(_COVERAGE[: min(n_workloads, len(_COVERAGE))])
    pool = [k for k, a in ARCHETYPES.items() if a.weight > 0]
    w = np.array([ARCHETYPES[k].weight for k in pool])
    if n_workloads > len(keys):
        keys += [str(k) for k in rng.choice(pool, size=n_workloads - len(keys), p=w / w.sum())]
    used: set[tuple[str, str]] = set()
    overhead_budget = 2
    plans: list[_Plan] = []
    for key in keys:
        arch = ARCHETYPES[key]
        ns = arch.namespace
        if key == "debug" and rng.random() < 0.5:
            ns = "batch"
        # name: first free in the archetype's pool (shuffled), then numbered
        cands = list(arch.names)
        rng.shuffle(cands)
        name = next((c for c in cands if (ns, c) not in used), "")
        i = 2
        while not name:
            c = f"{cands[0]}-{i}"
            name = c if (ns, c) not in used else ""
            i += 1
        used.add((ns, name))
        vi = int(rng.integers(len(arch.versions)))
        rollout = (arch.kind == "Deployment" and end_s - start_s >= 3600 and rng.random() < 0.3)
        if rollout and len(arch.versions) > 1 and vi == 0:
            vi = 1
        version = arch.versions[vi]
        image = arch.image.format(v=version, name=name)
        old_image = arch.image.format(v=arch.versions[vi - 1], name=name) if rollout and vi > 0 else image
        if rng.random() < 0.15:
            image = _pin_digest(image, rng)
            old_image = _pin_digest(old_image, rng) if rollout else image
        overhead = (overhead_budget > 0 and arch.kind in ("Deployment", "Pod") and not arch.gpu_options
                    and (rng.random() < 0.05 or (key == "debug" and overhead_budget == 2)))
        overhead_budget -= int(overhead)
        extra: list[dict[str, Any]] = []
        pod_spec = _build_pod_spec(arch, name, ns, image, rng, overhead=overhead, extra=extra)
        labels = _labels(arch, name, version)
        sel = _selector(arch, name)
        meta = {"name": name, "namespace": ns, "labels": labels}
        template = {"metadata": {"labels": labels}, "spec": pod_spec}
        lo, hi = arch.replicas
        replicas = int(rng.integers(lo, hi + 1))
        schedule, ttl = "", None
        kind = arch.kind
        if kind == "Deployment":
            man = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                   "spec": {"replicas": replicas, "revisionHistoryLimit": 3, "selector": {"matchLabels": sel},
                            "strategy": {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                            "template": template}}
        elif kind == "StatefulSet":
            storage = str(rng.choice(["20Gi", "50Gi", "100Gi"]))
            man = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                   "spec": {"replicas": replicas, "serviceName": f"{name}-headless",
                            "selector": {"matchLabels": sel}, "template": template,
                            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                                "accessModes": ["ReadWriteOnce"],
                                "resources": {"requests": {"storage": storage}}}}]}}
        elif kind == "DaemonSet":
            man = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                   "spec": {"selector": {"matchLabels": sel},
                            "updateStrategy": {"type": "RollingUpdate"}, "template": template}}
        elif kind == "ReplicaSet":
            man = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                   "spec": {"replicas": replicas, "selector": {"matchLabels": sel}, "template": template}}
        elif kind == "ReplicationController":
            man = {"apiVersion": "v1", "kind": kind, "metadata": meta,
                   "spec": {"replicas": replicas, "selector": dict(sel), "template": template}}
        elif kind == "Job":
            ttl = 3600 if rng.random() < 0.5 else None
            job_spec: dict[str, Any] = {"backoffLimit": 2, "completions": replicas, "parallelism": replicas}
            if ttl is not None:
                job_spec["ttlSecondsAfterFinished"] = ttl
            job_spec["template"] = template
            man = {"apiVersion": "batch/v1", "kind": kind, "metadata": meta, "spec": job_spec}
        elif kind == "CronJob":
            schedule = str(rng.choice(arch.schedules))
            man = {"apiVersion": "batch/v1", "kind": kind, "metadata": meta,
                   "spec": {"schedule": schedule, "concurrencyPolicy": "Forbid",
                            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
                            "jobTemplate": {"spec": {"backoffLimit": 1, "template": template}}}}
            replicas = 1
        else:  # bare Pod
            man = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}
            replicas = 1
        if arch.port and kind in ("Deployment", "StatefulSet"):
            svc_name = f"{name}-headless" if kind == "StatefulSet" else name
            svc_spec: dict[str, Any] = {"selector": dict(sel),
                                        "ports": [{"name": "http", "port": arch.port, "targetPort": arch.port,
                                                   "protocol": "TCP"}]}
            if kind == "StatefulSet":
                svc_spec = {"clusterIP": "None", **svc_spec}
            extra.append({"apiVersion": "v1", "kind": "Service",
                          "metadata": {"name": svc_name, "namespace": ns, "labels": dict(sel)},
                          "spec": svc_spec})
        info = _analyse_pod_spec(pod_spec, arch)
        plans.append(_Plan(arch, ns, name, kind, man, pod_spec, image, old_image, info, replicas, extra,
                           schedule, ttl, rollout, overhead))
    # guarantee a rollout (the event the label builder must handle) when the window allows one
    deployments = [p for p in plans if p.kind == "Deployment"]
    if end_s - start_s >= 3600 and deployments and not any(p.rollout for p in deployments):
        p = deployments[0]
        p.rollout = True
        other = [v for v in p.arch.versions if p.arch.image.format(v=v, name=p.name) != p.image]
        p.old_image = p.arch.image.format(v=other[0], name=p.name) if other else _pin_digest(p.image, rng)
    return plans


# --------------------------------------------------------------------------------------------
# Cron schedules
# --------------------------------------------------------------------------------------------


def _cron_field(spec: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, s = part.split("/")
            step = int(s)
        if part == "*":
            a, b = lo, hi
        elif "-" in part:
            a, b = (int(x) for x in part.split("-"))
        else:
            a = b = int(part)
            if step > 1:
                b = hi
        out.update(range(a, b + 1, step))
    return out


def _cron_times(schedule: str, start_s: int, end_s: int) -> list[int]:
    """Scheduled times (UTC) of a minute/hour cron expression inside [start_s, end_s)."""
    minute, hour = schedule.split()[:2]
    mins, hours = _cron_field(minute, 0, 59), _cron_field(hour, 0, 23)
    t = (start_s + 59) // 60 * 60
    out = []
    while t < end_s:
        if (t // 60) % 60 in mins and (t // 3600) % 24 in hours:
            out.append(t)
        t += 60
    return out


# --------------------------------------------------------------------------------------------
# Pod timelines and placement
# --------------------------------------------------------------------------------------------


@dataclass
class _Draft:
    plan: _Plan
    pod: str
    workload_kind: str
    workload_name: str
    owner_kind: str
    owner_name: str
    start_s: int
    end_s: int
    completed: bool
    deleted_s: int
    image: str
    long_running: bool
    node: str = ""
    restarts: list[int] = field(default_factory=list)


@dataclass
class _Node:
    name: str
    itype: InstanceType
    start_s: int
    end_s: int
    ip: str
    free_cpu: float
    free_mem: float


class _Names:
    """Unique pod/node names (collisions are astronomically rare but would break joins)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def pod(self, base: str, rng: np.random.Generator) -> str:
        while True:
            n = f"{base}-{_suffix(rng)}"
            if n not in self.seen:
                self.seen.add(n)
                return n

    def take(self, n: str) -> str:
        self.seen.add(n)
        return n


def _drafts(
    rng: np.random.Generator, plans: list[_Plan], start_s: int, end_s: int,
) -> tuple[list[_Draft], list[SimOwner], list[SimOwner], list[SimRollout]]:
    """Lay out every pod's life: replicas, rollouts, Jobs, CronJob runs, bare pods."""
    names = _Names()
    drafts: list[_Draft] = []
    rsets: list[SimOwner] = []
    jobs: list[SimOwner] = []
    rollouts: list[SimRollout] = []
    dur = end_s - start_s

    def draft(p: _Plan, pod: str, ok: str, on: str, s: int, e: int, *, completed: bool = False,
              deleted: int | None = None, image: str | None = None, long: bool = False) -> None:
        drafts.append(_Draft(p, pod, p.kind, p.name, ok, on, s, e, completed,
                             e if deleted is None else deleted, image or p.image, long))

    for p in plans:
        a = p.arch
        if p.kind == "Deployment":
            new_hash = _suffix(rng, 10)
            if p.rollout:
                old_hash = _suffix(rng, 10)
                t_roll = start_s + int(dur * rng.uniform(0.3, 0.7))
                old_rs, new_rs = f"{p.name}-{old_hash}", f"{p.name}-{new_hash}"
                rsets.append(SimOwner("ReplicaSet", p.namespace, old_rs, "Deployment", p.name, start_s,
                                      end_s))
                rsets.append(SimOwner("ReplicaSet", p.namespace, new_rs, "Deployment", p.name, t_roll, end_s))
                last = t_roll
                for i in range(p.replicas):
                    s0 = start_s + int(rng.integers(0, 120))
                    s1 = t_roll + 40 * i + int(rng.integers(0, 8))
                    e0 = s1 + int(rng.integers(15, 35))
                    last = max(last, e0)
                    draft(p, names.pod(old_rs, rng), "ReplicaSet", old_rs, s0, e0, image=p.old_image,
                          long=True)
                    draft(p, names.pod(new_rs, rng), "ReplicaSet", new_rs, s1, end_s)
                rollouts.append(SimRollout(p.namespace, p.name, old_rs, new_rs, t_roll, last, p.old_image,
                                           p.image))
            else:
                rs = f"{p.name}-{new_hash}"
                rsets.append(SimOwner("ReplicaSet", p.namespace, rs, "Deployment", p.name, start_s, end_s))
                for _ in range(p.replicas):
                    draft(p, names.pod(rs, rng), "ReplicaSet", rs, start_s + int(rng.integers(0, 120)), end_s,
                          long=True)
        elif p.kind == "StatefulSet":
            t0 = start_s + int(rng.integers(0, 60))
            for i in range(p.replicas):
                draft(p, names.take(f"{p.name}-{i}"), "StatefulSet", p.name, t0 + 25 * i, end_s, long=True)
        elif p.kind in ("ReplicaSet", "ReplicationController"):
            if p.kind == "ReplicaSet":
                rsets.append(SimOwner("ReplicaSet", p.namespace, p.name, "", "", start_s, end_s))
            for _ in range(p.replicas):
                draft(p, names.pod(p.name, rng), p.kind, p.name, start_s + int(rng.integers(0, 120)), end_s,
                      long=True)
        elif p.kind == "Job":
            lo, hi = a.duration_s
            s = start_s + int(dur * rng.uniform(0.02, 0.6))
            run = int(rng.integers(lo, hi + 1))
            e = min(s + run, end_s)
            done = s + run <= end_s
            deleted = min(end_s, e + p.ttl_s) if (done and p.ttl_s is not None) else end_s
            jobs.append(SimOwner("Job", p.namespace, p.name, "", "", s - 2, deleted))
            for _ in range(p.replicas):
                draft(p, names.pod(p.name, rng), "Job", p.name, s + int(rng.integers(0, 5)), e,
                      completed=done, deleted=deleted)
        elif p.kind == "CronJob":
            lo, hi = a.duration_s
            runs: list[tuple[str, int, int, bool]] = []
            for t in _cron_times(p.schedule, start_s, end_s):
                s = t + int(rng.integers(1, 7))
                run = int(rng.integers(lo, hi + 1))
                e = min(s + run, end_s)
                if e - s < 30:
                    continue
                runs.append((f"{p.name}-{t // 60}", s, e, s + run <= end_s))
            for k, (job, s, e, done) in enumerate(runs):
                # successfulJobsHistoryLimit: 3 -> deleted when the third later run completes
                later = [r for r in runs[k + 1:] if r[3]]
                deleted = later[2][2] if done and len(later) >= 3 else end_s
                jobs.append(SimOwner("Job", p.namespace, job, "CronJob", p.name, s - 1, deleted))
                draft(p, names.pod(job, rng), "Job", job, s, e, completed=done, deleted=deleted)
                drafts[-1].workload_kind = "CronJob"
        elif p.kind == "Pod":
            if a.duration_s[1]:
                s = start_s + int(dur * rng.uniform(0.05, 0.7))
                run = int(rng.integers(a.duration_s[0], a.duration_s[1] + 1))
                e = min(s + run, end_s)
                done = s + run <= end_s
                draft(p, names.take(p.name), "", "", s, e, completed=done, deleted=end_s if done else e)
            else:
                s = start_s + int(dur * rng.uniform(0.0, 0.3))
                e = end_s if rng.random() < 0.6 else min(end_s, s + max(600, int(dur * rng.uniform(0.2,
                                                                                                   0.5))))
                draft(p, names.take(p.name), "", "", s, e)
        # DaemonSets are laid out after the nodes exist
    return drafts, rsets, jobs, rollouts


def _node_name(rng: np.random.Generator, names: _Names) -> tuple[str, str]:
    while True:
        a, b = int(rng.integers(0, 64)), int(rng.integers(2, 254))
        n = f"ip-10-0-{a}-{b}.ec2.internal"
        if n not in names.seen:
            names.take(n)
            return n, f"10.0.{a}.{b}"


def _place(rng: np.random.Generator, drafts: list[_Draft], start_s: int, end_s: int) -> list[_Node]:
    """Karpenter-ish placement: bin-pack long-running pods, one GPU node per GPU pod."""
    nodes: list[_Node] = []
    names = _Names()

    def new_node(itype: str, s: int, e: int) -> _Node:
        name, ip = _node_name(rng, names)
        it = INSTANCE_TYPES[itype]
        n = _Node(name, it, s, e, ip, it.vcpus * 0.9 - 0.3, it.mem_gib * _GI * 0.9 - 0.3e9)
        nodes.append(n)
        return n

    order = sorted(range(len(drafts)), key=lambda i: (not drafts[i].long_running, drafts[i].start_s, i))
    for i in order:
        d = drafts[i]
        info = d.plan.info
        if info.gpus:
            itype = info.allowed_types[0]
            n = new_node(itype, max(start_s, d.start_s - 120), min(end_s, d.end_s + 90))
            d.node = n.name
            continue
        allowed = info.allowed_types or _GENERAL_TYPES
        cpu = info.vcpus
        mem = max(info.mem_gb * 1e9, sum(c.mem_request or 0.0 for c in info.running))
        general = [n for n in nodes if n.itype.name in allowed and n.end_s >= end_s and n.start_s <= start_s]
        if d.long_running:
            fit = next((n for n in general if n.free_cpu >= cpu and n.free_mem >= mem), None)
            if fit is None:
                cands = [t for t in _GENERAL_TYPES if t in allowed]
                wts = np.array([_GENERAL_WEIGHTS[_GENERAL_TYPES.index(t)] for t in cands])
                itype = str(rng.choice(cands, p=wts / wts.sum()))
                it = INSTANCE_TYPES[itype]
                if it.vcpus * 0.9 - 0.3 < cpu or it.mem_gib * _GI * 0.8 < mem:
                    itype = max(cands, key=lambda t: (INSTANCE_TYPES[t].vcpus, INSTANCE_TYPES[t].mem_gib))
                fit = new_node(itype, start_s, end_s)
            fit.free_cpu -= cpu
            fit.free_mem -= mem
            d.node = fit.name
        else:
            if not general:
                cands = [t for t in _GENERAL_TYPES if t in allowed]
                general = [new_node(cands[0], start_s, end_s)]
            d.node = general[int(rng.integers(len(general)))].name
    if not any(n.start_s <= start_s and n.end_s >= end_s for n in nodes):
        new_node("m5.2xlarge", start_s, end_s)  # a cluster always has a node (for its DaemonSets)
    return nodes


# --------------------------------------------------------------------------------------------
# Time profiles and exact integrals
# --------------------------------------------------------------------------------------------

_CUM_KEYS = ("pkg_idle", "pkg_dyn", "dram", "gpu_idle", "gpu_dyn", "cpu", "fs_r", "fs_w", "rx", "tx")


@dataclass
class _Curves:
    """Piecewise-constant rates of one pod between knots, and their exact running integrals."""

    knots: np.ndarray  # float64 seconds: start, step boundaries inside the life, end
    cum: dict[str, np.ndarray]  # running integrals at the knots (J, core-seconds, bytes)
    mem: np.ndarray  # working set per interval (bytes, app+sidecars)

    def at(self, key: str, t: np.ndarray | float) -> np.ndarray:
        return np.interp(t, self.knots, self.cum[key])

    def combo(self, weights: dict[str, float]) -> np.ndarray:
        out = np.zeros_like(self.knots)
        for k, w in weights.items():
            if w:
                out = out + w * self.cum[k]
        return out

    def mem_at(self, t: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(self.knots, t, side="right") - 1, 0, len(self.mem) - 1)
        return self.mem[idx]


def _shape(profile: str, mids: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Mean-one-ish utilisation shape over the pod's life (why: power varies, truth stays exact)."""
    if profile == "diurnal":
        hour = (mids % 86400) / 3600.0
        base = 1.0 + 0.45 * np.sin(2 * np.pi * (hour - 8.0) / 24.0)
        return base * np.exp(rng.normal(-0.0032, 0.08, n))
    if profile == "bursty":
        return (0.5 + 3.333 * (rng.random(n) < 0.15)) * np.exp(rng.normal(-0.005, 0.1, n))
    if profile == "batch":
        return 0.85 + 0.3 * rng.random(n)
    if profile == "training":
        dips = (np.arange(n) % 20) >= 18
        return np.where(dips, 0.4, 1.0) * np.exp(rng.normal(-0.00045, 0.03, n))
    if profile == "idle":
        return np.ones(n)
    return np.exp(rng.normal(-0.00125, 0.05, n))  # flat


def _curves(pod: SimPod, origin: int, step_s: int) -> _Curves:
    """Rebuild a pod's time profile from its seed (cheap, so nothing big is kept in memory)."""
    s, e = pod.start_s, pod.end_s
    k0 = (s - origin) // step_s + 1
    k1 = -(-(e - origin) // step_s)
    grid = origin + step_s * np.arange(k0, k1, dtype=np.int64)
    grid = grid[(grid > s) & (grid < e)]
    knots = np.concatenate(([s], grid, [e])).astype(np.float64)
    n = len(knots) - 1
    dt = np.diff(knots)
    mids = 0.5 * (knots[:-1] + knots[1:])
    rng = np.random.default_rng(pod.profile_seed)
    shape = _shape(pod.profile, mids, rng, n)
    util = np.clip(pod.util_mean * shape, 0.002, 1.0)
    if pod.gpus:
        if pod.profile == "training":
            gshape = np.where((np.arange(n) % 20) >= 18, 0.3, 1.0) * np.exp(rng.normal(0.0, 0.03, n))
        else:
            gshape = shape
        gutil = np.clip(pod.gpu_util_mean * gshape, 0.0, 1.0)
    else:
        gutil = np.zeros(n)
    warm = 0.55 + 0.45 * np.minimum(1.0, (mids - s) / 1800.0) if pod.warmup else np.ones(n)
    mem = pod.mem_gb * 1e9 * warm * np.exp(rng.normal(0.0, 0.02, n))
    z = pod.noise
    io = util / max(pod.util_mean, 1e-9)
    rates = {
        "pkg_idle": np.full(n, z * pod.vcpus * CCF_MIN_W_PER_VCPU),
        "pkg_dyn": z * pod.vcpus * (CCF_MAX_W_PER_VCPU - CCF_MIN_W_PER_VCPU) * util,
        "dram": z * CCF_W_PER_GB * mem / 1e9,
        "gpu_idle": np.full(n, z * pod.gpus * pod.gpu_idle_w),
        "gpu_dyn": z * pod.gpus * (pod.gpu_max_w - pod.gpu_idle_w) * gutil,
        "cpu": pod.vcpus * util,
        "fs_r": pod.io_rates[0] * io,
        "fs_w": pod.io_rates[1] * io,
        "rx": pod.io_rates[2] * io,
        "tx": pod.io_rates[3] * io,
    }
    cum = {k: np.concatenate(([0.0], np.cumsum(v * dt))) for k, v in rates.items()}
    return _Curves(knots, cum, mem)


def _with_truth(pod: SimPod, origin: int, step_s: int) -> SimPod:
    c = _curves(pod, origin, step_s)
    tot = {k: float(c.cum[k][-1]) for k in _CUM_KEYS}
    d = float(pod.end_s - pod.start_s)
    idle = tot["pkg_idle"] + tot["gpu_idle"]
    dyn = tot["pkg_dyn"] + tot["dram"] + tot["gpu_dyn"]
    total = idle + dyn
    mem_avg = float(np.sum(c.mem * np.diff(c.knots)) / d)
    return replace(
        pod,
        total_energy_j=total, avg_power_w=total / d, energy_dynamic_j=dyn, energy_idle_j=idle,
        energy_package_j=tot["pkg_idle"] + tot["pkg_dyn"], energy_dram_j=tot["dram"],
        energy_gpu_j=tot["gpu_idle"] + tot["gpu_dyn"], package_dynamic_j=tot["pkg_dyn"],
        package_idle_j=tot["pkg_idle"], dram_dynamic_j=tot["dram"], gpu_dynamic_j=tot["gpu_dyn"],
        gpu_idle_j=tot["gpu_idle"], cpu_cores_used=tot["cpu"] / d, mem_bytes_used=mem_avg,
        fs_read_bytes_per_s=tot["fs_r"] / d, fs_write_bytes_per_s=tot["fs_w"] / d,
        net_rx_bytes_per_s=tot["rx"] / d, net_tx_bytes_per_s=tot["tx"] / d,
    )


# --------------------------------------------------------------------------------------------
# simulate_cluster
# --------------------------------------------------------------------------------------------


def simulate_cluster(
    seed: int = 7,
    n_workloads: int = 120,
    start_s: int = 1_767_225_600,
    hours: float = 6.0,
    step_s: int = 60,
) -> SimCluster:
    """Build a deterministic demo cluster: manifests, pods on nodes, events, exact ground truth.

    ``n_workloads`` counts top-level workloads (the two node-agent DaemonSets included). The
    cluster comes up at ``start_s``: long-running pods start in its first two minutes, so every
    counter of every pod is observed from 0.
    """
    if n_workloads < 1 or hours <= 0 or step_s <= 0:
        raise ValueError("n_workloads >= 1, hours > 0 and step_s > 0 are required")
    rng = np.random.default_rng(seed)
    end_s = start_s + round(hours * 3600)
    plans = _plan_workloads(rng, n_workloads, start_s, end_s)
    drafts, rsets, jobs, rollouts = _drafts(rng, plans, start_s, end_s)
    nodes = _place(rng, drafts, start_s, end_s)

    names = _Names()
    for d in drafts:
        names.take(d.pod)
    for p in plans:
        if p.kind != "DaemonSet":
            continue
        for n in nodes:
            s = n.start_s + int(rng.integers(5, 40))
            if n.end_s - s < 60:
                continue
            d = _Draft(p, names.pod(p.name, rng), "DaemonSet", p.name, "DaemonSet", p.name, s, n.end_s, False,
                       n.end_s, p.image, n.end_s >= end_s and n.start_s <= start_s, node=n.name)
            drafts.append(d)

    # container restarts (OOMKilled / liveness failures) on a few long-running pods
    cands = [d for d in drafts if d.long_running and d.end_s - d.start_s >= 2400]
    for j, d in enumerate(cands):
        if rng.random() < 0.06 or (j == len(cands) // 2 and not any(x.restarts for x in cands)):
            k = 1 + int(rng.random() < 0.3)
            ts = sorted({int(rng.integers(d.start_s + 900, d.end_s - 900)) for _ in range(k)})
            d.restarts = [t for i, t in enumerate(ts) if i == 0 or t - ts[i - 1] > 120]

    drafts.sort(key=lambda d: (d.start_s, d.plan.namespace, d.pod))
    node_by = {n.name: n for n in nodes}
    pods: list[SimPod] = []
    for d in drafts:
        info = d.plan.info
        node = node_by[d.node]
        it = node.itype
        run_w = np.array([c.cores for c in info.running])
        mem_w = np.array([c.mem_ws for c in info.running])
        bounds = [d.start_s, *d.restarts, d.end_s]
        containers = []
        for i, c in enumerate(info.running):
            if c.role == "app" and d.restarts:
                segs = tuple((_hex(rng), bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1))
            else:
                segs = ((_hex(rng), d.start_s, d.end_s),)
            image = d.image if c.role == "app" else c.image
            w_cpu, w_mem = float(run_w[i] / run_w.sum()), float(mem_w[i] / mem_w.sum())
            containers.append(SimContainer(c.name, image, c.role, c.is_init, w_cpu, w_mem, c.gpus,
                                           c.cpu_request, c.mem_request, segs))
        gidle, gmax = GPU_MODELS.get(it.gpu_model, (0.0, 0.0))
        a = d.plan.arch
        base_io = (a.fs_read, a.fs_write, a.net_rx, a.net_tx)
        io = tuple(float(x * np.exp(rng.normal(0.0, 0.2))) for x in base_io)
        pod = SimPod(
            namespace=d.plan.namespace, workload_kind=d.workload_kind, workload_name=d.workload_name,
            pod=d.pod, pod_uid=_uid(rng), node=node.name, instance_type=it.name, nodepool=it.nodepool,
            owner_kind=d.owner_kind, owner_name=d.owner_name, start_s=d.start_s, end_s=d.end_s,
            archetype=a.key, qos_class=info.qos, completed=d.completed, deleted_s=d.deleted_s,
            sandbox_id=_hex(rng), containers=tuple(containers),
            init_requests=tuple((c.name, c.cpu_request, c.mem_request) for c in info.plain_inits),
            vcpus=info.vcpus, mem_gb=info.mem_gb * float(np.exp(rng.normal(0.0, 0.05))), gpus=info.gpus,
            gpu_model=it.gpu_model if info.gpus else "", gpu_idle_w=gidle, gpu_max_w=gmax,
            util_mean=a.util, gpu_util_mean=a.gpu_util, profile=a.profile, warmup=a.warmup,
            noise=_noise_factor(rng, NOISE_SIGMA), io_rates=io,
            profile_seed=int(rng.integers(0, 2**62)),
        )
        pods.append(_with_truth(pod, start_s, step_s))

    sim_nodes = [SimNode(n.name, n.itype.name, n.itype.nodepool, n.itype.vcpus, n.itype.mem_gib, n.itype.gpus,
                         n.itype.gpu_model, n.start_s, n.end_s, n.ip, f"kepler-exporter-{_suffix(rng)}")
                 for n in nodes]
    restarts = _choose_exporter_restart(rng, pods, sim_nodes, start_s, end_s)
    gaps = _choose_gaps(rng, sim_nodes, start_s, end_s)
    offsets: dict[str, float] = {"ksm": float(rng.random()), "karpenter": float(rng.random())}
    for n in sim_nodes:
        offsets[f"kepler/{n.name}"] = float(rng.random())
        offsets[f"kubelet/{n.name}"] = float(rng.random())

    manifests: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        for ns in _NAMESPACES if any(p.namespace == ns for p in plans)
    ]
    if any(p.overhead for p in plans):
        kata = {"podFixed": {"cpu": "250m", "memory": "160Mi"}}
        manifests.append({"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                          "metadata": {"name": "kata-qemu"}, "handler": "kata-qemu", "overhead": kata})
    for p in plans:
        manifests.extend(p.extra)
        manifests.append(p.manifest)
    manifests = copy.deepcopy(manifests)  # no shared sub-objects: consumers may mutate freely

    return SimCluster(
        seed=seed, start_s=start_s, end_s=end_s, step_s=step_s, manifests=manifests, pods=pods,
        nodes=sim_nodes, replicasets=rsets, jobs=jobs, rollouts=rollouts, exporter_restarts=restarts,
        scrape_gaps=gaps, scrape_offsets=offsets,
        ksm_pod=f"kube-state-metrics-{_suffix(rng, 10)}-{_suffix(rng)}", ksm_instance="10.0.0.23:8080",
        karpenter_pod=f"karpenter-{_suffix(rng, 10)}-{_suffix(rng)}", karpenter_instance="10.0.0.41:8000",
    )


def _choose_exporter_restart(
    rng: np.random.Generator, pods: list[SimPod], nodes: list[SimNode], start_s: int, end_s: int,
) -> list[ExporterRestart]:
    """One Kepler restart on a busy node, away from pod/container start and end instants.

    Why the margins: Prometheus detects a reset only when the value drops; a counter that had
    just started (or a pod that ends right after) could hide the drop, and the ground truth must
    stay recoverable.
    """
    if end_s - start_s < 3600:
        return []
    full = [n for n in nodes if n.start_s <= start_s and n.end_s >= end_s]
    if not full:
        return []
    by_node: dict[str, list[SimPod]] = {}
    for p in pods:
        by_node.setdefault(p.node, []).append(p)
    full.sort(key=lambda n: -len(by_node.get(n.name, [])))
    node = full[int(rng.integers(min(3, len(full))))]
    edges = []
    for p in by_node.get(node.name, []):
        edges += [p.start_s, p.end_s]
        for c in p.containers:
            for _, a, b in c.segments:
                edges += [a, b]
    e = np.array(sorted(edges), dtype=np.int64)
    for _ in range(500):
        t = start_s + int((end_s - start_s) * rng.uniform(0.3, 0.7))
        if not np.any((e > t - 600) & (e < t + 120)):
            return [ExporterRestart(node.name, t)]
    return []


def _choose_gaps(rng: np.random.Generator, nodes: list[SimNode], start_s: int, end_s: int) -> list[ScrapeGap]:
    """A few missed scrapes: one Kepler target, one kubelet target, kube-state-metrics, and all jobs once."""
    dur = end_s - start_s
    if dur < 1800 or not nodes:
        return []

    def t0() -> int:
        return start_s + int(dur * rng.uniform(0.1, 0.9))

    gaps = [
        ScrapeGap("kepler-exporter", nodes[int(rng.integers(len(nodes)))].name, (a := t0()), a + 75),
        ScrapeGap("kubelet", nodes[int(rng.integers(len(nodes)))].name, (b := t0()), b + 45),
        ScrapeGap("kube-state-metrics", "*", (c := t0()), c + 60),
        ScrapeGap("*", "*", (d := t0()), d + 35),
    ]
    return gaps


# --------------------------------------------------------------------------------------------
# Ground truth frame and manifests
# --------------------------------------------------------------------------------------------

GROUND_TRUTH_COLUMNS = (
    "namespace", "workload_kind", "workload_name", "pod", "pod_uid", "node", "instance_type", "nodepool",
    "owner_kind", "owner_name", "start_s", "end_s", "duration_s", "total_energy_j", "avg_power_w",
    "energy_step_j", "energy_dynamic_j", "energy_idle_j", "energy_package_j", "energy_dram_j", "energy_gpu_j",
    "package_dynamic_j", "dram_dynamic_j", "cpu_cores_used", "mem_bytes_used", "fs_read_bytes_per_s",
    "fs_write_bytes_per_s", "net_rx_bytes_per_s", "net_tx_bytes_per_s",
)
_EXTRA_COLUMNS = ("archetype", "qos_class", "vcpus", "gpus", "gpu_model", "package_idle_j", "gpu_dynamic_j",
                  "gpu_idle_j", "completed", "container_restarts")


def ground_truth_frame(cluster: SimCluster) -> pd.DataFrame:
    """One row per pod: identity, life, exact energy and its components, resource use.

    Columns are the documented ``GROUND_TRUTH_COLUMNS`` followed by a few diagnostics
    (archetype, QoS, model inputs) that a training pipeline must not use as features.
    """
    rows: dict[str, list[Any]] = {c: [] for c in (*GROUND_TRUTH_COLUMNS, *_EXTRA_COLUMNS)}
    for p in cluster.pods:
        for c in rows:
            if c == "duration_s":
                rows[c].append(p.duration_s)
            elif c == "energy_step_j":
                rows[c].append(p.avg_power_w * ENERGY_STEP_S)
            elif c == "container_restarts":
                rows[c].append(p.container_restarts)
            else:
                rows[c].append(getattr(p, c))
    df = pd.DataFrame(rows)
    for c in ("start_s", "end_s", "duration_s", "gpus", "container_restarts"):
        df[c] = df[c].astype("int64")
    return df


class _NoAliasDumper(yaml.SafeDumper):
    """Plain YAML as people write it: no ``&id001`` anchors for repeated label maps."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_manifests(cluster: SimCluster, path: Path) -> Path:
    """All objects as one multi-document YAML, as a user would ``kubectl apply -f`` them."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump_all(cluster.manifests, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False,
                         width=1000, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# OpenMetrics history
# --------------------------------------------------------------------------------------------

# family name (OpenMetrics: counters without _total) -> (type, help, group)
_FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("kepler_container_joules", "counter", "Aggregated package+dram+gpu+other energy per container.", "0.7"),
    ("kepler_container_package_joules", "counter", "CPU package (RAPL) energy per container.", "0.7"),
    ("kepler_container_dram_joules", "counter", "DRAM energy per container.", "0.7"),
    ("kepler_container_other_joules", "counter", "Other host components energy per container.", "0.7"),
    ("kepler_container_gpu_joules", "counter", "GPU energy per container.", "0.7"),
    ("kepler_pod_cpu_joules", "counter", "Active (dynamic) energy per pod and RAPL zone.", "0.10"),
    ("kepler_pod_cpu_watts", "gauge", "Active (dynamic) power per pod and RAPL zone.", "0.10"),
    ("kepler_container_cpu_joules", "counter", "Active (dynamic) energy per container and zone.", "0.10"),
    ("kube_pod_owner", "gauge", "Information about the Pod's owner.", "ksm"),
    ("kube_replicaset_owner", "gauge", "Information about the ReplicaSet's owner.", "ksm"),
    ("kube_job_owner", "gauge", "Information about the Job's owner.", "ksm"),
    ("kube_pod_container_resource_requests", "gauge", "Requested resources by a container.", "ksm"),
    ("kube_pod_init_container_resource_requests", "gauge", "Requested resources by an init container.",
     "ksm"),
    ("karpenter_pods_state", "gauge", "Pod state as seen by Karpenter.", "karpenter"),
    ("container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds.", "cadvisor"),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes.", "cadvisor"),
    ("container_fs_reads_bytes", "counter", "Cumulative count of bytes read.", "cadvisor"),
    ("container_fs_writes_bytes", "counter", "Cumulative count of bytes written.", "cadvisor"),
    ("container_network_receive_bytes", "counter", "Cumulative count of bytes received.", "cadvisor"),
    ("container_network_transmit_bytes", "counter", "Cumulative count of bytes transmitted.", "cadvisor"),
)
HISTORY_GROUPS = ("kepler", "ksm", "karpenter", "cadvisor")


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _lab(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_esc(v)}"' for k, v in pairs)


class _Out:
    """Per-family spool files, concatenated at the end so each family is contiguous (OpenMetrics rule)."""

    def __init__(self, tmpdir: Path, families: Sequence[str]) -> None:
        self.paths = {f: tmpdir / f"{i:02d}.part" for i, f in enumerate(families)}
        self.files: dict[str, BinaryIO] = {
            f: open(p, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in close()
            for f, p in self.paths.items()
        }
        self.counts: dict[str, int] = dict.fromkeys(families, 0)

    def series(self, family: str, sample: str, labels: str, times: np.ndarray, values: np.ndarray | None,
               fmt: str = "%.3f") -> None:
        """Write one series vectorised: a single %-format over an interleaved value/time tuple."""
        n = len(times)
        if n == 0:
            return
        head = f"{sample}{{{labels}}} ".replace("%", "%%")
        if values is None:  # constant-1 info gauge
            text = (head + "1 %d\n") * n % tuple(times.astype(np.int64).tolist())
        else:
            inter = np.empty(2 * n, dtype=np.float64)
            inter[0::2] = values
            inter[1::2] = times
            text = (head + fmt + " %d\n") * n % tuple(inter.tolist())
        self.files[family].write(text.encode("utf-8"))
        self.counts[family] += n

    def close(self) -> None:
        for f in self.files.values():
            f.close()


@dataclass
class _Ctx:
    cluster: SimCluster
    scrape_s: int
    nodes: dict[str, SimNode]
    resets: dict[str, np.ndarray]
    gaps: list[ScrapeGap]

    def grid(self, job: str, target: str, node: str, lo: float, hi: float) -> np.ndarray:
        """Scrape instants of one target strictly inside (lo, hi), with the simulated gaps removed."""
        off = self.cluster.start_s + int(self.cluster.scrape_offsets.get(target, 0.0) * self.scrape_s)
        k0 = math.floor((lo - off) / self.scrape_s) + 1
        k1 = math.ceil((hi - off) / self.scrape_s) - 1
        if k1 < k0:
            return np.empty(0)
        g = off + self.scrape_s * np.arange(k0, k1 + 1, dtype=np.float64)
        for gap in self.gaps:
            if gap.job in ("*", job) and gap.node in ("*", node):
                g = g[(g < gap.from_s) | (g >= gap.to_s)]
        return g

    def times(self, job: str, target: str, node: str, lo: float, hi: float, extra: np.ndarray | None = None
              ) -> np.ndarray:
        """Lifecycle samples at lo and hi, the scrape grid between, and (Kepler) restart instants."""
        parts = [np.array([lo]), self.grid(job, target, node, lo, hi), np.array([hi])]
        if extra is not None and extra.size:
            parts.append(extra[(extra > lo) & (extra < hi)])
        return np.unique(np.concatenate(parts))


def _reset_base(times: np.ndarray, seg_start: float, resets: np.ndarray) -> np.ndarray:
    """Where each sample's counter started counting: the segment start or the last reset before it."""
    if resets.size == 0:
        return np.full(times.shape, float(seg_start))
    idx = np.searchsorted(resets, times, side="left") - 1
    last = np.where(idx >= 0, resets[np.maximum(idx, 0)], -np.inf)
    return np.maximum(last, float(seg_start))


def _counter(knots: np.ndarray, cum: np.ndarray, times: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.maximum(np.interp(times, knots, cum) - np.interp(base, knots, cum), 0.0)


def write_openmetrics(
    cluster: SimCluster,
    path: Path,
    scrape_s: int = 30,
    kepler_schemas: Sequence[str] = ("0.7", "0.10"),
    groups: Sequence[str] = HISTORY_GROUPS,
) -> Path:
    """Write the Prometheus history as OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``.

    Streams: each pod's series are formatted (vectorised) into per-family spool files next to
    ``path`` and concatenated at the end, so memory stays flat at any cluster size.
    ``kepler_schemas`` picks Kepler <= 0.7 (``"0.7"``) and/or >= 0.10 (``"0.10"``) series;
    ``groups`` picks exporters among kepler, ksm, karpenter, cadvisor.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if scrape_s <= 1:
        raise ValueError("scrape_s must be > 1 s")
    unknown = set(kepler_schemas) - {"0.7", "0.10"}
    if unknown:
        raise ValueError(f"unknown Kepler schema(s) {sorted(unknown)}; use '0.7' and/or '0.10'")
    unknown = set(groups) - set(HISTORY_GROUPS)
    if unknown:
        raise ValueError(f"unknown group(s) {sorted(unknown)}; choose from {HISTORY_GROUPS}")
    wanted = []
    for name, _t, _h, grp in _FAMILIES:
        if grp in ("0.7", "0.10"):
            if "kepler" in groups and grp in kepler_schemas:
                wanted.append(name)
        elif grp in groups:
            wanted.append(name)
    resets: dict[str, list[float]] = {}
    for r in cluster.exporter_restarts:
        resets.setdefault(r.node, []).append(float(r.time_s))
    ctx = _Ctx(cluster, scrape_s, {n.name: n for n in cluster.nodes},
               {k: np.array(sorted(v)) for k, v in resets.items()}, list(cluster.scrape_gaps))
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".om-") as td:
        out = _Out(Path(td), wanted)
        try:
            for pod in cluster.pods:
                curves = _curves(pod, cluster.start_s, cluster.step_s)
                if "kepler" in groups and "0.7" in kepler_schemas:
                    _kepler07(out, ctx, pod, curves)
                if "kepler" in groups and "0.10" in kepler_schemas:
                    _kepler010(out, ctx, pod, curves)
                if "ksm" in groups:
                    _ksm_pod(out, ctx, pod)
                if "karpenter" in groups:
                    _karpenter(out, ctx, pod)
                if "cadvisor" in groups:
                    _cadvisor(out, ctx, pod, curves)
            if "ksm" in groups:
                _ksm_owners(out, ctx)
        finally:
            out.close()
        tmp_final = Path(td) / "final.om"
        with open(tmp_final, "wb", buffering=1 << 20) as fh:
            for name, typ, help_, _g in _FAMILIES:
                if name not in out.counts or out.counts[name] == 0:
                    continue
                fh.write(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n".encode())
                with open(out.paths[name], "rb") as part:
                    shutil.copyfileobj(part, fh, 1 << 22)
                out.paths[name].unlink()
            fh.write(b"# EOF\n")
        os.replace(tmp_final, path)
    return path


def _kepler_target(ctx: _Ctx, node: str) -> list[tuple[str, str]]:
    n = ctx.nodes[node]
    return [("container", "kepler-exporter"), ("endpoint", "http"), ("instance", node),
            ("job", "kepler-exporter"), ("namespace", "kepler"), ("pod", n.kepler_pod),
            ("service", "kepler-exporter")]


def _kepler07(out: _Out, ctx: _Ctx, pod: SimPod, cv: _Curves) -> None:
    """Kepler <= 0.7: per-container counters, mode=dynamic|idle, package/dram/other/gpu and their sum."""
    resets = ctx.resets.get(pod.node, np.empty(0))
    target = _kepler_target(ctx, pod.node)
    for c in pod.containers:
        w, wm, g = c.cpu_weight, c.mem_weight, 1.0 if c.gpus else 0.0
        combos = {
            ("kepler_container_joules", "dynamic"): {"pkg_dyn": w, "dram": wm, "gpu_dyn": g},
            ("kepler_container_joules", "idle"): {"pkg_idle": w, "gpu_idle": g},
            ("kepler_container_package_joules", "dynamic"): {"pkg_dyn": w},
            ("kepler_container_package_joules", "idle"): {"pkg_idle": w},
            ("kepler_container_dram_joules", "dynamic"): {"dram": wm},
            ("kepler_container_dram_joules", "idle"): {},
            ("kepler_container_other_joules", "dynamic"): {},
            ("kepler_container_other_joules", "idle"): {},
        }
        if c.gpus:
            combos[("kepler_container_gpu_joules", "dynamic")] = {"gpu_dyn": g}
            combos[("kepler_container_gpu_joules", "idle")] = {"gpu_idle": g}
        cums = {k: cv.combo(v) for k, v in combos.items()}
        for cid, a, b in c.segments:
            t = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, np.concatenate(
                (resets, resets + 1)) if resets.size else None)
            base = _reset_base(t, a, resets)
            for (fam, mode), cum in cums.items():
                labels = _lab([("container_id", cid), ("container_name", c.name),
                               ("container_namespace", pod.namespace), ("mode", mode),
                               ("pod_name", pod.pod), *target])
                out.series(fam, fam + "_total", labels, t, _counter(cv.knots, cum, t, base))


def _zone_combos(w: float, wm: float) -> dict[str, dict[str, float]]:
    return {
        "package": {"pkg_dyn": w},
        "core": {"pkg_dyn": w * CORE_OF_PACKAGE},
        "uncore": {"pkg_dyn": w * UNCORE_OF_PACKAGE},
        "dram": {"dram": wm},
        "psys": {"pkg_dyn": w * PSYS_FACTOR, "dram": wm * PSYS_FACTOR},
    }


def _kepler010(out: _Out, ctx: _Ctx, pod: SimPod, cv: _Curves) -> None:
    """Kepler >= 0.10: pod and container active energy per zone, pod watts, terminated pods kept a while."""
    resets = ctx.resets.get(pod.node, np.empty(0))
    target = _kepler_target(ctx, pod.node)
    extra = np.concatenate((resets, resets + 1)) if resets.size else None
    t = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, pod.start_s, pod.end_s, extra)
    base = _reset_base(t, pod.start_s, resets)
    term_t = np.empty(0)
    if pod.completed:
        hi = min(pod.deleted_s, pod.end_s + KEPLER_TERMINATED_RETENTION_S, ctx.cluster.end_s)
        later = resets[resets > pod.end_s]
        if later.size:
            hi = min(hi, float(later[0]))
        term_t = ctx.grid("kepler-exporter", f"kepler/{pod.node}", pod.node, pod.end_s, hi + 1e-9)
    for zone, combo in _zone_combos(1.0, 1.0).items():
        cum = cv.combo(combo)
        vals = _counter(cv.knots, cum, t, base)
        common = [("node_name", pod.node), ("pod_id", pod.pod_uid), ("pod_name", pod.pod),
                  ("pod_namespace", pod.namespace)]
        out.series("kepler_pod_cpu_joules", "kepler_pod_cpu_joules_total",
                   _lab([*common, ("state", "running"), ("zone", zone), *target]), t, vals)
        if term_t.size:
            out.series("kepler_pod_cpu_joules", "kepler_pod_cpu_joules_total",
                       _lab([*common, ("state", "terminated"), ("zone", zone), *target]), term_t,
                       np.full(term_t.shape, vals[-1]))
        energy = np.interp(t, cv.knots, cum)
        watts = np.empty_like(t)
        watts[1:] = np.diff(energy) / np.diff(t)
        watts[0] = watts[1] if t.size > 1 else 0.0
        out.series("kepler_pod_cpu_watts", "kepler_pod_cpu_watts",
                   _lab([*common, ("state", "running"), ("zone", zone), *target]), t, watts, "%.4f")
    for c in pod.containers:
        combos = {z: cv.combo(cb) for z, cb in _zone_combos(c.cpu_weight, c.mem_weight).items()}
        for cid, a, b in c.segments:
            ts = ctx.times("kepler-exporter", f"kepler/{pod.node}", pod.node, a, b, extra)
            bs = _reset_base(ts, a, resets)
            for zone, cum in combos.items():
                labels = _lab([("container_id", cid), ("container_name", c.name), ("pod_id", pod.pod_uid),
                               ("runtime", "containerd"), ("state", "running"), ("zone", zone), *target])
                out.series("kepler_container_cpu_joules", "kepler_container_cpu_joules_total", labels, ts,
                           _counter(cv.knots, cum, ts, bs))


def _ksm_target(ctx: _Ctx, with_pod: bool) -> list[tuple[str, str]]:
    """KSM is scraped with honor_labels: its own namespace/pod/container labels win over the target's."""
    t = [("endpoint", "http"), ("instance", ctx.cluster.ksm_instance), ("job", "kube-state-metrics"),
         ("service", "kube-state-metrics")]
    if with_pod:
        t.append(("pod", ctx.cluster.ksm_pod))
    return t


def _ksm_pod(out: _Out, ctx: _Ctx, pod: SimPod) -> None:
    t = ctx.times("kube-state-metrics", "ksm", "*", pod.start_s, pod.deleted_s)
    ok = pod.owner_kind or "<none>"
    on = pod.owner_name or "<none>"
    ctl = "true" if pod.owner_kind else "<none>"
    base = [("container", "kube-state-metrics"), *_ksm_target(ctx, False)]
    out.series("kube_pod_owner", "kube_pod_owner",
               _lab([("namespace", pod.namespace), ("owner_is_controller", ctl), ("owner_kind", ok),
                     ("owner_name", on), ("pod", pod.pod), ("uid", pod.pod_uid), *base]), t, None)
    reqs: list[tuple[str, str, str, str, float]] = []
    for c in pod.containers:
        fam = ("kube_pod_init_container_resource_requests" if c.is_init
               else "kube_pod_container_resource_requests")
        if c.cpu_request is not None:
            reqs.append((fam, c.name, "cpu", "core", c.cpu_request))
        if c.mem_request is not None:
            reqs.append((fam, c.name, "memory", "byte", c.mem_request))
        if c.gpus:
            reqs.append((fam, c.name, "nvidia_com_gpu", "integer", float(c.gpus)))
    for name, cpu, mem in pod.init_requests:
        fam = "kube_pod_init_container_resource_requests"
        if cpu is not None:
            reqs.append((fam, name, "cpu", "core", cpu))
        if mem is not None:
            reqs.append((fam, name, "memory", "byte", mem))
    tgt = _ksm_target(ctx, False)
    for fam, cname, res, unit, val in reqs:
        labels = _lab([("container", cname), ("namespace", pod.namespace), ("node", pod.node), ("pod",
                                                                                                pod.pod),
                       ("resource", res), ("uid", pod.pod_uid), ("unit", unit), *tgt])
        out.series(fam, fam, labels, t, np.full(t.shape, val), "%.17g")


def _ksm_owners(out: _Out, ctx: _Ctx) -> None:
    tgt = [("container", "kube-state-metrics"), *_ksm_target(ctx, True)]
    for rs in ctx.cluster.replicasets:
        t = ctx.times("kube-state-metrics", "ksm", "*", rs.created_s, rs.deleted_s)
        out.series("kube_replicaset_owner", "kube_replicaset_owner",
                   _lab([("namespace", rs.namespace), ("owner_is_controller",
                                                       "true" if rs.owner_kind else "<none>"),
                         ("owner_kind", rs.owner_kind or "<none>"), ("owner_name", rs.owner_name or "<none>"),
                         ("replicaset", rs.name), *tgt]), t, None)
    for j in ctx.cluster.jobs:
        t = ctx.times("kube-state-metrics", "ksm", "*", j.created_s, j.deleted_s)
        out.series("kube_job_owner", "kube_job_owner",
                   _lab([("job_name", j.name), ("namespace", j.namespace),
                         ("owner_is_controller", "true" if j.owner_kind else "<none>"),
                         ("owner_kind", j.owner_kind or "<none>"), ("owner_name", j.owner_name or "<none>"),
                         *tgt]), t, None)


def _karpenter(out: _Out, ctx: _Ctx, pod: SimPod) -> None:
    cl = ctx.cluster
    tgt = [("container", "controller"), ("endpoint", "http-metrics"), ("instance", cl.karpenter_instance),
           ("job", "karpenter"), ("pod", cl.karpenter_pod), ("service", "karpenter")]
    common = [("instance_type", pod.instance_type), ("name", pod.pod), ("namespace", pod.namespace),
              ("node", pod.node), ("nodepool", pod.nodepool)]
    t = ctx.times("karpenter", "karpenter", "*", pod.start_s, pod.end_s)
    out.series("karpenter_pods_state", "karpenter_pods_state", _lab([*common, ("phase", "Running"), *tgt]),
               t, None)
    if pod.completed and pod.deleted_s > pod.end_s:
        ts = ctx.grid("karpenter", "karpenter", "*", pod.end_s, pod.deleted_s + 1e-9)
        out.series("karpenter_pods_state", "karpenter_pods_state",
                   _lab([*common, ("phase", "Succeeded"), *tgt]), ts, None)


def _cadvisor(out: _Out, ctx: _Ctx, pod: SimPod, cv: _Curves) -> None:
    """kubelet /metrics/cadvisor: containers, the pod cgroup (container="") and the pause sandbox ("POD")."""
    n = ctx.nodes[pod.node]
    tgt = [("endpoint", "https-metrics"), ("instance", f"{n.ip}:10250"), ("job", "kubelet"),
           ("metrics_path", "/metrics/cadvisor"), ("node", pod.node), ("service", "kubelet")]
    uid_ = pod.pod_uid.replace("-", "_")
    qos = pod.qos_class.lower()
    if qos == "guaranteed":
        pod_cg = f"/kubepods.slice/kubepods-pod{uid_}.slice"
    else:
        pod_cg = f"/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice"
    target = f"kubelet/{pod.node}"
    dev = [("device", "/dev/nvme0n1")]

    def emit(cname: str, image: str, name: str, cid_path: str, a: float, b: float, w_cpu: float, w_mem: float,
             w_io: float, pause: bool) -> None:
        t = ctx.times("kubelet", target, pod.node, a, b)
        ident = [("container", cname), ("id", cid_path), ("image", image), ("name", name),
                 ("namespace", pod.namespace), ("pod", pod.pod)]
        cpu = w_cpu * (cv.at("cpu", t) - cv.at("cpu", a))
        mem = w_mem * cv.mem_at(t)
        if pause:
            cpu = cpu + PAUSE_CORES * (t - a)
            mem = mem + PAUSE_MEM_BYTES
        out.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", _lab([*ident, *tgt]),
                   t,
                   np.maximum(cpu, 0.0), "%.4f")
        out.series("container_memory_working_set_bytes", "container_memory_working_set_bytes",
                   _lab([*ident, *tgt]), t, mem, "%.0f")
        for fam, key in (("container_fs_reads_bytes", "fs_r"), ("container_fs_writes_bytes", "fs_w")):
            v = w_io * (cv.at(key, t) - cv.at(key, a))
            out.series(fam, fam + "_total", _lab([*ident[:1], *dev, *ident[1:], *tgt]), t, np.maximum(v, 0.0),
                       "%.0f")

    for c in pod.containers:
        w_io = 1.0 if c.role == "app" else 0.0
        for cid, a, b in c.segments:
            emit(c.name, c.image, cid, f"{pod_cg}/cri-containerd-{cid}.scope", a, b, c.cpu_weight,
                 c.mem_weight,
                 w_io, False)
    emit("", "", "", pod_cg, pod.start_s, pod.end_s, 1.0, 1.0, 1.0, True)
    sid = pod.sandbox_id
    sandbox = f"{pod_cg}/cri-containerd-{sid}.scope"
    t = ctx.times("kubelet", target, pod.node, pod.start_s, pod.end_s)
    ident = [("container", "POD"), ("id", sandbox), ("image", "registry.k8s.io/pause:3.9"), ("name", sid),
             ("namespace", pod.namespace), ("pod", pod.pod)]
    out.series("container_cpu_usage_seconds", "container_cpu_usage_seconds_total", _lab([*ident, *tgt]), t,
               PAUSE_CORES * (t - pod.start_s), "%.4f")
    out.series("container_memory_working_set_bytes", "container_memory_working_set_bytes", _lab([*ident,
                                                                                                 *tgt]), t,
               np.full(t.shape, PAUSE_MEM_BYTES), "%.0f")
    for fam, key in (("container_network_receive_bytes", "rx"), ("container_network_transmit_bytes", "tx")):
        v = cv.at(key, t) - cv.at(key, pod.start_s)
        out.series(fam, fam + "_total", _lab([*ident, ("interface", "eth0"), *tgt]), t, np.maximum(v, 0.0),
                   "%.0f")


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------


def write_cluster(
    cluster: SimCluster,
    out_dir: Path,
    history: bool = True,
    scrape_s: int = 30,
    kepler_schemas: Sequence[str] = ("0.7", "0.10"),
) -> dict[str, Path]:
    """Write manifests.yaml, ground_truth.parquet and (when ``history``) history.om into ``out_dir``.

    Returns ``{"manifests": …, "ground_truth": …, "history": …}`` (no "history" key without it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"manifests": write_manifests(cluster, out_dir / "manifests.yaml")}
    gt = out_dir / "ground_truth.parquet"
    ground_truth_frame(cluster).to_parquet(gt, index=False)
    paths["ground_truth"] = gt
    if history:
        paths["history"] = write_openmetrics(cluster, out_dir / "history.om", scrape_s=scrape_s,
                                             kepler_schemas=kepler_schemas)
    return paths
