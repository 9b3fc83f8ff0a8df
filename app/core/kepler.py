"""Kepler's exposition format, as one table of facts: schema versions, and per schema the metric family
names, label names, zones, modes and components.

Rule: every module that reads or writes Kepler series spells its names through this table: the label
builder (`app/energy_labels/kepler.py`, `check.py`, `build.py`) builds its PromQL from it and the
simulator (`app/simulate/schema.py`, `app/simulate/exporters/kepler.py`) writes its series with it, so a
renamed metric or label is one edit here. Family names are OpenMetrics families (no `_total`); counter
samples carry `total(family)`. The module holds facts about an external format, not logic under test;
that is why the simulator, which imports nothing else of `app`, may import it (pyproject.toml). The names
are checked independently of this table by tests/labels/test_edges.py (series hand-written in both
formats) and tests/k8s/test_dashboard.py (the dashboard's own queries over hand-written series).

Sources (see docs/simulator.md): Kepler v0.7.12 `docs/design/metrics.md` (schema "0.7":
`kepler_container_*_joules_total` per container with `mode` dynamic/idle, node counters
`kepler_node_*_joules_total`); Kepler v0.10.0 `docs/metrics/metrics.md` (schema "0.10", the 2025 rewrite:
`kepler_pod_cpu_joules_total`, `kepler_container_cpu_joules_total`, `kepler_node_cpu_*` per RAPL `zone`,
pods get active energy only, a finished pod's series linger with `state="terminated"`).
"""

from __future__ import annotations

SCHEMA_07 = "0.7"
SCHEMA_010 = "0.10"
SCHEMAS = (SCHEMA_07, SCHEMA_010)
PREFIX = "kepler_"  # every Kepler family starts with it (a `__name__=~"kepler_.*"` listing finds them all)


def total(family: str) -> str:
    """The sample name of a counter family: OpenMetrics counters end in `_total`."""
    return family + "_total"


# --- schema 0.7 (Kepler <= 0.7): per container, by mode ----------------------------------------------
DYNAMIC, IDLE = MODES_07 = ("dynamic", "idle")  # the modes of one container reset together and are summed
CONTAINER_07 = {  # energy families per container: the sum of all components, then each component
    "total": "kepler_container_joules",
    "package": "kepler_container_package_joules",
    "dram": "kepler_container_dram_joules",
    "other": "kepler_container_other_joules",
    "gpu": "kepler_container_gpu_joules",
}
COMPONENTS_07 = tuple(c for c in CONTAINER_07 if c != "total")  # package, dram, other, gpu
NODE_07 = {"package": "kepler_node_package_joules", "dram": "kepler_node_dram_joules"}
# labels of schema 0.7
NAMESPACE_07 = "container_namespace"
POD_07 = "pod_name"
CONTAINER_ID = "container_id"  # both schemas
CONTAINER_NAME = "container_name"  # both schemas
MODE_07 = "mode"
NODE_PACKAGE_07 = "package"  # node counters: RAPL package index
NODE_SOURCE_07 = "source"  # node counters: the power meter, e.g. rapl-sysfs

# --- schema 0.10 (Kepler >= 0.10): per pod and container, by zone, active energy only --------------
ZONES = ("package", "core", "uncore", "dram", "psys")  # RAPL zones; they overlap and are never summed
STATE_RUNNING = "running"
STATE_TERMINATED = "terminated"  # a finished pod's last value, kept for a while
POD_JOULES_010 = "kepler_pod_cpu_joules"
POD_WATTS_010 = "kepler_pod_cpu_watts"
CONTAINER_JOULES_010 = "kepler_container_cpu_joules"
NODE_JOULES_010 = "kepler_node_cpu_joules"
NODE_ACTIVE_JOULES_010 = "kepler_node_cpu_active_joules"
NODE_IDLE_JOULES_010 = "kepler_node_cpu_idle_joules"
NODE_USAGE_RATIO_010 = "kepler_node_cpu_usage_ratio"
# labels of schema 0.10
NAMESPACE_010 = "pod_namespace"
POD_010 = "pod_name"
POD_ID_010 = "pod_id"
NODE_010 = "node_name"
STATE_010 = "state"
ZONE_010 = "zone"
RUNTIME_010 = "runtime"  # container counters: the container runtime
PATH_010 = "path"  # node counters: the RAPL zone's sysfs path

# The counter whose presence identifies each schema (`labels --check`, schema auto-detection).
ENERGY_SERIES = {SCHEMA_010: total(POD_JOULES_010), SCHEMA_07: total(CONTAINER_07["total"])}
