"""PNG plots of a results folder, drawn on matplotlib's Agg canvas (no pyplot, no global state).

- plot_budget_curves: metric vs paired budget, mean with its t 95 % CI band over seeds.
  Left, paired only: one line per selector (random vs k-medoids, ...), full-data baselines as
  horizontal lines. Right: hybrid (per selector, balanced and not) vs unpaired only (line and
  band) vs paired only (dashed), as in the paper's Tables 1 and 2.
- plot_seed_distributions: every seed's value as a point over a box plot, per budget and
  selector, paired only and hybrid side by side -- the spread the paper's means hide.

Each returns the Figure (for inspection) after writing the PNG atomically.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.axes import NA, derive_axes, display, sort_key
from analysis.errors import AnalysisError
from analysis.load import Results
from analysis.schema import PROTOCOL_METRICS
from analysis.inference import mean_ci
from analysis.stats import cell_stats

BAND_ALPHA = 0.18    # opacity of the 95 % CI bands
JITTER = 0.12        # half-width of the strip plot's horizontal jitter, in box widths
DPI = 120            # PNG resolution (dots per inch)


def plot_budget_curves(results: Results | pd.DataFrame, out_png: str | os.PathLike,
                       dataset: str | None = None, protocol: str | None = None,
                       metric: str | None = None) -> Figure:
    rows, dataset, protocol, metric = _select(results, dataset, protocol, metric)
    if _paired_sweep(rows).empty:   # no paired-only budget sweep (the demo): one panel
        fig = _figure((7, 4.5))
        _hybrid_panel(fig.subplots(1, 1), rows, metric)
    else:
        fig = _figure((12, 4.5))
        left, right = fig.subplots(1, 2, sharey=True)
        _paired_panel(left, rows, metric)
        _hybrid_panel(right, rows, metric)
    fig.suptitle(f"{dataset} ({protocol}): {metric} vs paired samples, mean and 95% CI over seeds")
    save_png(fig, out_png)
    return fig


def plot_seed_distributions(results: Results | pd.DataFrame, out_png: str | os.PathLike,
                            dataset: str | None = None, protocol: str | None = None,
                            metric: str | None = None) -> Figure:
    rows, dataset, protocol, metric = _select(results, dataset, protocol, metric)
    panels = [(_paired_sweep(rows), ["n_paired", "selector"], "paired only"),
              (_plain_hybrid(rows), ["n_paired", "selector", "balanced"], "hybrid")]
    drawn = [p for p in panels if p[0][metric].notna().any()] or panels[1:]   # no empty panel
    fig = _figure((max(7.5, 6 * len(drawn)), 4.5))   # one panel: room for the title
    axes = fig.subplots(1, len(drawn), sharey=True, squeeze=False)[0]
    for ax, (part, keys, title) in zip(axes, drawn):
        _distribution_panel(ax, part, metric, keys, title)
    fig.suptitle(f"{dataset} ({protocol}): {metric} per seed\n"
                 "(box: quartiles, whiskers 1.5 IQR)")
    save_png(fig, out_png)
    return fig


def plot_targets(results: Results, dataset: str | None = None) -> list[tuple[str, str]]:
    """(dataset, protocol) pairs with finished trials: what a plot can be drawn for."""
    ok = results.ok if dataset is None else results.ok[results.ok["dataset"] == dataset]
    return sorted(set(zip(ok["dataset"], ok["protocol"])))


def save_png(fig: Figure, out_png: str | os.PathLike) -> Path:
    """Write `fig` to a hidden temporary name beside `out_png`, then rename it into place."""
    path = Path(out_png)
    if not path.parent.is_dir():
        raise AnalysisError(f"{path.parent}: no such folder for the plot {path.name}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    os.replace(tmp, path)
    return path


# --- rows -------------------------------------------------------------------------------------
def _select(results, dataset, protocol, metric) -> tuple[pd.DataFrame, str, str, str]:
    ok = results.ok if isinstance(results, Results) else results
    rows = derive_axes(ok)
    if dataset is not None:
        rows = rows[rows["dataset"] == dataset]
    if protocol is not None:
        rows = rows[rows["protocol"] == protocol]
    targets = sorted(set(zip(rows["dataset"], rows["protocol"])))
    if len(targets) != 1:
        found = ", ".join(f"{d} ({p})" for d, p in targets) or "none"
        raise AnalysisError(f"a plot needs finished trials of one dataset and protocol "
                            f"(found: {found}); choose with dataset= / protocol=")
    dataset, protocol = targets[0]
    metric = metric or PROTOCOL_METRICS[protocol][0]
    if metric not in rows or rows[metric].isna().all():
        raise AnalysisError(f"metric {metric!r} has no values for {dataset} ({protocol})")
    rows = rows.assign(**{metric: pd.to_numeric(rows[metric], errors="coerce")})
    return rows, dataset, protocol, metric


def _plain_hybrid(rows: pd.DataFrame) -> pd.DataFrame:
    plain = (rows["labels"] == "same") & (rows["losses"] == "full")
    return rows[(rows["mode"] == "hybrid") & plain]


def _ordered_groups(frame: pd.DataFrame, keys: list[str]) -> list[tuple[tuple, pd.DataFrame]]:
    groups = [(k if isinstance(k, tuple) else (k,), g) for k, g in frame.groupby(keys, sort=False)]
    return sorted(groups, key=lambda kg: tuple(sort_key(a, v) for a, v in zip(keys, kg[0])))


# --- drawing ----------------------------------------------------------------------------------
def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _curve(ax, stats: pd.DataFrame, metric: str, label: str, style: str = "-") -> None:
    """Mean over seeds vs paired samples, with its t 95 % CI as a band (broken where a
    budget has fewer than inference.MIN_N seeds: no interval there)."""
    part = stats.sort_values("n_paired")
    x = part["n_paired"].astype(float).to_numpy()
    mean = part[f"{metric}.mean"].to_numpy()
    low, high = part[f"{metric}.ci_low"].to_numpy(), part[f"{metric}.ci_high"].to_numpy()
    (line,) = ax.plot(x, mean, style, marker="o", label=label, gid="curve")
    ax.fill_between(x, low, high, where=~np.isnan(low), alpha=BAND_ALPHA, color=line.get_color(),
                    gid="ci")


def _paired_sweep(rows: pd.DataFrame) -> pd.DataFrame:
    """Paired-only trials with a selected budget (not the every-pair baselines)."""
    return rows[(rows["mode"] == "paired") & (rows["selector"] != NA)]


def _paired_curves(ax, rows: pd.DataFrame, metric: str, prefix: str, style: str,
                   selectors: set | None = None) -> None:
    sweep = _paired_sweep(rows)
    if selectors is not None:
        sweep = sweep[sweep["selector"].isin(selectors)]
    stats = cell_stats(sweep, ["selector", "unpaired", "n_paired"], [metric])
    pools = stats["unpaired"].nunique()
    for (selector, pool), part in _ordered_groups(stats, ["selector", "unpaired"]):
        where = f" (pool {display(int(pool))})" if pools > 1 else ""
        _curve(ax, part, metric, f"{prefix}{selector}{where}", style)


def _all_pairs_lines(ax, rows: pd.DataFrame, metric: str) -> None:
    """Dotted lines: paired-only trials with every pool sample paired (pix2pix baselines)."""
    full = rows[(rows["mode"] == "paired") & (rows["selector"] == NA)]
    for (n_paired,), part in _ordered_groups(full, ["n_paired"]):
        ax.axhline(part[metric].mean(), linestyle=":", color="black",
                   label=f"paired only, {display(n_paired)} pairs")


def _paired_panel(ax, rows: pd.DataFrame, metric: str) -> None:
    _paired_curves(ax, rows, metric, "", "-")
    _all_pairs_lines(ax, rows, metric)
    _finish(ax, metric, "paired only")


def _hybrid_panel(ax, rows: pd.DataFrame, metric: str) -> None:
    hybrid = _plain_hybrid(rows)
    stats = cell_stats(hybrid, ["n_unpaired", "selector", "balanced", "n_paired"], [metric])
    pools = stats["n_unpaired"].nunique()
    for (pool, selector, balanced), part in _ordered_groups(stats, ["n_unpaired", "selector",
                                                                    "balanced"]):
        label = f"hybrid, {selector}" + ("" if balanced else ", unbalanced")
        label += f" ({display(pool)} unpaired)" if pools > 1 else ""
        _curve(ax, part, metric, label, "-" if balanced else "--")
    unpaired = rows[(rows["mode"] == "unpaired") & (rows["labels"] == "same")
                    & (rows["losses"] == "full")]
    for (pool,), part in _ordered_groups(unpaired, ["n_unpaired"]):
        low, high = mean_ci(part[metric])
        ax.axhline(part[metric].mean(), color="gray", label=f"unpaired only ({display(pool)})")
        if not np.isnan(low):
            ax.axhspan(low, high, color="gray", alpha=BAND_ALPHA, gid="ci")
    _paired_curves(ax, rows, metric, "paired only, ", "--", set(hybrid["selector"]))
    _all_pairs_lines(ax, rows, metric)
    _finish(ax, metric, "hybrid vs unpaired only vs paired only")


def _finish(ax, metric: str, title: str) -> None:
    """Title, labels, legend; a log x axis ticked at the budgets the curves show."""
    ax.set_title(title)
    budgets = sorted({int(x) for line in ax.lines if line.get_gid() == "curve"
                      for x in line.get_xdata()})
    if not ax.lines:
        ax.text(0.5, 0.5, "no rows", transform=ax.transAxes, ha="center", va="center")
        ax.set_xticks([])
        return
    if budgets:
        ax.set_xscale("log")
        ax.set_xticks(budgets, labels=[str(b) for b in budgets])
        ax.minorticks_off()
    ax.set_xlabel("paired samples")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def _distribution_panel(ax, rows: pd.DataFrame, metric: str, keys: list[str], title: str) -> None:
    ax.set_title(title)
    groups = [(k, g[metric].dropna().to_numpy()) for k, g in _ordered_groups(rows, keys)]
    groups = [(k, v) for k, v in groups if len(v)]
    if not groups:
        ax.text(0.5, 0.5, "no rows", transform=ax.transAxes, ha="center", va="center")
        return
    positions = np.arange(1, len(groups) + 1)
    ax.boxplot([v for _, v in groups], positions=positions, widths=0.5, patch_artist=True,
               showfliers=False, boxprops={"facecolor": "none"})
    jitter = np.random.default_rng(0)  # fixed: the same rows always give the same picture
    for position, (_, values) in zip(positions, groups):
        offsets = jitter.uniform(-JITTER, JITTER, len(values))
        ax.scatter(position + offsets, values, s=14, alpha=0.75, zorder=3)
    labels = ["\n".join(_tick(k, v) for k, v in zip(keys, key)) for key, _ in groups]
    ax.set_xticks(positions, labels=labels, fontsize="small")
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)


def _tick(axis: str, value: object) -> str:
    if axis == "balanced":
        return "balanced" if value is True else "unbalanced"
    if axis == "n_paired":
        return f"{display(value)} pair" + ("" if value == 1 else "s")
    return display(value)


def plot_claim_lengths(sets: list, out_png: str | os.PathLike, grid: str) -> Figure:
    """Per family and metric of `grid`'s claims (analysis.claims.ClaimSet, one per length):
    Δ = A − B with its Welch 95 % CI band against steps, one line per claim, the margin dashed.
    `sets` holds every set; only `grid`'s with a number of steps are drawn."""
    mine = [s for s in sets if s.grid == grid and isinstance(s.length, int)]
    panels = list(dict.fromkeys((s.family, s.metric, s.margin) for s in mine))
    if not panels:
        raise AnalysisError(f"grid {grid!r}: no claims judged at a number of steps to plot")
    fig = _figure((6 * len(panels), 4.5))
    for ax, (family, metric, margin) in zip(fig.subplots(1, len(panels), squeeze=False)[0],
                                            panels):
        found = [s for s in mine if (s.family, s.metric) == (family, metric)]
        frame = pd.concat([s.results.assign(steps=s.length) for s in found], ignore_index=True)
        for claim, part in frame.groupby("claim", sort=False):
            part = part.sort_values("steps")
            line, = ax.plot(part["steps"], part["delta_mean"], marker="o", label=claim)
            ax.fill_between(part["steps"], part["delta_ci_low"], part["delta_ci_high"],
                            color=line.get_color(), alpha=BAND_ALPHA, linewidth=0)
        ax.axhline(0, color="0.3", linewidth=0.8)
        for bound in (margin, -margin):
            ax.axhline(bound, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_xticks(sorted(frame["steps"].unique()))
        ax.set_xlabel("training steps (complete schedules)")
        ax.set_ylabel(f"Δ {metric} (A − B)")
        ax.set_title(f"{family}, {metric} (margin ±{margin:g} dashed)", fontsize=10)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{grid}: the paper's claims against training length, Δ and Welch 95% CI")
    save_png(fig, out_png)
    return fig
