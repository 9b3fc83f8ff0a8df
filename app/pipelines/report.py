"""The evaluation report: a Markdown file with the metrics table and three PNG plots (matplotlib, Agg).

Written for a reader who never opens the code: each plot says what it shows in its title and the
Markdown explains how to read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.pipelines.evaluation import LABELS, PREDICTORS, Evaluation, metrics_by_kind, reference_sentence

PLOTS = {
    "pred_vs_measured": "pred_vs_measured.png",
    "error_by_kind": "error_by_kind.png",
    "interval_coverage": "interval_coverage.png",
}


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pred_vs_measured(ev: Evaluation, path: Path) -> Path:
    plt = _plt()
    y = ev.oof["measured"].to_numpy()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), sharex=True, sharey=True)
    lo, hi = max(np.nanmin(y) / 3, 1e-3), np.nanmax(y) * 3
    for ax, name in zip(axes, ("physics", "original_knn", "tuned_knn"), strict=True):
        p = np.maximum(ev.oof[name].to_numpy(), 1e-3)
        ax.scatter(y, p, s=9, alpha=0.5)
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        for f in (0.5, 2.0):
            ax.plot([lo, hi], [lo * f, hi * f], color="grey", lw=0.6, ls="--")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured W per pod",
               title=f"{LABELS[name]}\nmedian APE {ev.metrics[name]['median_ape']:.1f}%")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("predicted W per pod (out of fold)")
    fig.suptitle("Predicted vs measured (log-log; dashed: 2× off)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_error_by_kind(ev: Evaluation, path: Path) -> Path:
    plt = _plt()
    table = metrics_by_kind(ev)
    fig, ax = plt.subplots(figsize=(10, 4.6))
    kinds = list(table.index)
    x = np.arange(len(kinds))
    width = 0.8 / len(PREDICTORS)
    for i, name in enumerate(PREDICTORS):
        ax.bar(x + i * width, np.maximum(table[name].to_numpy(), 0.1), width, label=LABELS[name])
    ax.set_xticks(x + 0.4 - width / 2, [f"{k}\n({n} rows)" for k, n in zip(kinds, table["rows"], strict=True)],
                  fontsize=8)
    ax.set(yscale="log", ylabel="median APE, % (log scale)", title="Median absolute percentage error by workload kind")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_interval_coverage(ev: Evaluation, path: Path) -> Path:
    plt = _plt()
    o = ev.oof
    inside = ((o["measured"] >= o["tuned_knn_low"]) & (o["measured"] <= o["tuned_knn_high"])).astype(float)
    # each workload weighs the same, as the interval is calibrated: its share of pods inside
    per_wl = inside.groupby([o["workload_kind"], o["fold"], o["namespace"], o["workload_name"]]).mean()
    by_kind = per_wl.groupby(level=0).mean()
    by_fold = per_wl.groupby(level=1).mean().rename(index=lambda f: f"fold {f}")
    overall = float(per_wl.mean())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, series, label in ((axes[0], by_kind, "workload kind"), (axes[1], by_fold, "outer fold")):
        ax.bar([str(k) for k in series.index], series.to_numpy() * 100)
        ax.axhline(ev.level * 100, color="k", lw=1, label=f"nominal {ev.level:.0%}")
        ax.axhline(overall * 100, color="tab:red", lw=1, ls="--", label=f"overall {overall:.1%}")
        ax.set(ylim=(0, 105), ylabel="% inside the interval (workloads weigh the same)", xlabel=label)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
        ax.legend(fontsize=8)
    fig.suptitle(f"Interval coverage of the tuned KNN ({ev.level:.0%} conformal interval, held-out workloads)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _fmt(v: float, pct: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1f}%" if pct else f"{v:.3g}"


def metrics_table(ev: Evaluation) -> str:
    head = ("| predictor | MAE (W) | MAPE | median APE | R² | coverage, per workload | coverage, per pod "
            "| median width (× pred) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for name in PREDICTORS:
        m = ev.metrics[name]
        cov = _fmt(m["coverage"] * 100, True) if "coverage" in m else "–"
        cov_w = _fmt(m["coverage_per_workload"] * 100, True) if "coverage_per_workload" in m else "–"
        width = _fmt(m["median_rel_width"]) if "median_rel_width" in m else "–"
        lines.append(f"| {LABELS[name]} | {_fmt(m['mae'])} | {_fmt(m['mape'], True)} | "
                     f"{_fmt(m['median_ape'], True)} | {_fmt(m['r2'])} | {cov_w} | {cov} | {width} |")
    return "\n".join(lines)


def write_report(ev: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write `report.md`, `oof_predictions.csv` and the PNG plots into `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "pred_vs_measured": plot_pred_vs_measured(ev, out / PLOTS["pred_vs_measured"]),
        "error_by_kind": plot_error_by_kind(ev, out / PLOTS["error_by_kind"]),
        "interval_coverage": plot_interval_coverage(ev, out / PLOTS["interval_coverage"]),
    }
    ev.oof.to_csv(out / "oof_predictions.csv", index=False)
    paths["oof"] = out / "oof_predictions.csv"
    ratio = ev.ratio()
    kinds = metrics_by_kind(ev).round(1).reset_index(names="kind")
    kind_md = ["| " + " | ".join(map(str, kinds.columns)) + " |", "|" + "---|" * len(kinds.columns)]
    kind_md += ["| " + " | ".join(str(v) for v in row) + " |" for row in kinds.itertuples(index=False)]
    params = "\n".join(
        f"- fold {p['fold']}: k={p['n_neighbors']}, offset scale {p['offset_scale']}, block weights "
        f"{p['block_weights']}, interval log-quantiles [{p['q_low']:.3f}, {p['q_high']:.3f}]"
        for p in ev.fold_params
    )
    cov, cov_w = ev.metrics["tuned_knn"]["coverage"], ev.metrics["tuned_knn"]["coverage_per_workload"]
    reference = f"\n{reference_sentence(ev.reference)}\n" if ev.reference else ""
    text = f"""# Evaluation report

