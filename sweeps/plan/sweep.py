"""A grid sweep's plan: the grid's TrialConfigs, the ones still to train, and the table that
says which trial key is which config. The first stage of a one-way pipeline: plan_sweep ->
sweeps.plan.packs.with_packs (a new plan with packs) -> sweeps.plan.costs (the dry run's
lines) or sweeps.tune.grid_sweep (the Tuner); no stage changes a plan it was given.
With adaptive seeds (sweeps.plan.adaptive) the grid's trials are the worst case, MAX seeds a
setting, and the ones to train now those the rule asks for, replayed over the rows on disk."""
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
from sweeps.plan.adaptive import AdaptiveRule, AdaptiveSeeds, build_rule
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
    return _plan_adaptive(plan, adaptive, args, done) if adaptive else plan


def _plan_adaptive(plan: SweepPlan, bounds: AdaptiveSeeds, args: argparse.Namespace,
                   done: set[str]) -> SweepPlan:
    """The rule over the worst case, replayed over the ok rows on disk; todo: what it asks.
    Its trials run alone: a pack's members are fixed before it runs (sweeps.tune.grid_sweep
    packs no adaptive plan; an explicit --pack K > 1 is refused)."""
    if str(getattr(args, "pack", "auto")) not in ("auto", "1"):
        raise GridError(f"--seeds adaptive does not combine with --pack {args.pack} (a pack's "
                        f"members are fixed before it runs); its trials run alone")
    if args.target_width <= 0:
        raise GridError(f"--target-width {args.target_width:g} must be > 0")
    rows = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    rule = build_rule(rows, plan.columns, bounds, args.target_width)
    possible = set(rule.asked(worst=True))    # arms in no comparison: MIN seeds
    plan = dataclasses.replace(plan, cfgs=[c for c in plan.cfgs if c.key() in possible],
                               untrained=[c for c in plan.todo if c.key() in possible],
                               adaptive=rule)
    rule.step(read_outcome(plan, done))
    asked = set(rule.asked())
    return dataclasses.replace(plan, todo=[c for c in plan.untrained if c.key() in asked])


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


def finish_adaptive(plan: SweepPlan) -> tuple[SweepPlan, str]:
    """The rule replayed over the rows now on disk: which comparisons resolved, at how many
    seeds (a text); and a plan of the trials the rule asked for (the tables expect those, not
    MAX)."""
    rows = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    rule = build_rule(rows, plan.columns, plan.adaptive.bounds, plan.adaptive.target_width)
    rule.step(read_outcome(plan, failed_too=True))
    asked = set(rule.asked())
    plan = dataclasses.replace(plan, cfgs=[c for c in plan.cfgs if c.key() in asked],
                               untrained=[c for c in plan.untrained or [] if c.key() in asked],
                               adaptive=rule)
    lines = [f"- {line}" for line in rule.summary()]
    return plan, "\n".join([f"adaptive seeds ({len(plan.cfgs)} trials asked):", *lines])


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


def print_plan(plan: SweepPlan) -> None:
    """Which trial key is which config (Ray's progress table shows keys), then what runs."""
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    packed = f", in packs ({plan.pack_note})" if plan.packs else ""
    print(f"grid {plan.grid}: {len(plan.todo)} of {len(plan.cfgs)} trials to run{packed}; "
          f"rows go to {results.grid_dir(plan.results, plan.grid)}\n")
