"""A seeded, deterministic demo Kubernetes cluster with exact per-pod Kepler ground truth.

Why this exists: k8sPodPCP learns per-pod power from workload specs, and nobody can hand a developer (or CI)
a real cluster with wall-plug truth. This package builds one in memory: the manifests users would apply, the
pods they become, and the Prometheus history Kepler (0.7 and 0.10+), kube-state-metrics, Karpenter and cAdvisor
would have recorded, with what Kepler reports for every pod known exactly. Power follows *usage* (CPU time),
shared out the way Kepler does (`app.simulate.power`), not requests. Same arguments, same bytes.

Rule: the simulator imports nothing from the rest of ``app`` (it is the independent ground truth the code is
tested against). Details and sources: docs/simulator.md.
"""

from app.simulate.catalogue import INSTANCE_TYPES, SIDECARS, Family
from app.simulate.families import COVERAGE, FAMILIES
from app.simulate.ground_truth import GROUND_TRUTH_COLUMNS, ground_truth_frame, node_truth_frame
from app.simulate.io import HISTORY_GROUPS, write_cluster, write_manifests, write_openmetrics
from app.simulate.model import (
    ExporterRestart,
    NodePower,
    ScrapeGap,
    SimCluster,
    SimContainer,
    SimNode,
    SimOwner,
    SimPod,
    SimRollout,
)
from app.simulate.power import (
    CCF_MAX_W_PER_VCPU,
    CCF_MIN_W_PER_VCPU,
    CCF_W_PER_GB,
    GPU_MODELS,
    NOISE_SIGMA,
)
from app.simulate.run import choose_families, simulate_cluster
from app.simulate.schema import KEPLER_SCHEMAS, KEPLER_ZONES
from app.simulate.util import parse_quantity

ARCHETYPES = FAMILIES  # the old name of the catalogue
Archetype = Family

__all__ = [
    "ARCHETYPES", "CCF_MAX_W_PER_VCPU", "CCF_MIN_W_PER_VCPU", "CCF_W_PER_GB", "COVERAGE", "FAMILIES", "GPU_MODELS",
    "GROUND_TRUTH_COLUMNS", "HISTORY_GROUPS", "INSTANCE_TYPES", "KEPLER_SCHEMAS", "KEPLER_ZONES", "NOISE_SIGMA",
    "SIDECARS", "Archetype", "ExporterRestart", "Family", "NodePower", "ScrapeGap", "SimCluster", "SimContainer",
    "SimNode", "SimOwner", "SimPod", "SimRollout", "choose_families", "ground_truth_frame", "node_truth_frame",
    "parse_quantity", "simulate_cluster", "write_cluster", "write_manifests", "write_openmetrics",
]
