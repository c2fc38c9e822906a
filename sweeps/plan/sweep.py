"""A grid sweep's plan: the grid's TrialConfigs, the ones still to train, the table that says
which trial key is which config, and the --dry-run GPU-hour estimate. With adaptive seeds
(sweeps.plan.adaptive) the grid's trials are the worst case, MAX seeds a setting, and the ones
to train now those the rule asks for, replayed over the rows already on disk."""
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
from sweeps.plan.adaptive import AdaptiveRule, AdaptiveSeeds, build_rule
from trainer.config import TrialConfig
from trainer.data import dataset_info
from trainer.schedule import total_steps

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
    adaptive: AdaptiveRule | None = None   # --seeds adaptive: cfgs is then the worst case,
    untrained: list[TrialConfig] | None = None   # and these its trials without an ok row

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
    adaptive = args.seeds if isinstance(args.seeds, AdaptiveSeeds) else None
    seeds = range(adaptive.high) if adaptive else args.seeds
    cfgs = customise(cfgs, parse_sets(args.set), seeds, args.export)
    root = results.resolve_root(args.storage)
    done = set() if args.force else results.done_keys(root, grid.name, cfgs)
    todo = [cfg for cfg in cfgs if cfg.key() not in done]
    plan = SweepPlan(grid.name, root, cfgs, todo, varying_fields(cfgs) or ["seed"], grid.note)
    if adaptive:
        _plan_adaptive(plan, adaptive, args, done)
    if getattr(args, "pack", None) and cfgs:   # (auto on GPUs: measured again at launch)
        from sweeps.packs import plan_packs
        plan_packs(plan, args.pack, args.gpus_per_trial, probe=False)
    return plan


def _plan_adaptive(plan: SweepPlan, bounds: AdaptiveSeeds, args: argparse.Namespace,
                   done: set[str]) -> None:
    """The rule over the worst case, replayed over the ok rows on disk; todo: what it asks."""
    if getattr(args, "pack", None):
        raise GridError("--seeds adaptive does not combine with --pack (a pack's members are "
                        "fixed before it runs)")
    if args.target_width <= 0:
        raise GridError(f"--target-width {args.target_width:g} must be > 0")
    rows = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    plan.adaptive = build_rule(rows, plan.columns, bounds, args.target_width)
    possible = set(plan.adaptive.asked(worst=True))    # arms in no comparison: MIN seeds
    plan.cfgs = [cfg for cfg in plan.cfgs if cfg.key() in possible]
    plan.untrained = [cfg for cfg in plan.todo if cfg.key() in possible]
    plan.adaptive.step(read_outcome(plan, done))
    asked = set(plan.adaptive.asked())
    plan.todo = [cfg for cfg in plan.untrained if cfg.key() in asked]


def read_outcome(plan: SweepPlan, keys: set[str] | None = None,
                 failed_too: bool = False) -> dict[str, float | None]:
    """Trial key -> the primary metric of its ok row (analysis.schema.PROTOCOL_METRICS), for
    `keys` (default: every trial of the plan); with `failed_too`, a failed or stopped row
    gives None (the rule counts it as run)."""
    from analysis.schema import PROTOCOL_METRICS
    wanted = {c.key(): c for c in plan.cfgs if keys is None or c.key() in keys}
    out: dict[str, float | None] = {}
    for key, cfg in wanted.items():
        row = results.read_row(results.row_path(plan.results, plan.grid, cfg),
                               ("status", "protocol", "pixel_acc", "maps_pixel_acc"))
        if row.get("status") == "ok":
            value = row.get(PROTOCOL_METRICS[row["protocol"]][0])
            out[key] = float(value) if value is not None else None
        elif row and failed_too:
            out[key] = None
    return out


def finish_adaptive(plan: SweepPlan) -> str:
    """The rule replayed over the rows now on disk: which comparisons resolved, at how many
    seeds; the plan keeps the trials the rule asked for (the tables expect those, not MAX)."""
    rows = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    rule = build_rule(rows, plan.columns, plan.adaptive.bounds, plan.adaptive.target_width)
    rule.step(read_outcome(plan, failed_too=True))
    asked = set(rule.asked())
    plan.cfgs = [cfg for cfg in plan.cfgs if cfg.key() in asked]
    plan.adaptive, plan.untrained = rule, [c for c in plan.untrained or [] if c.key() in asked]
    lines = [f"- {line}" for line in rule.summary()]
    return "\n".join([f"adaptive seeds ({len(plan.cfgs)} trials asked):", *lines])


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
    untrained = {cfg.key() for cfg in plan.untrained or []}
    def state(key: str) -> str:
        if key in todo:
            return "to run"
        return "if unresolved" if key in untrained else "done"
    rows = [{"trial_key": c.key(), **{k: getattr(c, k) for k in plan.columns},
             "state": state(c.key())} for c in plan.cfgs]
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
    left = plan.untrained if plan.adaptive else plan.todo
    print(f"\ngrid {plan.grid}: {len(plan.cfgs)} trials, {len(plan.todo)} to run, "
          f"{len(plan.cfgs) - len(left)} done")
    print(f"estimate: {hours:,.1f} GPU-hours for the trials to run at {gpus_per_trial:g} GPU per "
          f"trial (H200 rates at the paper's sizes, bench/step_throughput.py; tiny sizes are "
          f"CPU-bound)")
    if plan.packs:
        from sweeps.packs import describe_packs
        print(describe_packs(plan))
    if plan.adaptive:
        print(describe_adaptive(plan, gpus_per_trial))


def describe_adaptive(plan: SweepPlan, gpus_per_trial: float) -> str:
    """The bounds and the cost of the fewest and the most trials adaptive seeds can run."""
    rule, left = plan.adaptive, plan.untrained or []
    low, high = (estimate_gpu_hours(c, gpus_per_trial) for c in (plan.todo, left))
    return (f"adaptive seeds {rule.bounds.low}-{rule.bounds.high} over "
            f"{len(rule.comparisons)} comparisons (target Δ CI width {rule.target_width:g}): "
            f"at least {len(plan.todo)} trials ({low:,.1f} GPU-hours), at most {len(left)} if no "
            f"comparison resolves ({high:,.1f} GPU-hours); the table lists the worst case")

def print_plan(plan: SweepPlan) -> None:
    """Which trial key is which config (Ray's progress table shows keys), then what runs."""
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    packed = f", in packs ({plan.pack_note})" if plan.packs else ""
    print(f"grid {plan.grid}: {len(plan.todo)} of {len(plan.cfgs)} trials to run{packed}; "
          f"rows go to {results.grid_dir(plan.results, plan.grid)}\n")
