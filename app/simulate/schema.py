"""The Kepler schemas the simulator writes: the names come from `app.core.kepler`; the simulator's own choices are here.

Rule: names, labels, zones and modes follow the Kepler releases the simulator imitates and are declared once,
with their sources, in `app.core.kepler` (the table the label builder reads too; it is facts about an external
format, not logic under test, so the simulator may import it — see pyproject.toml). Schema "0.7" is Kepler
<= 0.7 (v0.7.12), schema "0.10" the 2025 rewrite (v0.10.0). What is specific to the simulated cluster stays
here: how long a terminated pod's series linger, the container runtime, and the RAPL sysfs paths.
"""

from __future__ import annotations

from app.core.kepler import COMPONENTS_07, MODES_07, SCHEMAS, ZONES

KEPLER_SCHEMAS = SCHEMAS
KEPLER_ZONES = ZONES  # RAPL zones of schema 0.10; they overlap
KEPLER07_MODES = MODES_07
KEPLER07_COMPONENTS = COMPONENTS_07  # kepler_container_<component>_joules_total
KEPLER_TERMINATED_RETENTION_S = 1800  # how long Kepler >= 0.10 keeps a terminated pod's series
KEPLER_RUNTIME = "containerd"
RAPL_PATHS = {  # the sysfs path schema 0.10 puts in kepler_node_cpu_*{path=…}
    "package": "/sys/class/powercap/intel-rapl/intel-rapl:0",
    "core": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:0",
    "uncore": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:1",
    "dram": "/sys/class/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2",
    "psys": "/sys/class/powercap/intel-rapl/intel-rapl:1",
}
