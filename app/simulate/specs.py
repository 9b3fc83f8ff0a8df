"""Workload manifests as real clusters hold them, and what the simulator reads back from them.

Rule: the simulator writes each manifest first and then derives every model input (effective CPU request,
QoS class, GPUs, instance-type pins) from that manifest with Kubernetes' own rules, so the ground truth is a
function of what the spec says plus the family's usage, never of hidden choices. Realism follows public
charts: images as registries name them (``registry/org/name:tag``, sometimes ``@sha256:`` pinned), Helm chart
boilerplate labels shared by every workload of a release, mesh sidecars injected namespace-wide, memory limits
without CPU requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.simulate.catalogue import (
    GENERAL_TYPES,
    INITS,
    MESH_RESOURCES,
    MESH_SIDECAR,
    SIDECARS,
    STYLE_WEIGHTS,
    STYLES,
    Family,
)
from app.simulate.families import COVERAGE, FAMILIES
from app.simulate.util import fmt_cpu, fmt_mem, parse_quantity, pin_digest


@dataclass(frozen=True)
class CInfo:
    """One container as its spec declares it (requests after Kubernetes' request := limit defaulting)."""

    name: str
    image: str
    role: str  # app | sidecar | native-sidecar | init
    is_init: bool
    cores: float  # effective CPU request (request, else limit, else 0)
    cpu_request: float | None
    cpu_limit: float | None
    mem_request: float | None
    mem_ws: float  # typical working set, bytes
    gpus: int


@dataclass(frozen=True)
class SpecInfo:
    """What the scheduler and Kepler need from a pod spec."""

    vcpus: float  # effective CPU request of the pod (0 when nothing is set)
    mem_gb: float
    gpus: int
    qos: str
    running: tuple[CInfo, ...]  # app + sidecars + native sidecars
    plain_inits: tuple[CInfo, ...]
    allowed_types: tuple[str, ...]

    @property
    def cpu_cap(self) -> float:
        """The pod's CPU limit when every running container has one (CFS quota caps usage), else 0."""
        limits = [c.cpu_limit for c in self.running]
        return float(sum(limits)) if limits and all(x is not None for x in limits) else 0.0  # type: ignore[misc]


def _res(c: dict[str, Any], kind: str, key: str) -> float | None:
    v = (c.get("resources") or {}).get(kind, {}) or {}
    return parse_quantity(v[key]) if key in v else None


def analyse_pod_spec(spec: dict[str, Any], fam: Family) -> SpecInfo:
    """Derive the scheduler's view of a pod spec, following Kubernetes' own rules.

    Why here: this is the single place the simulator reads resources, from the manifest it wrote.
    """

    def cinfo(c: dict[str, Any], role: str, is_init: bool) -> CInfo:
        req_cpu = _res(c, "requests", "cpu")
        lim_cpu = _res(c, "limits", "cpu")
        req_mem = _res(c, "requests", "memory")
        lim_mem = _res(c, "limits", "memory")
        cpu_req = req_cpu if req_cpu is not None else lim_cpu
        mem_req = req_mem if req_mem is not None else lim_mem
        gpus = int(_res(c, "limits", "nvidia.com/gpu") or 0)
        if role == "app":
            ws = fam.mem_gb * 1e9
        elif role == "init":
            ws = 0.05e9
        else:
            ws = SIDECARS[c["name"]].mem_gb * 1e9
        if lim_mem is not None:
            ws = min(ws, 0.9 * lim_mem)
        return CInfo(c["name"], c["image"], role, is_init, cpu_req or 0.0, cpu_req, lim_cpu, mem_req, ws, gpus)

    running: list[CInfo] = []
    for i, c in enumerate(spec.get("containers", [])):
        running.append(cinfo(c, "app" if i == 0 else "sidecar", False))
    plain: list[CInfo] = []
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
    return SpecInfo(vcpus, mem_gb, sum(c.gpus for c in running), qos, tuple(running), tuple(plain), allowed)


# --------------------------------------------------------------------------------------------
# Workload planning (manifests)
# --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """One workload: its manifest, its pod template and what the scheduler reads from it."""

    arch: Family
    namespace: str
    name: str
    kind: str
    manifest: dict[str, Any]
    pod_spec: dict[str, Any]
    image: str
    old_image: str
    info: SpecInfo
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
    c, m = fmt_cpu(cpu, rng), fmt_mem(mem_mib, rng)
    if style == "mem_limit_only":
        return {"limits": {"memory": fmt_mem(mem_mib * 1.5, rng)}}
    if style == "limits_only":
        return {"limits": {"cpu": c, "memory": m}}
    if style == "requests_only":
        return {"requests": {"cpu": c, "memory": m}}
    if style == "cpu_request_only":
        return {"requests": {"cpu": c}}
    if style == "guaranteed":
        return {"requests": {"cpu": c, "memory": m}, "limits": {"cpu": c, "memory": m}}
    limits: dict[str, Any] = {"memory": fmt_mem(mem_mib * 2, rng)}
    if rng.random() < 0.5:
        limits["cpu"] = fmt_cpu(cpu * 2, rng)
    return {"requests": {"cpu": c, "memory": m}, "limits": limits}


def _chart_version(chart: str) -> str:
    """The version part of a ``name-1.2.3`` chart reference."""
    m = re.search(r"-(\d[\w.+-]*)$", chart)
    return m.group(1) if m else ""


def _labels(fam: Family, name: str, version: str) -> dict[str, str]:
    """Recommended labels as Helm charts render them.

    A workload of an umbrella release (``fam.release``) carries the release's boilerplate: the same
    ``helm.sh/chart``, ``instance``, ``part-of`` and ``version`` (the chart's, not the image's) as every
    other workload of that release, so only its name, image and command tell it apart.
    """
    if fam.release:
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": fam.release,
                  "app.kubernetes.io/component": name if fam.release != "kube-prometheus-stack" else fam.component}
        version = _chart_version(fam.chart) or version
    else:
        labels = {"app.kubernetes.io/name": fam.container if fam.kind != "Pod" else name,
                  "app.kubernetes.io/instance": name, "app.kubernetes.io/component": fam.component}
    if fam.part_of:
        labels["app.kubernetes.io/part-of"] = fam.part_of
    if fam.chart:
        labels["app.kubernetes.io/managed-by"] = "Helm"
        labels["helm.sh/chart"] = fam.chart
    labels["app.kubernetes.io/version"] = re.sub(r"[^A-Za-z0-9._-]", "-", version)[:63]
    return labels


