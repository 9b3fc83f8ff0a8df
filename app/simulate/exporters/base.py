"""What every exporter writer shares: the spool of per-family samples and the scrape timing of each target.

Rule: a series gets a sample at its start and end instants (lifecycle samples are never dropped), the target's
scrape grid in between minus the simulated gaps, and (Kepler) the restart instants; counters count from the
segment start or the last exporter restart. Writing is vectorised: one %-format per series.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from app.simulate.model import ScrapeGap, SimCluster, SimNode

COUNTER_FMT = "%.9g"  # nine significant digits: milliwatt pods and kilowatt nodes keep their precision


def esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def lab(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{esc(v)}"' for k, v in pairs)


class Out:
    """Per-family spool files, concatenated at the end so each family is contiguous (OpenMetrics rule)."""

    def __init__(self, tmpdir: Path, families: Sequence[str]) -> None:
        self.paths = {f: tmpdir / f"{i:02d}.part" for i, f in enumerate(families)}
        self.files: dict[str, BinaryIO] = {
            f: open(p, "wb", buffering=1 << 20)  # noqa: SIM115 - closed in close()
            for f, p in self.paths.items()
        }
        self.counts: dict[str, int] = dict.fromkeys(families, 0)

    def series(self, family: str, sample: str, labels: str, times: np.ndarray, values: np.ndarray | None,
               fmt: str = COUNTER_FMT) -> None:
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
class Ctx:
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


def reset_base(times: np.ndarray, seg_start: float, resets: np.ndarray) -> np.ndarray:
    """Where each sample's counter started counting: the segment start or the last reset before it."""
    if resets.size == 0:
        return np.full(times.shape, float(seg_start))
    idx = np.searchsorted(resets, times, side="left") - 1
    last = np.where(idx >= 0, resets[np.maximum(idx, 0)], -np.inf)
    return np.maximum(last, float(seg_start))


def counter(knots: np.ndarray, cum: np.ndarray, times: np.ndarray, base: np.ndarray) -> np.ndarray:
    return np.maximum(np.interp(times, knots, cum) - np.interp(base, knots, cum), 0.0)

