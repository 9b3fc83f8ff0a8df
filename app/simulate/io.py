"""Writers: manifests as YAML, the Prometheus history as OpenMetrics, and everything at once.

Rule: the history streams each pod's series into per-family spool files (next to the output) and
concatenates them at the end, so each family is contiguous (OpenMetrics' rule) and memory stays flat at
any cluster size. Same cluster, same bytes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from app.simulate.exporters import cadvisor, karpenter, kepler, ksm
from app.simulate.exporters.base import Ctx, Out
from app.simulate.ground_truth import ground_truth_frame
from app.simulate.model import SimCluster
from app.simulate.power import curves, node_curves
from app.simulate.schema import KEPLER_SCHEMAS

FAMILIES = (*kepler.FAMILIES, *ksm.FAMILIES, *karpenter.FAMILIES, *cadvisor.FAMILIES)
HISTORY_GROUPS = ("kepler", "ksm", "karpenter", "cadvisor")


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


def write_openmetrics(
    cluster: SimCluster,
    path: Path,
    scrape_s: int = 30,
    kepler_schemas: Sequence[str] = KEPLER_SCHEMAS,
    groups: Sequence[str] = HISTORY_GROUPS,
) -> Path:
    """Write the Prometheus history as OpenMetrics for ``promtool tsdb create-blocks-from openmetrics``.

    ``kepler_schemas`` picks Kepler <= 0.7 (``"0.7"``) and/or >= 0.10 (``"0.10"``) series;
    ``groups`` picks exporters among kepler, ksm, karpenter, cadvisor.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if scrape_s <= 1:
        raise ValueError("scrape_s must be > 1 s")
    unknown = set(kepler_schemas) - set(KEPLER_SCHEMAS)
    if unknown:
        raise ValueError(f"unknown Kepler schema(s) {sorted(unknown)}; use '0.7' and/or '0.10'")
    unknown = set(groups) - set(HISTORY_GROUPS)
    if unknown:
        raise ValueError(f"unknown group(s) {sorted(unknown)}; choose from {HISTORY_GROUPS}")
    schemas = tuple(s for s in KEPLER_SCHEMAS if s in kepler_schemas and "kepler" in groups)
    wanted = [name for name, _t, _h, grp in FAMILIES if grp in schemas or grp in groups]
    resets: dict[str, list[float]] = {}
    for r in cluster.exporter_restarts:
        resets.setdefault(r.node, []).append(float(r.time_s))
    ctx = Ctx(cluster, scrape_s, {n.name: n for n in cluster.nodes},
              {k: np.array(sorted(v)) for k, v in resets.items()}, list(cluster.scrape_gaps))
    origin, step = cluster.start_s, cluster.step_s
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".om-") as td:
        out = Out(Path(td), wanted)
        try:
            if schemas:
                for n in cluster.nodes:
                    kepler.kepler_node(out, ctx, n, node_curves(n, cluster.node_power[n.name], origin, step),
                                       schemas)
            for pod in cluster.pods:
                cv = curves(pod, cluster.node_power[pod.node], origin, step, cluster.kepler07_idle)
                if "0.7" in schemas:
                    kepler.kepler07(out, ctx, pod, cv)
                if "0.10" in schemas:
                    kepler.kepler010(out, ctx, pod, cv)
                if "ksm" in groups:
                    ksm.ksm_pod(out, ctx, pod)
                if "karpenter" in groups:
                    karpenter.karpenter(out, ctx, pod)
                if "cadvisor" in groups:
                    cadvisor.cadvisor(out, ctx, pod, cv)
            if "ksm" in groups:
                ksm.ksm_owners(out, ctx)
        finally:
            out.close()
        tmp_final = Path(td) / "final.om"
        with open(tmp_final, "wb", buffering=1 << 20) as fh:
            for name, typ, help_, _g in FAMILIES:
                if name not in out.counts or out.counts[name] == 0:
                    continue
                fh.write(f"# HELP {name} {help_}\n# TYPE {name} {typ}\n".encode())
                with open(out.paths[name], "rb") as part:
                    shutil.copyfileobj(part, fh, 1 << 22)
                out.paths[name].unlink()
            fh.write(b"# EOF\n")
        os.replace(tmp_final, path)
    return path


def write_cluster(
    cluster: SimCluster,
    out_dir: Path,
    history: bool = True,
    scrape_s: int = 30,
    kepler_schemas: Sequence[str] = KEPLER_SCHEMAS,
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