def _selector(fam: Family, name: str) -> dict[str, str]:
    if fam.release:
        return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": fam.release}
    return {"app.kubernetes.io/name": fam.container if fam.kind != "Pod" else name,
            "app.kubernetes.io/instance": name}


def _build_pod_spec(
    arch: Family, name: str, namespace: str, image: str, rng: np.random.Generator, *,
    overhead: bool, extra: list[dict[str, Any]], mesh: bool = False,
) -> dict[str, Any]:
    """A pod spec in the style of the family, with the field's resource habits.

    ``mesh``: the namespace is labelled for sidecar injection, so the pod carries the mesh proxy with the
    injector's default resources whatever the app's own spec says.
    """
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
    styles = arch.styles or STYLES
    weights = np.array([STYLE_WEIGHTS[STYLES.index(s)] for s in styles])
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
        iimage, icmd = INITS[iname]
        init: dict[str, Any] = {
            "name": iname,
            "image": image if iimage == "{app}" else iimage,
            "command": [s.format(db="orders-db.data", name=name) for s in icmd],
        }
        r = rng.random()
        if r < 0.35:  # heavier than the app: migrations, downloads
            heavy = min(max(2.0, cpu * 1.5), max(cpu, 6.0))  # still fits the node it needs
            init["resources"] = {"requests": {"cpu": fmt_cpu(heavy, rng),
                                              "memory": fmt_mem(2048, rng)}}
        elif r < 0.7:
            init["resources"] = {"requests": {"cpu": fmt_cpu(0.1, rng), "memory": fmt_mem(64, rng)}}
        inits.append(init)

    if arch.sidecars and rng.random() < arch.sidecar_prob:
        picks = [arch.sidecars[int(i)] for i in rng.permutation(len(arch.sidecars))]
        for sname in picks[: 1 + int(rng.random() < 0.25)]:
            sk = SIDECARS[sname]
            side: dict[str, Any] = {"name": sk.name, "image": sk.image, "args": list(sk.args)}
            if rng.random() < 0.65:
                side["resources"] = {"requests": {"cpu": fmt_cpu(sk.cpu_request, rng),
                                                  "memory": fmt_mem(sk.mem_request_mib, rng)}}
                if rng.random() < 0.5:
                    side["resources"]["limits"] = {"memory": fmt_mem(sk.mem_request_mib * 2, rng)}
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

    if mesh and arch.kind in ("Deployment", "StatefulSet"):
        sk = SIDECARS[MESH_SIDECAR]
        containers.append({"name": sk.name, "image": sk.image, "args": list(sk.args),
                           "resources": {k: dict(v) for k, v in MESH_RESOURCES.items()}})
    if overhead:
        spec["runtimeClassName"] = "kata-qemu"
        spec["overhead"] = {"cpu": "250m", "memory": "160Mi"}
    if not gpus and arch.kind != "DaemonSet" and rng.random() < 0.12:
        if arch.kind == "StatefulSet":
            values = ["r5.2xlarge", "m5.4xlarge"]
        else:
            values = sorted({str(rng.choice(GENERAL_TYPES[:4])), str(rng.choice(GENERAL_TYPES[:4]))})
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


