"""A grid sweep's plan: the grid's TrialConfigs, the ones still to train, and the table that
says which trial key is which config. The first stage of a one-way pipeline: plan_sweep ->
sweeps.plan.packs.with_packs (a new plan with packs) -> sweeps.plan.costs (the dry run's
lines) or sweeps.ray.grid_sweep (the Tuner); no stage changes a plan it was given."""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pandas as pd

from sweeps.store import results
from sweeps.plan.cli_args import check_args
from sweeps.plan.custom import customise, load_grid_file, parse_sets
from sweeps.plan.grids import (Grid, GridError, expand, get_grid, parse_labels_roots, parse_weights,
                          varying_fields)
from sweeps.store.paths import RAY_DIR, absolute
from trainer.core.config import TrialConfig
from trainer.data import dataset_info


# --- the plan ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepPlan:
    grid: str
    results: str               # absolute results root or URI
    cfgs: list[TrialConfig]    # every trial of the grid
    todo: list[TrialConfig]    # the ones to train now
    columns: list[str]         # fields that vary across the grid
    note: str = ""             # the grid's own caveat, printed at the end
    packs: list | None = None  # sweeps.plan.packs.Pack list (--pack), over every trial of the grid
    pack_note: str = ""        # how the pack size was chosen
    pack_gpus: float | None = None   # GPU share per pack from a memory probe; None: by
                                     # --gpus-per-trial

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
    return SweepPlan(grid.name, root, cfgs, todo, varying_fields(cfgs) or ["seed"], grid.note)


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


def print_plan(plan: SweepPlan) -> None:
    """Which trial key is which config (Ray's progress table shows keys), then what runs."""
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    packed = f", in packs ({plan.pack_note})" if plan.packs else ""
    print(f"grid {plan.grid}: {len(plan.todo)} of {len(plan.cfgs)} trials to run{packed}; "
          f"rows go to {results.grid_dir(plan.results, plan.grid)}\n")
