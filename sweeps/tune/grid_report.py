"""The end of a grid's run: its tables and plots (analysis package), its exit status, and what
the driver says after a stop."""
from __future__ import annotations

from pathlib import Path

from sweeps.plan.sweep import SweepPlan
from sweeps.store import results


def summarize(plan: SweepPlan, plots: bool = True) -> str:
    """The grid's tables and plots (analysis package), and where the rows and plots are; the
    tables alone when there is nothing to plot (e.g. every trial failed)."""
    from analysis import AnalysisError, build_report
    planned = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    folder = plot_dir(plan.results)
    targets = {}
    if plots:
        folder.mkdir(parents=True, exist_ok=True)
        targets = dict(plot=folder / f"{plan.grid}-budget.png",
                       seed_plot=folder / f"{plan.grid}-seeds.png")
    try:
        built = build_report(plan.results, plan.grid, planned=planned, **targets)
    except AnalysisError as err:
        if plots:   # e.g. no finished trial to plot
            return summarize(plan, plots=False) + f"\nno plots: {err}"
        return f"{err}\nrows: {results.grid_dir(plan.results, plan.grid)}"
    where = [f"rows:  {results.grid_dir(plan.results, plan.grid)}"]
    where += [f"plot:  {path}" for path in built.plots]
    return built.text.rstrip() + "\n\n" + "\n".join(where)


def plan_status(plan: SweepPlan) -> tuple[int, str | None]:
    """0 when every planned trial has an `ok` row, else 1 and a line counting the rest (a
    trial killed for good, or whose row could not be written, has no row at all)."""
    statuses = {cfg.key(): results.row_status(results.row_path(plan.results, plan.grid, cfg))
                for cfg in plan.cfgs}
    ok = sum(status == "ok" for status in statuses.values())
    if ok == len(statuses):
        return 0, None
    bad = sum(status in ("failed", "stopped") for status in statuses.values())
    none = [key for key, status in statuses.items() if status is None]
    listed = ", ".join(none[:5]) + (", ..." if len(none) > 5 else "")
    return 1, (f"grid {plan.grid}: {ok} of {len(statuses)} planned trials have an ok row; "
               f"{bad} failed or stopped, {len(none)} have no row{': ' + listed if none else ''}"
               f" (a rerun retrains them)")


def interrupted(plan: SweepPlan, argv: list[str], signum: int) -> int:
    """What the driver says after a stop (Ctrl-C, SIGTERM): what finished, the command that
    resumes; 128 + the signal (130 after Ctrl-C)."""
    from sweeps.tune.hints import stopped_exit
    ok = len(results.done_keys(plan.results, plan.grid, plan.cfgs))
    return stopped_exit(f"{ok} of {len(plan.cfgs)} trials of grid {plan.grid} have an ok row",
                        argv, "sweeps/run_grid.py", signum)


def plot_dir(root: str) -> Path:
    """`<results>/_plots` for a local results root (`_`: stock Parquet readers of `<results>`
    pass over it, as over `_ray/` and `_samples/`); `./plots` when the rows are remote."""
    return Path("plots") if "://" in root else Path(root) / "_plots"
