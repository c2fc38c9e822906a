"""Running a named grid (the logic behind `sweeps/run_grid.py`): the parser, the Tuner over the
plan's trials, and the grid's tables and plots at the end."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from analysis.cli import DefaultsFormatter, OneLineParser
from sweeps.store import lease, results
from sweeps.plan.adaptive import DEFAULT_BOUNDS, DEFAULT_TARGET_WIDTH, seeds_arg
from sweeps.plan.cli_args import USER_ERRORS, add_cluster_arguments, add_tracking_arguments
from sweeps.plan.grids import GridError, grid_names
from sweeps.tune.board import BOARD_DIR
from sweeps.tune.hints import replace_ray_hints
from sweeps.tune.launch import (KEEP_CHECKPOINTS, connect_and_select, prepare_manifests,
                               trial_resources)
from sweeps.plan.costs import print_dry_run
from sweeps.plan.packs import pack_resources, parse_pack, with_packs
from sweeps.plan.sweep import SweepPlan, finish_adaptive, plan_sweep, print_plan
from sweeps.plan.preflight import check_paths
from sweeps.store.paths import RAY_DIR
from sweeps.tune.tracking import check_available

DESCRIPTION = "Run a named grid on Ray Tune: one trial per TrialConfig, one Parquet row per trial."


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=DESCRIPTION, formatter_class=DefaultsFormatter)
    p.add_argument("--grid", help=f"a named grid: {', '.join(grid_names())} [default: demo]")
    p.add_argument("--grid-file", metavar="YAML",
                   help="a grid as plain data (YAML or JSON: name, dataset, base, arms; "
                        "see sweeps/plan/custom.py) instead of --grid")
    p.add_argument("--dataset", help="run the grid on this dataset instead of its own")
    p.add_argument("--data-root", help="dataset folder (real datasets; toy ones are generated)")
    p.add_argument("--labels-root", action="append", default=[], metavar="NAME=PATH",
                   help="folder of a label-only set the grid uses (table3: gta5, synscapes); "
                        "repeatable")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a TrialConfig field in every trial, e.g. steps=300 or "
                        "precision=bf16 (python -m trainer.train --help lists the fields); "
                        "repeatable")
    p.add_argument("--seeds", type=seeds_arg, metavar="LIST",
                   help="run every setting with these seeds, e.g. 0-9 or 0,3; or adaptive[:MIN-MAX] "
                        f"(default bounds {DEFAULT_BOUNDS[0]}-{DEFAULT_BOUNDS[1]}): every "
                        "selector arm and its random arm start with MIN seeds, and a comparison "
                        "whose Δ 95%% CI still holds 0 and is wider than --target-width gets one "
                        "more seed in both arms, up to MAX [default: each arm's own]")
    p.add_argument("--target-width", type=float, default=DEFAULT_TARGET_WIDTH, metavar="W",
                   help="adaptive seeds: a comparison is settled once its Δ 95%% CI (selector - "
                        "random, in metric units) excludes 0 or is at most W wide")
    p.add_argument("--weights", help="cycle=..,identity=..,paired=..[,adv=..]: override the λs "
                                     "(an arm that switches a term off keeps it off)")
    p.add_argument("--storage", default="results", help="results root: a folder or s3://...")
    p.add_argument("--export", metavar="DIR",
                   help="write every trial's val predictions in the official format to "
                        "DIR/<trial_key>/ (Cityscapes label-id PNGs; "
                        "python -m trainer.eval.official)")
    add_cluster_arguments(p)
    add_tracking_arguments(p)
    p.add_argument("--pack", metavar="K|auto", default="auto",
                   help="train up to K compatible trials in one process, one fused step; 1: "
                        "each trial alone (auto: as many as fit a GPU by a memory probe; on "
                        "CPUs as measured fastest at the trials' sizes)")
    p.add_argument("--resume", action="store_true", help="continue this grid's killed sweep")
    p.add_argument("--force", action="store_true", help="retrain trials that have a row")
    p.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    return p


# --- the Tuner --------------------------------------------------------------------------------
def trial_points(plan: SweepPlan, todo_only: bool = True) -> list[dict]:
    """Each Tune trial's config: a trial's key and the fields that vary across the grid; with
    packs, the id and size of each pack with a member left to train (todo_only=False: of every
    trial or pack of the grid)."""
    cfgs = plan.todo if todo_only else plan.cfgs
    if plan.packs is not None:
        keys = {cfg.key() for cfg in cfgs}
        return [{"pack_id": p.id, "pack_size": len(p.keys)}
                for p in plan.packs if keys & set(p.keys)]
    return [{"trial_key": cfg.key(), **{name: getattr(cfg, name) for name in plan.columns}}
            for cfg in cfgs]


def param_space(plan: SweepPlan, todo_only: bool = True) -> dict:
    """A categorical per config key, each holding the values the trials take. Tune's search
    asks exactly `trial_points` (one trial each, nothing sampled), and its progress table shows
    every categorical as a column: the key (it names the row) and what varies (budget,
    selection, seed, ...); a grid search of keys would show the key alone."""
    from ray import tune
    points = trial_points(plan, todo_only)
    return {name: tune.choice(list(dict.fromkeys(p[name] for p in points)))
            for name in points[0]} if points else {}


def search_alg(plan: SweepPlan, max_concurrent: int | None = None, force: bool = False):
    """Tune's basic generator over exactly the planned points (num_samples = their number), at
    most `max_concurrent` at once. (Tune ignores TuneConfig.max_concurrent_trials, with a mere
    warning, when it is given a generator: the limit must be the generator's own.) With
    adaptive seeds, the searcher that follows the rule (sweeps.tune.adaptive)."""
    if plan.adaptive is not None:
        return _adaptive_search(plan, max_concurrent, force)
    from ray.tune.search.basic_variant import BasicVariantGenerator
    return BasicVariantGenerator(points_to_evaluate=trial_points(plan),
                                 max_concurrent=max_concurrent or 0)


def _adaptive_search(plan: SweepPlan, max_concurrent: int | None, force: bool):
    from functools import partial

    from ray.tune.search import ConcurrencyLimiter
    from sweeps.plan.sweep import read_outcome
    from sweeps.tune.adaptive import AdaptiveSeedSearch
    points = {p["trial_key"]: p for p in trial_points(plan, todo_only=False)}
    search = AdaptiveSeedSearch(plan.adaptive, points, partial(read_outcome, plan, failed_too=True),
                                outcome={} if force else read_outcome(plan))
    return ConcurrencyLimiter(search, max_concurrent) if max_concurrent else search


def num_samples(plan: SweepPlan) -> int:
    """How many Tune trials at most: the planned points; adaptive: its worst case."""
    if plan.adaptive is not None:
        return max(1, len(plan.untrained or []))
    return len(trial_points(plan))


def trainable_for(plan: SweepPlan, args: argparse.Namespace, train_fn=None):
    """run_trial with every trial's config (looked up by key in the trial), the results
    location and the code version; a resumed sweep gets the same from the current grid."""
    from ray import tune
    from sweeps.tune.trainable import Sweep, run_trial
    configs = {cfg.key(): cfg.to_row() for cfg in plan.cfgs}
    sweep = Sweep(plan.grid, plan.results, results.code_version(), args.force, args.cpus_per_trial)
    if plan.packs is not None:
        from sweeps.tune.pack_trial import run_pack
        packs = {p.id: list(p.keys) for p in plan.packs}
        return tune.with_parameters(run_pack, configs=configs, packs=packs, sweep=sweep,
                                    train_fn=train_fn)
    return tune.with_parameters(run_trial, configs=configs, sweep=sweep, train_fn=train_fn)


def make_tuner(plan: SweepPlan, trainable, args: argparse.Namespace):
    from ray import tune
    if args.resume:
        if not tune.Tuner.can_restore(plan.experiment):
            raise GridError(f"--resume: no sweep of grid {plan.grid!r} to resume at "
                            f"{plan.experiment}; run without --resume")
        # The space again (Tune keeps none of it): the generator, limited by --max-concurrent,
        # may still have points to ask, and resolves them against it (same keys as before).
        return tune.Tuner.restore(plan.experiment, trainable, resume_unfinished=True,
                                  resume_errored=True, param_space=_space(plan, False))
    run_config = tune.RunConfig(
        name=plan.grid, storage_path=f"{plan.results.rstrip('/')}/{RAY_DIR}",
        verbose=1 if args.verbose else 0,   # Ray's trial tables: --verbose only
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
        callbacks=callbacks(plan, args), stop=_graceful_stop())
    from sweeps.tune.board import run_name
    tune_config = tune.TuneConfig(  # reuse_actors: torch is imported once per actor, not per trial
        trial_dirname_creator=_trial_dirname, trial_name_creator=run_name, reuse_actors=True,
        search_alg=search_alg(plan, args.max_concurrent, args.force),
        num_samples=num_samples(plan))
    return tune.Tuner(trainable, param_space=_space(plan), tune_config=tune_config,
                      run_config=run_config)


def _space(plan: SweepPlan, todo_only: bool = True) -> dict:
    """param_space, or none for adaptive seeds (its searcher suggests whole configs)."""
    return {} if plan.adaptive is not None else param_space(plan, todo_only)


def _graceful_stop():   # sweeps.tune.driver_stop imports Ray: only when a Tuner is made
    from sweeps.tune.driver_stop import GracefulStop
    return GracefulStop()


def callbacks(plan: SweepPlan, args: argparse.Namespace) -> list:
    """The driver's progress line and ETA, Ctrl-C's wait for the trials' checkpoints, and the
    trackers asked for (--mlflow, --wandb)."""
    from sweeps.tune.progress import SweepProgress
    from sweeps.tune.tracking import tracking_callbacks
    from trainer.run.schedule import total_steps
    configs = {cfg.key(): cfg.to_row() for cfg in plan.cfgs}
    planned = {cfg.key(): total_steps(cfg) for cfg in plan.todo}
    sizes = None
    if plan.packs is not None:   # a pack reports its members' common step
        sizes = {p.id: len(set(p.keys) & set(planned)) for p in plan.packs
                 if set(p.keys) & set(planned)}
        planned = {p.id: max(planned.get(k, 0) for k in p.keys) for p in plan.packs
                   if p.id in sizes}
    from sweeps.tune.board import clean_board
    from sweeps.tune.driver_stop import SignalCheckpointSaved   # Ctrl-C waits for the saves
    return [SweepProgress(plan.grid, planned, sizes=sizes), clean_board(), SignalCheckpointSaved(),
            *tracking_callbacks(args.mlflow, args.wandb, plan.grid, configs)]


def _trial_dirname(trial) -> str:
    """`<trial_key>_<tune id>` (a pack's: `<pack_id>_<tune id>`): the key names the row, the id
    keeps reruns' folders apart."""
    name = trial.config.get("trial_key") or trial.config["pack_id"]
    return f"{name}_{trial.trial_id}"


def run_sweep(plan: SweepPlan, args: argparse.Namespace, train_fn=None, selected: bool = False):
    """Manifests (unless `selected`: computed while a local Ray started), then the Tuner;
    returns Tune's ResultGrid. `train_fn` replaces trainer.run.loop.train (with packs:
    trainer.run.loop.train_pack) inside the trials (tests wrap the real one to inject a
    failure)."""
    from ray import tune
    resources = trial_resources(args.cpus_per_trial, args.gpus_per_trial)
    if not args.resume and not selected:
        prepare_manifests(plan.todo, resources)
    if plan.packs is not None:
        resources = pack_resources(resources, plan)
    trainable = tune.with_resources(trainable_for(plan, args, train_fn), resources)
    if not args.resume and tune.Tuner.can_restore(plan.experiment):
        print(f"note: {plan.experiment} holds an earlier sweep of this grid; this run starts its "
              f"unfinished trials afresh (--resume continues them from their checkpoints)")
    tuner = make_tuner(plan, trainable, args)
    return tuner.fit()


# --- the end ----------------------------------------------------------------------------------
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


def interrupted(plan: SweepPlan, argv: list[str]) -> int:
    """What the driver says after Ctrl-C: what finished, the command that resumes; 130."""
    from sweeps.tune.hints import resume_command
    ok = len(results.done_keys(plan.results, plan.grid, plan.cfgs))
    print(f"interrupted: {ok} of {len(plan.cfgs)} trials of grid {plan.grid} have an ok row; "
          f"the rest resume from their checkpoints with:\n  "
          f"{resume_command(argv, 'sweeps/run_grid.py')}", file=sys.stderr)
    return 130


def plot_dir(root: str) -> Path:
    """`<results>/_plots` for a local results root (`_`: stock Parquet readers of `<results>`
    pass over it, as over `_ray/` and `_samples/`); `./plots` when the rows are remote."""
    return Path("plots") if "://" in root else Path(root) / "_plots"


def _probed(base: SweepPlan, args: argparse.Namespace) -> SweepPlan:
    """--pack auto once Ray is up: sized by a memory probe on a GPU worker; by the CPU rates
    on the cluster's CPUs where it has no GPU and can add none."""
    import ray
    from sweeps.tune.capacity import can_place   # a GPU node alive, or one the cluster adds
    if args.gpus_per_trial == 0 or not can_place({"GPU": args.gpus_per_trial}):
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return with_packs(base, "auto", 0.0, slots=_slots(args, cpus))
    from sweeps.tune.probe import measure_groups
    return with_packs(base, "auto", args.gpus_per_trial, measure_groups(base.cfgs))


def _slots(args: argparse.Namespace, cpus: int) -> int:
    """Trials (or packs) that run at once on `cpus` CPUs."""
    slots = max(1, int(cpus // args.cpus_per_trial))
    return min(slots, args.max_concurrent) if args.max_concurrent else slots


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    replace_ray_hints(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # for the --resume line
    try:
        return _run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    base = plan_sweep(args)   # the pipeline: plan -> packs (auto on GPUs: probed at launch)
    pack = parse_pack(args.pack)
    packable = base.cfgs and base.adaptive is None   # adaptive seeds' trials run alone
    plan = with_packs(base, pack, args.gpus_per_trial, slots=_slots(args, os.cpu_count() or 1)) \
        if packable else base
    check_paths(plan.cfgs, plan.results, plan.grid, write=not args.dry_run)
    if args.dry_run:
        print_dry_run(plan, args.gpus_per_trial)
        return 0
    check_available(args.mlflow, args.wandb)
    if not plan.todo and not args.resume:
        print(f"grid {plan.grid}: all {len(plan.cfgs)} trials have rows; nothing to train "
              f"(--force retrains)")
    else:
        with lease.hold(plan.results, plan.grid):   # one driver per grid
            print(f"curves: tensorboard --logdir {plan.experiment}/{BOARD_DIR}")
            from sweeps.tune.progress import quiet_ray   # imports Ray: not for a dry run
            quiet_ray(args.verbose)
            selected = connect_and_select(args.address, [] if args.resume else plan.todo,
                                          log_to_driver=args.verbose)
            if pack == "auto" and packable:   # measured now, on a GPU worker when trials get GPUs
                plan = _probed(base, args)
            print_plan(plan)
            from sweeps.tune.driver_stop import fit_stoppably   # Ctrl-C: GracefulStop's
            grid_result, stopped = fit_stoppably(lambda: run_sweep(plan, args, selected=selected))
        if stopped:   # the lease is released; Tune's state and checkpoints are saved
            return interrupted(plan, args.argv)
        if grid_result.errors:
            print(f"{len(grid_result.errors)} trials failed after retries", file=sys.stderr)
    if plan.adaptive is not None:
        plan, verdicts = finish_adaptive(plan)
        print(verdicts)
    print(summarize(plan))
    if plan.note:
        print("\n" + textwrap.fill(plan.note, width=100))
    status, line = plan_status(plan)
    if line:
        print(line, file=sys.stderr)
    return status
