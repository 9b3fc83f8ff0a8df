"""Node power and how Kepler shares it among pods: the simulator's physical model.

Rule (sources in docs/simulator.md):

* **Node power** per Kepler sampling step (``step_s``): RAPL package power is linear in the node's CPU
  busy ratio ``u`` between Cloud Carbon Footprint's per-vCPU minimum and maximum (0.74 W and 3.5 W per vCPU,
  CCF's AWS averages from SPECpower results): ``P_pkg = vcpus * (0.74 + 2.76 * u)``, read with a 2 %
  per-step noise. DRAM power is CCF's
  0.392 W per GB of memory in use; GPUs draw ``idle + (max - idle) * utilisation`` each.
* **Usage, not requests**: ``u`` comes from the CPU time pods actually use (plus the node's own system
  processes), which the catalogue draws per family independently of requests.
* **Kepler <= 0.7** (v0.7.12, ``pkg/model/estimator/local/ratio.go``): dynamic power (node power minus its
  idle floor) is shared by CPU time (its fallback usage metric when hardware counters are missing, as on
  cloud VMs); DRAM by the same ratio; GPU dynamic power by GPU utilisation; idle power is split *evenly per
  process* seen in the interval, and is exported only when idle exposure is on (``kepler07_idle``).
* **Kepler >= 0.10** (v0.10.0, ``internal/monitor/node.go``, ``pod.go``): each zone's energy is split into
  active = energy * u and idle = the rest; pods share the *active* part by CPU time; idle is never given to
  pods.

Guarantees: per step, the pods' shares plus the system processes' share equal the node quantity exactly
(tested), and every pod quantity is the exact integral of piecewise-constant rates, which is also what every
simulated counter reports.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from app.simulate.model import NodePower, SimNode, SimPod

CCF_MIN_W_PER_VCPU = 0.74  # CCF AWS average min watts per vCPU (idle)
CCF_MAX_W_PER_VCPU = 3.5  # CCF AWS average max watts per vCPU (100 % busy)
CCF_W_PER_GB = 0.392  # CCF memory coefficient, watts per GB of memory in use
GPU_MODELS: dict[str, tuple[float, float]] = {"V100": (50.0, 300.0), "T4": (10.0, 70.0)}  # idle, max W
CORE_OF_PACKAGE = 0.85  # RAPL zone "core" as a share of "package"
UNCORE_OF_PACKAGE = 0.08  # zone "uncore" as a share of "package"
PSYS_FACTOR = 1.10  # zone "psys" (platform) = 1.10 x (package + dram)
SYSTEM_MEM_GB = 1.0  # kubelet, container runtime, OS caches in use outside pods
NOISE_SIGMA = 0.15  # per-pod lognormal spread of usage around the family's draw
RAPL_NOISE_SIGMA = 0.02  # per-step lognormal noise of a RAPL zone reading (what Kepler then shares out)
ENERGY_STEP_S = 60  # energy_step_j is joules per 60 s, whatever step_s is


def system_cores(vcpus: int) -> float:
    """CPU the node's own processes use (kubelet, containerd, kernel threads, the Kepler exporter)."""
    return 0.04 + 0.01 * vcpus


def system_procs(vcpus: int) -> int:
    """Processes outside pods that Kepler 0.7 counts when it splits idle power (per-CPU kernel threads too)."""
    return 60 + 4 * vcpus


@dataclass
class Usage:
    """A pod's piecewise-constant usage between knots (start, step boundaries inside its life, end)."""

    knots: np.ndarray
    cores: np.ndarray  # CPU cores used per interval (all containers)
    mem: np.ndarray  # working set per interval, bytes
    gutil: np.ndarray  # GPU utilisation per interval

    @property
    def dt(self) -> np.ndarray:
        return np.diff(self.knots)

    @property
    def mids(self) -> np.ndarray:
        return 0.5 * (self.knots[:-1] + self.knots[1:])


