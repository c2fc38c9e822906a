"""One call from a results folder to printed tables and PNG plots: what `python -m analysis`
runs and what the sweeps launcher calls at the end of a grid."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs

from analysis.claims import at_best, evaluate
from analysis.claims_text import claims_text
from analysis.lengths import lengths_text
from analysis.computed import computed_notes
from analysis.errors import AnalysisError
from analysis.load import Results, load_results, with_planned
from analysis.plots import (plot_budget_curves, plot_claim_lengths, plot_seed_distributions,
                            plot_targets)
from analysis.render import render
from analysis.tables import TABLES, build_table, get_spec


@dataclass(frozen=True)
class Report:
    text: str                 # the tables in the chosen format
    plots: tuple[Path, ...]   # PNG files written
    html: Path | None = None  # the HTML report written, if asked for


def report(results_dir: str | os.PathLike, grid: str | None = None, **options) -> str:
    """The paper tables that `results_dir` (one `grid` of it, if given) has rows for, as text.
    Options as for `build_report`; plots named by `plot` / `seed_plot` are written too."""
    return build_report(results_dir, grid, **options).text


def build_report(results_dir: str | os.PathLike, grid: str | None = None, *,
                 tables: list[str] | None = None, fmt: str = "md",
                 plot: str | os.PathLike | None = None,
                 seed_plot: str | os.PathLike | None = None,
                 dataset: str | None = None, metric: str | None = None,
                 expected_seeds: tuple[int, ...] | None = None,
                 planned: list[dict] | None = None,
                 filesystem: pafs.FileSystem | None = None,
                 html: str | os.PathLike | None = None,
                 claim_margin: float | dict[str, float] | None = None,
                 claims_plot: str | os.PathLike | None = None) -> Report:
    """tables: paper table ids (default: every table with rows); fmt: md | latex | csv;
    plot / seed_plot: PNG paths for the budget curves / per-seed distributions (one file per
    dataset and protocol, suffixed, when there are several); expected_seeds: the seeds every
    cell should have (default: all seeds seen in the table, or with `planned` those planned for
    the cell); planned: the grid's trials (config columns + trial_key) so that trials with no
    row at all are listed too; html: where to write the self-contained HTML report
    (analysis.html); claim_margin: the verdicts' margin in metric units, one for every
    metric or {metric: margin} (default analysis.verdict.MARGINS); claims_plot: PNG of each grid's
    claims against training length (Δ and CI vs steps), suffixed `-<grid>` when several."""
    for path, what in ((plot, "the plot"), (seed_plot, "the plot"), (html, "the report"),
                       (claims_plot, "the plot")):
        if path is not None and not Path(path).parent.is_dir():   # fail before any work
            raise AnalysisError(f"{Path(path).parent}: no such folder for {what} {Path(path).name}")
    results = load_results(results_dir, grid, filesystem)
    if planned:
        results = with_planned(results, planned)
    ids = [get_spec(t).id for t in tables] if tables else list(TABLES)
    built, empty = [], []
    for table_id in ids:
        found = build_table(table_id, results, dataset, expected_seeds, per_cell=bool(planned))
        built += found
        empty += [] if found else [table_id]
    if tables and not built:   # asked for tables none of whose cells has a row
        raise AnalysisError(_no_rows(ids, results, dataset))
    text = render(built, fmt, _of(results.failed, dataset))
    differently = computed_notes(built, results)
    if fmt == "md" and differently:
        text += "\n" + "\n".join(f"- {line}" for line in differently) + "\n"
    if fmt == "md" and (not built or tables and empty):
        text = f"No rows for table {', '.join(empty)} in {results.root}.\n\n" + text
    ok = _of(results.ok, dataset)
    claims = evaluate(ok, claim_margin) + at_best(ok, claim_margin)   # after the tables
    text += claims_text(claims, fmt) + (lengths_text(claims, fmt) if fmt != "csv" else "")
    plots = [*_plots(plot_budget_curves, results, plot, dataset, metric),
             *_plots(plot_seed_distributions, results, seed_plot, dataset, metric),
             *_claims_plots(claims, claims_plot)]
    page = None
    if html is not None:
        from analysis.html import write_html
        page = write_html(results, built, html, metric=metric, dataset=dataset, claims=claims)
    return Report(text, tuple(plots), page)


def _of(frame: pd.DataFrame, dataset: str | None) -> pd.DataFrame:
    """`frame`'s rows of `dataset` (every row when None)."""
    return frame if dataset is None else frame[frame["dataset"] == dataset]


# the run_grid grid of each paper table, where it is not `table<id>` (analysis imports no sweeps;
# tests/test_analysis_cli.py checks every name against sweeps.plan.grids)
GRID_OF_TABLE = {"5": "ablation"}


def grid_of_table(table_id: str) -> str:
    return GRID_OF_TABLE.get(table_id, f"table{table_id}")


def _no_rows(ids: list[str], results: Results, dataset: str | None) -> str:
    """Why the tables asked for are empty, and what would fill them."""
    grids = sorted(set(results.ok["grid"])) if "grid" in results.ok else []
    there = f"its ok rows are from grid {', '.join(grids)}" if grids else "it has no ok rows"
    on = f" on dataset {dataset!r}" if dataset else ""
    asked = ", ".join(f"{i} ({get_spec(i).title})" for i in ids)
    return (f"no rows for table {asked} in {results.root}{on}: {there} (sweeps/run_grid.py "
            f"--grid {grid_of_table(ids[0])} runs that table's grid)")


def _claims_plots(claims: list, path: str | os.PathLike | None) -> list[Path]:
    """One Δ-vs-steps plot per grid whose claims were judged at two or more lengths."""
    if path is None:
        return []
    grids = sorted({s.grid for s in claims if isinstance(s.length, int)
                    and len({c.length for c in claims if c.grid == s.grid
                             and isinstance(c.length, int)}) >= 2})
    if not grids:
        raise AnalysisError("no grid's claims were judged at two or more lengths to plot "
                            "(a grid with a steps axis, e.g. sweeps/run_grid.py --grid verdicts)")
    path = Path(path)
    out = []
    for grid in grids:
        target = path if len(grids) == 1 else path.with_name(f"{path.stem}-{grid}{path.suffix}")
        plot_claim_lengths(claims, target, grid)
        out.append(target)
    return out


def _plots(draw, results: Results, path: str | os.PathLike | None, dataset: str | None,
           metric: str | None) -> list[Path]:
    if path is None:
        return []
    targets = plot_targets(results, dataset)
    if not targets:
        raise AnalysisError(f"{results.root}: no finished trials to plot"
                            + (f" for dataset {dataset!r}" if dataset else ""))
    path = Path(path)
    out = []
    for name, protocol in targets:
        target = path if len(targets) == 1 else path.with_name(
            f"{path.stem}-{name}-{protocol}{path.suffix}")
        draw(results, target, dataset=name, protocol=protocol, metric=metric)
        out.append(target)
    return out
