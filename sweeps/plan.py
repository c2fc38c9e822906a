"""A grid sweep's plan: the grid's TrialConfigs, the ones still to train, the table that says
which trial key is which config, and the --dry-run GPU-hour estimate."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pandas as pd

from sweeps import results
from sweeps.cli_args import absolute, check_args
from sweeps.custom import customise, load_grid_file, parse_sets
from sweeps.grids import (Grid, GridError, expand, get_grid, parse_labels_roots, parse_weights,
                          varying_fields)
from sweeps.launch import RAY_DIR
from trainer.config import TrialConfig
from trainer.data import dataset_info
from trainer.run.schedule import total_steps

# Aggregate generator steps/s of one GPU by trials sharing it (bench/step_throughput.py on an
# H200, fp32, 256², the paper's networks): 1 trial 11-15, 4 trials 26 in total. Used only by
# the --dry-run estimate.
GPU_STEPS_PER_S = {1: 13.0, 4: 26.0}


# --- the plan ---------------------------------------------------------------------------------
@dataclass
class SweepPlan:
    grid: str
    results: str               # absolute results root or URI
    cfgs: list[TrialConfig]    # every trial of the grid
    todo: list[TrialConfig]    # the ones to train now
    columns: list[str]         # fields that vary across the grid
    note: str = ""             # the grid's own caveat, printed at the end
    packs: list | None = None  # sweeps.packs.Pack list (--pack), over every trial of the grid
    pack_note: str = ""        # how the pack size was chosen

    @property
    def experiment(self) -> str:
        return f"{self.results.rstrip('/')}/{RAY_DIR}/{self.grid}"


def plan_sweep(args: argparse.Namespace) -> SweepPlan:
    check_args(args)
    grid = _grid(args)
    dataset_info(grid.dataset)   # an unknown dataset fails here, listing the valid ones
    weights = parse_weights(args.weights) if args.weights else None
    labels_roots = {name: absolute(path)
                    for name, path in parse_labels_roots(args.labels_root, grid).items()}
    cfgs = expand(grid, data_root=absolute(args.data_root), weights=weights,
                  labels_roots=labels_roots)
    cfgs = customise(cfgs, parse_sets(args.set), args.seeds, args.export)
    root = results.resolve_root(args.storage)
    done = set() if args.force else results.done_keys(root, grid.name, cfgs)
    todo = [cfg for cfg in cfgs if cfg.key() not in done]
    plan = SweepPlan(grid.name, root, cfgs, todo, varying_fields(cfgs) or ["seed"], grid.note)
    if getattr(args, "pack", None) and cfgs:   # (auto on GPUs: measured again at launch)
        from sweeps.packs import plan_packs
        plan_packs(plan, args.pack, args.gpus_per_trial, probe=False)
    return plan


def _grid(args: argparse.Namespace) -> Grid:
    """The registered grid --grid names, or the one --grid-file describes, on --dataset."""
    if not args.grid_file:
        return get_grid(args.grid or "demo", args.dataset)
    if args.grid:
        raise GridError("give --grid or --grid-file, not both")
    grid = load_grid_file(args.grid_file)
    return dataclasses.replace(grid, dataset=args.dataset) if args.dataset else grid


def plan_table(plan: SweepPlan) -> pd.DataFrame:
    todo = {cfg.key() for cfg in plan.todo}
    rows = [{"trial_key": c.key(), **{k: getattr(c, k) for k in plan.columns},
             "state": "to run" if c.key() in todo else "done"} for c in plan.cfgs]
    table = pd.DataFrame(rows)
    if plan.packs:
        pack_of = {key: p.id for p in plan.packs for key in p.keys}
        table["pack"] = table["trial_key"].map(pack_of)
    return table


def estimate_gpu_hours(cfgs: list[TrialConfig], gpus_per_trial: float) -> float:
    """GPU-hours of `cfgs` at the paper's sizes: steps / aggregate steps/s of a shared GPU."""
    per_gpu = max(1, round(1 / gpus_per_trial)) if gpus_per_trial > 0 else 1
    rate = GPU_STEPS_PER_S[1] + (GPU_STEPS_PER_S[4] - GPU_STEPS_PER_S[1]) * min(per_gpu - 1, 3) / 3
    return sum(total_steps(cfg) for cfg in cfgs) / rate / 3600


def print_dry_run(plan: SweepPlan, gpus_per_trial: float) -> None:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    hours = estimate_gpu_hours(plan.todo, gpus_per_trial)
    print(f"\ngrid {plan.grid}: {len(plan.cfgs)} trials, {len(plan.todo)} to run, "
          f"{len(plan.cfgs) - len(plan.todo)} done")
    print(f"estimate: {hours:,.1f} GPU-hours for the trials to run at {gpus_per_trial:g} GPU per "
          f"trial (H200 rates at the paper's sizes, bench/step_throughput.py; tiny sizes are "
          f"CPU-bound)")
    if plan.packs:
        from sweeps.packs import describe_packs
        print(describe_packs(plan))


def print_plan(plan: SweepPlan) -> None:
    """Which trial key is which config (Ray's progress table shows keys), then what runs."""
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    packed = f", in packs ({plan.pack_note})" if plan.packs else ""
    print(f"grid {plan.grid}: {len(plan.todo)} of {len(plan.cfgs)} trials to run{packed}; "
          f"rows go to {results.grid_dir(plan.results, plan.grid)}\n")