def _shape(profile: str, mids: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Mean-one-ish load shape over the pod's life (why: load varies, the truth stays exact)."""
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


def usage(pod: SimPod, origin: int, step_s: int) -> Usage:
    """Rebuild a pod's usage from its seed (cheap, so nothing big is kept in memory)."""
    s, e = pod.start_s, pod.end_s
    k0 = (s - origin) // step_s + 1
    k1 = -(-(e - origin) // step_s)
    grid = origin + step_s * np.arange(k0, k1, dtype=np.int64)
    grid = grid[(grid > s) & (grid < e)]
    knots = np.concatenate(([s], grid, [e])).astype(np.float64)
    n = len(knots) - 1
    mids = 0.5 * (knots[:-1] + knots[1:])
    rng = np.random.default_rng(pod.profile_seed)
    shape = _shape(pod.profile, mids, rng, n)
    load = max(pod.cores_mean - pod.cores_floor, 0.0)
    cores = pod.cores_floor + load * shape
    if pod.cpu_cap > 0:
        cores = np.minimum(cores, pod.cpu_cap)  # the CFS quota throttles a pod at its CPU limit
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
    return Usage(knots, cores, mem, gutil)


def node_power(node: SimNode, pods: Iterable[SimPod], origin: int, step_s: int) -> NodePower:
    """Measure one node step by step and derive Kepler's sharing factors (see the module rule)."""
    k0 = (node.start_s - origin) // step_s
    k1 = -(-(node.end_s - origin) // step_s)
    steps = origin + step_s * np.arange(k0, k1 + 1, dtype=np.float64)
    ov = np.clip(np.minimum(steps[1:], node.end_s) - np.maximum(steps[:-1], node.start_s), 0.0, None)
    n = len(ov)
    core_s, proc_s, mem_s = np.zeros(n), np.zeros(n), np.zeros(n)
    for p in pods:
        u = usage(p, origin, step_s)
        k = np.clip(np.floor((u.mids - origin) / step_s).astype(np.int64) - k0, 0, n - 1)
        dt = u.dt
        np.add.at(core_s, k, u.cores * dt)
        np.add.at(proc_s, k, p.procs * dt)
        np.add.at(mem_s, k, u.mem * dt)
    safe_ov = np.where(ov > 0, ov, 1.0)
    all_core_s = core_s + node.system_cores * ov  # CPU time of every process on the node
    all_proc_s = proc_s + node.system_procs * ov
    ratio = np.clip(all_core_s / (node.vcpus * safe_ov), 0.0, 1.0)
    rng = np.random.default_rng(zlib.crc32(node.name.encode()))  # node names are seeded: deterministic
    pkg = node.vcpus * (CCF_MIN_W_PER_VCPU + (CCF_MAX_W_PER_VCPU - CCF_MIN_W_PER_VCPU) * ratio)
    pkg = pkg * np.exp(rng.normal(0.0, RAPL_NOISE_SIGMA, n))
    dram = CCF_W_PER_GB * (mem_s / safe_ov / 1e9 + SYSTEM_MEM_GB) * np.exp(rng.normal(0.0, RAPL_NOISE_SIGMA, n))
    live = ov > 0
    pkg_idle = float(pkg[live].min()) if live.any() else 0.0  # Kepler 0.7: the minimum it observed
    dram_idle = float(dram[live].min()) if live.any() else 0.0
    gidle, _gmax = GPU_MODELS.get(node.gpu_model, (0.0, 0.0))
    gpu_idle = node.gpus * gidle
    per_core = np.where(all_core_s > 0, ov / np.where(all_core_s > 0, all_core_s, 1.0), 0.0)  # 1/cores
    per_proc = np.where(all_proc_s > 0, ov / np.where(all_proc_s > 0, all_proc_s, 1.0), 0.0)
    return NodePower(
        k0=int(k0), usage_ratio=ratio, pkg_w=pkg, dram_w=dram, gpu_idle_w=gpu_idle, pkg_idle_w=pkg_idle,
        dram_idle_w=dram_idle, pkg07_per_core=(pkg - pkg_idle) * per_core,
        dram07_per_core=(dram - dram_idle) * per_core, pkg_idle_per_proc=pkg_idle * per_proc,
        dram_idle_per_proc=dram_idle * per_proc, gpu_idle_per_proc=gpu_idle * per_proc,
        pkg10_per_core=pkg * ratio * per_core, dram10_per_core=dram * ratio * per_core,
        pod_cores=core_s / safe_ov, procs=all_proc_s / safe_ov,
    )


CUM_KEYS = ("cpu", "pkg07", "dram07", "pkg_idle", "dram_idle", "gpu_idle", "gpu_dyn", "pkg10", "dram10",
            "fs_r", "fs_w", "rx", "tx")


@dataclass
class Curves:
    """A pod's rates between knots and their exact running integrals (J, core-seconds, bytes)."""

    knots: np.ndarray
    cum: dict[str, np.ndarray]
    mem: np.ndarray

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


def curves(pod: SimPod, npw: NodePower, origin: int, step_s: int, idle07: bool) -> Curves:
    """What Kepler and cAdvisor report for one pod over its life, as running integrals."""
    u = usage(pod, origin, step_s)
    k = npw.index(u.mids, origin, step_s)
    dt = u.dt
    procs = float(pod.procs) if idle07 else 0.0
    io = u.cores / max(pod.cores_mean, 1e-9)
    rates = {
        "cpu": u.cores,
        "pkg07": npw.pkg07_per_core[k] * u.cores,
        "dram07": npw.dram07_per_core[k] * u.cores,
        "pkg_idle": npw.pkg_idle_per_proc[k] * procs,
        "dram_idle": npw.dram_idle_per_proc[k] * procs,
        "gpu_idle": npw.gpu_idle_per_proc[k] * procs,
        "gpu_dyn": pod.gpus * (pod.gpu_max_w - pod.gpu_idle_w) * u.gutil,
        "pkg10": npw.pkg10_per_core[k] * u.cores,
        "dram10": npw.dram10_per_core[k] * u.cores,
        "fs_r": pod.io_rates[0] * io,
        "fs_w": pod.io_rates[1] * io,
        "rx": pod.io_rates[2] * io,
        "tx": pod.io_rates[3] * io,
    }
    cum = {key: np.concatenate(([0.0], np.cumsum(v * dt))) for key, v in rates.items()}
    return Curves(u.knots, cum, u.mem)


def with_truth(pod: SimPod, npw: NodePower, origin: int, step_s: int, idle07: bool) -> SimPod:
    """The pod with its ground truth filled in from its curves (see `SimPod` for what each field equals)."""
    c = curves(pod, npw, origin, step_s, idle07)
    tot = {k: float(c.cum[k][-1]) for k in CUM_KEYS}
    d = float(pod.end_s - pod.start_s)
    idle = tot["pkg_idle"] + tot["dram_idle"] + tot["gpu_idle"]
    dyn = tot["pkg07"] + tot["dram07"] + tot["gpu_dyn"]
    total = idle + dyn
    mem_avg = float(np.sum(c.mem * np.diff(c.knots)) / d)
    return replace(
        pod,
        total_energy_j=total, avg_power_w=total / d, energy_dynamic_j=dyn, energy_idle_j=idle,
        energy_package_j=tot["pkg07"] + tot["pkg_idle"], energy_dram_j=tot["dram07"] + tot["dram_idle"],
        dram_idle_j=tot["dram_idle"],
        energy_gpu_j=tot["gpu_idle"] + tot["gpu_dyn"], package_dynamic_j=tot["pkg10"],
        package_idle_j=tot["pkg_idle"], dram_dynamic_j=tot["dram10"], gpu_dynamic_j=tot["gpu_dyn"],
        gpu_idle_j=tot["gpu_idle"], cpu_cores_used=tot["cpu"] / d, mem_bytes_used=mem_avg,
        fs_read_bytes_per_s=tot["fs_r"] / d, fs_write_bytes_per_s=tot["fs_w"] / d,
        net_rx_bytes_per_s=tot["rx"] / d, net_tx_bytes_per_s=tot["tx"] / d,
    )


NODE_KEYS = ("pkg", "pkg_idle07", "pkg_dyn07", "dram", "dram_idle07", "dram_dyn07", "pkg_active10",
             "dram_active10", "gpu_idle", "sys_pkg07", "sys_dram07", "sys_pkg_idle07", "sys_dram_idle07",
             "sys_gpu_idle07", "sys_pkg10", "sys_dram10")


def node_curves(node: SimNode, npw: NodePower, origin: int, step_s: int) -> Curves:
    """A node's own counters (what RAPL and Kepler's node metrics report) and the system processes' shares.

    ``sys_*`` are what Kepler gives the node's processes outside pods (its ``system_processes``), so that
    per step: sum over pods + system share = node quantity.
    """
    n = len(npw.pkg_w)
    steps = origin + step_s * np.arange(npw.k0, npw.k0 + n + 1, dtype=np.float64)
    knots = np.clip(steps, node.start_s, node.end_s)
    ov = np.diff(knots)
    sc, sp = node.system_cores, float(node.system_procs)
    rates = {
        "pkg": npw.pkg_w, "pkg_idle07": np.full(n, npw.pkg_idle_w), "pkg_dyn07": npw.pkg_w - npw.pkg_idle_w,
        "dram": npw.dram_w, "dram_idle07": np.full(n, npw.dram_idle_w), "dram_dyn07": npw.dram_w - npw.dram_idle_w,
        "pkg_active10": npw.pkg_w * npw.usage_ratio,
        "dram_active10": npw.dram_w * npw.usage_ratio, "gpu_idle": np.full(n, npw.gpu_idle_w),
        "sys_pkg07": npw.pkg07_per_core * sc, "sys_dram07": npw.dram07_per_core * sc,
        "sys_pkg_idle07": npw.pkg_idle_per_proc * sp, "sys_dram_idle07": npw.dram_idle_per_proc * sp,
        "sys_gpu_idle07": npw.gpu_idle_per_proc * sp,
        "sys_pkg10": npw.pkg10_per_core * sc, "sys_dram10": npw.dram10_per_core * sc,
    }
    cum = {k: np.concatenate(([0.0], np.cumsum(v * ov))) for k, v in rates.items()}
    return Curves(knots, cum, npw.usage_ratio)
