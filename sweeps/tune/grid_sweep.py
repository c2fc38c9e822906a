"""Running a named grid (the logic behind `sweeps/run_grid.py`): plan, lease, Ray, the Tuner,
then the grid's tables and the exit status. The parser: sweeps.tune.grid_cli; the Tuner:
sweeps.tune.grid_tuner; the end: sweeps.tune.grid_report."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap

from sweeps.plan.cli_args import USER_ERRORS
from sweeps.plan.costs import print_dry_run
from sweeps.plan.packs import parse_pack, with_packs
from sweeps.plan.preflight import check_paths
from sweeps.plan.sweep import SweepPlan, finish_adaptive, plan_sweep, print_plan
from sweeps.store import lease
from sweeps.tune.board import BOARD_DIR
from sweeps.tune.grid_cli import build_parser
from sweeps.tune.grid_report import interrupted, plan_status, plot_dir, summarize
from sweeps.tune.grid_tuner import (make_tuner, param_space, run_sweep, search_alg,
                                    trainable_for, trial_points)
from sweeps.tune.hints import replace_ray_hints
from sweeps.tune.launch import connect_and_select
from sweeps.tune.tracking import check_available

__all__ = ["build_parser", "main", "run_sweep", "make_tuner", "trainable_for", "trial_points",
           "param_space", "search_alg", "summarize", "plan_status", "plot_dir", "interrupted"]


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
            return interrupted(plan, args.argv, stopped)
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
