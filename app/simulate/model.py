"""The simulator's public records: containers, pods, nodes, owners, events and the cluster that holds them.

Rule: every record is plain data (frozen where it can be), built once by `simulate_cluster` and never
mutated, so the writers (manifests, OpenMetrics, ground truth) can run in any order and give the same bytes.
Energies are joules over a pod's life; which Kepler quantity each field equals is documented on `SimPod`
and in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SimContainer:
    """One container of a pod (app, sidecar or native sidecar) and how the pod's usage is split onto it.

    ``segments`` lists ``(container_id, start_s, end_s)``: a container restart ends one segment
    and starts a new one with a new id, so per-container counters start again at 0.
    Kepler attributes energy to a container by its CPU time, so ``cpu_weight`` (the container's share of
    the pod's CPU time) is also its share of the pod's dynamic energy; ``procs`` is its share of the
    Kepler 0.7 idle split, which goes per process.
    """

    name: str
    image: str
    role: str  # "app" | "sidecar" | "native-sidecar"
    is_init: bool  # native sidecars live in spec.initContainers
    cpu_weight: float  # share of the pod's CPU time (sums to 1 over containers)
    mem_weight: float  # share of the pod's working set (sums to 1)
    gpus: int
    cpu_request: float | None  # cores, after defaulting request := limit; None if unset
    mem_request: float | None  # bytes, same defaulting
    segments: tuple[tuple[str, int, int], ...]
    procs: int = 1  # processes Kepler sees in this container


@dataclass(frozen=True)
class SimPod:
    """One pod's life, what it used, and what Kepler reports for it.

    Workload identity is the *top* controller (Deployment, not ReplicaSet; CronJob, not Job;
    ``Pod`` + pod name for bare pods). ``owner_kind``/``owner_name`` are the *direct* owner as
    kube-state-metrics' ``kube_pod_owner`` reports it ('' for bare pods). ``end_s`` is clipped to the
    window end for pods still running then.

    Ground truth (joules over ``[start_s, end_s]``):

    * Kepler <= 0.7 (``kepler_container_*_joules_total``): ``total_energy_j = energy_dynamic_j +
      energy_idle_j = energy_package_j + energy_dram_j + energy_gpu_j``; ``package_idle_j``/``dram_idle_j``/
      ``gpu_idle_j`` are the idle parts (0 unless the cluster exposes 0.7 idle power), ``gpu_dynamic_j`` the
      GPU dynamic part.
    * Kepler >= 0.10 (``kepler_pod_cpu_joules_total``, active energy only): ``package_dynamic_j`` (zone
      ``package``) and ``dram_dynamic_j`` (zone ``dram``).
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
    archetype: str = ""  # the software family (catalogue key)
    qos_class: str = ""
    completed: bool = False  # ran to completion inside the window (Job/CronJob pods, run-once bare pods)
    deleted_s: int = 0  # when the pod object disappears (>= end_s; completed pods linger)
    sandbox_id: str = ""
    containers: tuple[SimContainer, ...] = ()
    init_requests: tuple[tuple[str, float | None, float | None], ...] = ()  # plain init containers
    # what the pod does (usage, not requests, drives power)
    vcpus: float = 0.0  # effective CPU request as the scheduler computes it (0 when nothing is set)
    mem_gb: float = 0.0  # typical working set, GB
    gpus: int = 0
    gpu_model: str = ""
    gpu_idle_w: float = 0.0
    gpu_max_w: float = 0.0
    cores_mean: float = 0.0  # CPU cores used at mean load (all containers)
    cores_floor: float = 0.0  # cores used with no traffic (runtime overheads)
    cpu_cap: float = 0.0  # CPU limit of the pod (cores) when every container has one, else 0
    gpu_util_mean: float = 0.0
    profile: str = "flat"
    warmup: bool = False
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
    dram_idle_j: float = 0.0
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

    @property
    def procs(self) -> int:
        return sum(c.procs for c in self.containers)


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
    system_cores: float = 0.0  # kubelet, container runtime, kernel threads: CPU Kepler gives no pod
    system_procs: int = 0  # processes outside pods that Kepler 0.7 counts in its idle split


@dataclass(frozen=True)
class NodePower:
    """One node's measured power per Kepler sampling step and how Kepler shares it out.

    Arrays are indexed by the global step ``k`` (``[origin + k*step_s, origin + (k+1)*step_s)``), over the
    steps ``k0 .. k0+len-1`` the node lives in. ``*_per_core`` are watts per CPU core used in that step
    (Kepler shares dynamic/active power by CPU time); ``idle_per_proc`` is watts per process (Kepler 0.7
    splits idle power evenly over the processes it saw). Node totals are in watts.
    """

    k0: int
    usage_ratio: np.ndarray  # node CPU busy ratio (what /proc/stat gives Kepler >= 0.10)
    pkg_w: np.ndarray  # RAPL package power
    dram_w: np.ndarray  # RAPL dram power
    gpu_idle_w: float  # GPU idle power (all GPUs of the node)
    pkg_idle_w: float  # Kepler 0.7's package idle: the lowest package power it observed on the node
    dram_idle_w: float  # Kepler 0.7's dram idle: the lowest dram power it observed
    pkg07_per_core: np.ndarray  # Kepler 0.7 package dynamic (power above its idle), W per core
    dram07_per_core: np.ndarray  # Kepler 0.7 dram dynamic, W per core
    pkg_idle_per_proc: np.ndarray  # Kepler 0.7 package idle, W per process
    dram_idle_per_proc: np.ndarray  # Kepler 0.7 dram idle, W per process
    gpu_idle_per_proc: np.ndarray  # Kepler 0.7 GPU idle, W per process
    pkg10_per_core: np.ndarray  # Kepler >= 0.10 package active, W per core
    dram10_per_core: np.ndarray  # Kepler >= 0.10 dram active, W per core
    pod_cores: np.ndarray  # CPU core-seconds of pods per step / step_s
    procs: np.ndarray  # processes seen per step (system + pods, time-weighted)

    def index(self, t: np.ndarray, origin: int, step_s: int) -> np.ndarray:
        """Step index (into these arrays) of instants ``t`` (interval midpoints)."""
        k = np.floor((t - origin) / step_s).astype(np.int64) - self.k0
        return np.clip(k, 0, len(self.pkg_w) - 1)


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
    node_power: dict[str, NodePower] = field(default_factory=dict)
    kepler07_idle: bool = False  # does Kepler 0.7 expose idle power (RAPL present) or report it as 0
    families: tuple[str, ...] = ()  # the software families this cluster was drawn from

    def node(self, name: str) -> SimNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)
