"""The Kepler metric schemas the simulator writes: the one place their names, labels and zones are declared.

Rule: names follow the Kepler releases they imitate (sources in docs/simulator.md): schema "0.7" is Kepler
<= 0.7 (v0.7.12: ``kepler_container_*_joules_total`` with ``mode`` dynamic/idle, node counters
``kepler_node_*_joules_total``); schema "0.10" is the 2025 rewrite (v0.10.0: ``kepler_pod_cpu_joules_total``,
``kepler_container_cpu_joules_total`` and ``kepler_node_cpu_*`` with a ``zone`` label; pods get active
energy only, idle stays with the node).
"""

from __future__ import annotations

KEPLER_SCHEMAS = ("0.7", "0.10")
KEPLER_ZONES = ("package", "core", "uncore", "dram", "psys")  # RAPL zones of schema 0.10; they overlap
KEPLER07_MODES = ("dynamic", "idle")
KEPLER07_COMPONENTS = ("package", "dram", "other", "gpu")  # kepler_container_<component>_joules_total
KEPLER_TERMINATED_RETENTION_S = 1800  # how long Kepler >= 0.10 keeps a terminated pod's series
KEPLER_RUNTIME = "containerd"
RAPL_PATHS = {  # the sysfs path schema 0.10 puts in kepler_node_cpu_*{path=…}
    "package": "/sys/class/powercap/intel-rapl/intel-rapl:0",
    "core": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0",
    "uncore": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:1",
    "dram": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2",
    "psys": "/sys/class/powercap/intel-rapl/intel-rapl:1",
}