def plan_workloads(
    rng: np.random.Generator, n_workloads: int, start_s: int, end_s: int, families: tuple[str, ...],
    mesh: frozenset[str] = frozenset(),
) -> list[Plan]:
    """Choose families and names, and write each workload's manifest.

    ``families`` are the catalogue keys this cluster draws from (the first of each in `COVERAGE` order, then
    by weight); ``mesh`` names the namespaces labelled for mesh sidecar injection.
    """
    order = [k for k in COVERAGE if k in families]
    keys = order[: min(n_workloads, len(order))]
    pool = [k for k in order if FAMILIES[k].weight > 0] or order
    w = np.array([FAMILIES[k].weight or 1.0 for k in pool])
    if n_workloads > len(keys):
        keys += [str(k) for k in rng.choice(pool, size=n_workloads - len(keys), p=w / w.sum())]
    used: set[tuple[str, str]] = set()
    overhead_budget = 2
    plans: list[Plan] = []
    for key in keys:
        arch = FAMILIES[key]
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
        if rng.random() < 0.3:
            image = pin_digest(image, rng)
            old_image = pin_digest(old_image, rng) if rollout else image
        overhead = (overhead_budget > 0 and arch.kind in ("Deployment", "Pod") and not arch.gpu_options
                    and (rng.random() < 0.05 or (key == "debug" and overhead_budget == 2)))
        overhead_budget -= int(overhead)
        extra: list[dict[str, Any]] = []
        pod_spec = _build_pod_spec(arch, name, ns, image, rng, overhead=overhead, extra=extra, mesh=ns in mesh)
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
        info = analyse_pod_spec(pod_spec, arch)
        plans.append(Plan(arch, ns, name, kind, man, pod_spec, image, old_image, info, replicas, extra,
                           schedule, ttl, rollout, overhead))
    # guarantee a rollout (the event the label builder must handle) when the window allows one
    deployments = [p for p in plans if p.kind == "Deployment"]
    if end_s - start_s >= 3600 and deployments and not any(p.rollout for p in deployments):
        p = deployments[0]
        p.rollout = True
        other = [v for v in p.arch.versions if p.arch.image.format(v=v, name=p.name) != p.image]
        p.old_image = p.arch.image.format(v=other[0], name=p.name) if other else pin_digest(p.image, rng)
    return plans

