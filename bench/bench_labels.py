"""Label builder at scale: 1,000 pods × 7 days at a 60 s step from a real Prometheus.

Worst case on purpose: every pod lives the whole week, so every energy series has 10,080 grid points.
Only the series the builder reads are generated (Kepler ≥ 0.10 `kepler_pod_cpu_joules_total`
zone=package, `kube_pod_owner`, `kube_replicaset_owner`), at a coarse scrape interval (240 s energy,
1200 s owners) so the TSDB builds in well under a minute; the step stays 60 s.

    python bench/bench_labels.py [--pods 1000] [--days 7] [--workdir /tmp/bench-labels]

Prints wall time and peak RSS of `build_labels` (job mode), each measured in a fresh subprocess, next
to a baseline measured in the same run: `PromClient.query_range` of the same expression, which
holds every sample in Python lists. Target: < 60 s and < 1 GiB on 2 cores. Also checks accuracy
against the known per-pod energy.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

START = 1_767_225_600
SAFE = "bcdfghjklmnpqrstvwxz2456789"
TARGET = ('container="kepler-exporter",endpoint="http",instance="{node}",job="kepler-exporter",namespace="kepler",'
          'pod="kepler-exporter-{node}",service="kepler-exporter"')
KSM = 'container="kube-state-metrics",endpoint="http",instance="10.0.0.23:8080",job="kube-state-metrics"'


def _name(rng: np.random.Generator, n: int) -> str:
    return "".join(SAFE[i] for i in rng.integers(0, len(SAFE), n))


def write_history(work: Path, pods: int, days: float, scrape_e: int = 240, scrape_o: int = 1200) -> dict:
    """OpenMetrics for `pods` week-long pods in `pods // 10` Deployments, one file per day.

    One file per day because promtool reads its whole input once per 2-hour block: seven small
    files (converted two at a time) build ~7× faster than one big one. Returns the exact energies.
    """
    rng = np.random.default_rng(1)
    end = START + int(days * 86400)
    deployments = [(f"ns{i % 5}", f"svc-{i:03d}", f"svc-{i:03d}-{_name(rng, 10)}") for i in range(max(1, pods // 10))]
    truth: dict[str, float] = {}
    cuts = [*range(START, end, 86400), end + 1]
    files = [open(work / f"history-{d}.om", "w", buffering=1 << 22) for d in range(len(cuts) - 1)]  # noqa: SIM115

    def emit(lab: str, vals: list[str], ts: np.ndarray) -> None:
        for d, fh in enumerate(files):
            lo, hi = np.searchsorted(ts, [cuts[d], cuts[d + 1]])
            fh.write("".join(f"{lab} {vals[j]} {ts[j]}\n" for j in range(lo, hi)))

    try:
        for fh in files:
            fh.write("# HELP kepler_pod_cpu_joules Energy per pod and zone.\n# TYPE kepler_pod_cpu_joules counter\n")
        recs = []
        for i in range(pods):
            ns, _dep, rs = deployments[i % len(deployments)]
            pod, uid, node = f"{rs}-{_name(rng, 5)}", f"00000000-0000-4000-8000-{i:012d}", f"node-{i % 40}"
            s0 = START + int(rng.integers(1, 120))
            t = np.arange(s0, end + 1, scrape_e, dtype=np.int64)
            t = np.append(t, end) if t[-1] != end else t
            watts = rng.lognormal(0.0, 1.0) * (1 + 0.3 * np.sin((t - s0) / 86400 * 2 * np.pi))
            e = np.concatenate(([0.0], np.cumsum(watts[1:] * np.diff(t))))
            truth[pod] = float(e[-1])
            lab = (f'kepler_pod_cpu_joules_total{{node_name="{node}",pod_id="{uid}",pod_name="{pod}",'
                   f'pod_namespace="{ns}",state="running",zone="package",{TARGET.format(node=node)}}}')
            emit(lab, [f"{v:.3f}" for v in e.tolist()], t)
            recs.append((ns, pod, uid, rs, s0))
        for fh in files:
            fh.write("# HELP kube_pod_owner Pod owner.\n# TYPE kube_pod_owner gauge\n")
        for ns, pod, uid, rs, s0 in recs:
            lab = (f'kube_pod_owner{{namespace="{ns}",owner_is_controller="true",owner_kind="ReplicaSet",'
                   f'owner_name="{rs}",pod="{pod}",uid="{uid}",{KSM}}}')
            ts = np.arange(s0, end + 1, scrape_o)
            emit(lab, ["1"] * len(ts), ts)
        for fh in files:
            fh.write("# HELP kube_replicaset_owner RS owner.\n# TYPE kube_replicaset_owner gauge\n")
        for ns, dep, rs in deployments:
            lab = (f'kube_replicaset_owner{{namespace="{ns}",owner_is_controller="true",owner_kind="Deployment",'
                   f'owner_name="{dep}",replicaset="{rs}",{KSM},pod="kube-state-metrics-0"}}')
            ts = np.arange(START, end + 1, scrape_o)
            emit(lab, ["1"] * len(ts), ts)
    finally:
        for fh in files:
            fh.write("# EOF\n")
            fh.close()
    return {"start": START, "end": end, "truth": truth, "files": [f.name for f in files]}


def _child(args: argparse.Namespace) -> None:
    """Run one measured phase and print a JSON line (wall seconds, peak RSS, result summary)."""
    from app.adapters.prometheus import PromClient
    from app.energy_labels.build import build_labels

    meta = json.loads(Path(args.meta).read_text())
    t0 = time.perf_counter()
    with PromClient(args.url, timeout_s=300) as c:
        if args.phase == "labels":
            frame = build_labels(c, meta["start"], meta["end"], 60, schema="0.10", usage=False).frame
            truth = meta["truth"]
            got = dict(zip(frame["pod"], frame["total_energy_j"], strict=True))
            rel = max(abs(got[p] - e) / e for p, e in truth.items())
            extra = {"rows": len(frame), "max_rel_err": rel, "requests": c.requests_made,
                     "workloads": int(frame["workload_name"].nunique())}
        else:
            expr = 'max by (pod_namespace, pod_name, pod_id) (kepler_pod_cpu_joules_total{zone="package"})'
            series = c.query_range(expr, meta["start"], meta["end"], 60)
            extra = {"series": len(series), "points": sum(len(s.samples) for s in series),
                     "requests": c.requests_made}
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"wall_s": wall, "peak_bytes": peak, **extra}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--workdir", default="/tmp/bench-labels")
    ap.add_argument("--reuse", action="store_true", help="reuse the TSDB of a previous run in --workdir")
    ap.add_argument("--phase", choices=["labels", "baseline"], help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--meta", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.phase:
        _child(args)
        return 0

    import shutil

    from tests.conftest import free_port
    from tests.prom_fixture import build_tsdb, run_prometheus

    work = Path(args.workdir)
    if not (args.reuse and (work / "meta.json").exists() and (work / "data").is_dir()):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        t = time.perf_counter()
        meta = write_history(work, args.pods, args.days)
        size = sum(Path(f).stat().st_size for f in meta["files"])
        print(f"history: {args.pods} pods × {args.days:g} days, {size / 1e6:.0f} MB OpenMetrics "
              f"in {time.perf_counter() - t:.1f}s")
        (work / "meta.json").write_text(json.dumps(meta))
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda f: build_tsdb(Path(f), work / "data"), meta["files"]))
        for f in meta["files"]:
            Path(f).unlink()
        print(f"promtool: TSDB built in {time.perf_counter() - t:.1f}s (not part of the measurement)")
    results = {}
    with run_prometheus(work / "data", free_port()) as url:
        for phase in ("baseline", "labels"):
            proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--url", url, "--meta",
                                   str(work / "meta.json")], capture_output=True, text=True, cwd=REPO)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
    b, lab = results["baseline"], results["labels"]
    gib = 2**30
    print(f"baseline query_range (all samples in lists): {b['wall_s']:.1f}s, peak {b['peak_bytes'] / gib:.2f} GiB, "
          f"{b['series']} series, {b['points']:,} points, {b['requests']} requests")
    print(f"build_labels job mode (streamed):           {lab['wall_s']:.1f}s, peak {lab['peak_bytes'] / gib:.2f} GiB, "
          f"{lab['rows']} pods, {lab['workloads']} workloads, {lab['requests']} requests, "
          f"max per-pod error {lab['max_rel_err'] * 100:.4f}%")
    print(f"ratio labels/baseline: time {lab['wall_s'] / b['wall_s']:.2f}×, memory "
          f"{lab['peak_bytes'] / b['peak_bytes']:.2f}×")
    ok = lab["wall_s"] < 60 and lab["peak_bytes"] < gib
    print(f"target < 60 s and < 1 GiB: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