Data: {ev.source or 'training rows'} — {ev.rows} rows, {ev.workloads} workloads; target `{ev.target}`.
Method: {ev.n_splits}-fold group cross-validation, grouped by workload (no workload is ever in both the
training and the validation part). Every predictor sees the same folds and is scored on the same
validation rows; metrics pool all out-of-fold rows. The tuned model's own choices (k, block weights,
offset scale) come from an inner group CV on the outer training part only (nested CV).

## Results

{metrics_table(ev)}

Tuned vs original KNN, median APE: **{ratio:.2f}×** (target ≤ 0.50×).
Interval: nominal {ev.level:.0%}; measured coverage on held-out workloads **{cov_w:.1%}** with each
workload weighing the same, **{cov:.1%}** with each pod weighing the same (target within ±5 points).
{reference}
- **MAE** in watts per pod is dominated by the few high-power pods (GPU training); **MAPE** by tiny
  pods predicted a few times too high; **median APE** is the typical relative miss; **R²** is on watts.
- **coverage**: the share of measured values inside `[pred_avg_power_w_low, pred_avg_power_w_high]`.
  *Per workload* averages each workload's share (the chance for a new workload, what the interval
  is calibrated for); *per pod* counts pods, so a DaemonSet with 40 pods counts 40 times and one
  such workload in a tail moves it by several points. **median width**: (high − low) / prediction.

## Error by workload kind (median APE, %)

{chr(10).join(kind_md)}

## Plots

![predicted vs measured]({PLOTS['pred_vs_measured']})

Each dot is one validation row predicted by a model that never saw its workload; the black line is a
perfect prediction, the dashed lines 2× too high or too low. Log axes: power spans four orders of
magnitude.

![error by kind]({PLOTS['error_by_kind']})

Median APE per workload kind and predictor (log scale, lower is better); the row counts say how much
each kind weighs in the overall figures.

![interval coverage]({PLOTS['interval_coverage']})

The share of measured values inside the tuned model's interval, per kind and per outer fold (each
workload weighing the same), against the nominal level. Kinds with few workloads swing most.

## Tuned model choices per outer fold

{params}

Out-of-fold predictions: `oof_predictions.csv`.
"""
    (out / "report.md").write_text(text, encoding="utf-8")
    paths["report"] = out / "report.md"
    return paths
