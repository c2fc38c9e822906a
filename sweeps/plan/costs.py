"""What a planned sweep costs, for `--dry-run`: unpacked and packed from the same measured rates
(sweeps/plan/measured_rates.csv), so the two lines agree.

A trial is CPU-sized where the table has CPU rows at its sizes (image_size, ngf, n_blocks) or
where trials get no GPU: it costs CPU-hours (core-hours: the CPU rows are one process on one
thread) on the machine it runs on, and the line adds the wall time on this machine's cores. Any
other trial is GPU-sized and costs GPU-hours: a pack (or a trial alone) takes one GPU at the rate
measured for its size, precision and pack size, else the largest pack measured below it, else a
trial alone in fp32 -- no gain is claimed that was not measured; where its sizes were never
measured on a GPU, the paper's sizes' rates stand in (an upper bound for smaller trials).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import pandas as pd

from sweeps.plan.packs import PAPER_SIZES, at_sizes, measured_rate, read_rates, sizes_of
from sweeps.plan.sweep import SweepPlan, plan_table
from trainer.core.config import TrialConfig
from trainer.run.schedule import total_steps


@dataclass(frozen=True)
class Cost:
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0          # core-hours
    unmeasured: int = 0             # CPU-sized trials with no CPU rate at their sizes
    longest_cpu_hours: float = 0.0  # the longest single process: the least wall time

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.gpu_hours + other.gpu_hours, self.cpu_hours + other.cpu_hours,
                    self.unmeasured + other.unmeasured,
                    max(self.longest_cpu_hours, other.longest_cpu_hours))


def cpu_sized(cfg: TrialConfig, gpus_per_trial: float, rates: pd.DataFrame) -> bool:
    return gpus_per_trial <= 0 or not at_sizes(rates, "cpu", sizes_of(cfg)).empty


def group_cost(members: list[TrialConfig], gpus_per_trial: float, rates: pd.DataFrame) -> Cost:
    """One process training `members` together (one member: a trial alone). Members of a pack
    share their step count (trainer.core.packing)."""
    first, k = members[0], len(members)
    trial_steps = total_steps(first) * k
    if cpu_sized(first, gpus_per_trial, rates):
        rate = measured_rate("cpu", sizes_of(first), "fp32", k, rates)
        hours = trial_steps / rate / 3600 if rate else 0.0
        return Cost(cpu_hours=hours, longest_cpu_hours=hours) if rate else Cost(unmeasured=k)
    sizes = sizes_of(first) if not at_sizes(rates, "gpu", sizes_of(first)).empty else PAPER_SIZES
    rate = (measured_rate("gpu", sizes, first.precision, k, rates)
            or measured_rate("gpu", sizes, "fp32", 1, rates)
            or measured_rate("gpu", PAPER_SIZES, "fp32", 1, rates))
    return Cost(gpu_hours=trial_steps / rate / 3600)


def unpacked_cost(plan: SweepPlan, gpus_per_trial: float) -> Cost:
    rates = read_rates()
    return sum((group_cost([cfg], gpus_per_trial, rates) for cfg in plan.todo), Cost())


def packed_cost(plan: SweepPlan, gpus_per_trial: float) -> Cost:
    """The packs with a member to train, each training only those members."""
    rates, todo = read_rates(), {cfg.key(): cfg for cfg in plan.todo}
    groups = [[todo[k] for k in p.keys if k in todo] for p in plan.packs]
    return sum((group_cost(g, gpus_per_trial, rates) for g in groups if g), Cost())


def describe(cost: Cost, cores: int) -> str:
    parts = []
    if cost.gpu_hours:
        parts.append(f"{cost.gpu_hours:,.1f} GPU-hours (one GPU per pack or trial, at the rates "
                     f"measured on H200s)")
    if cost.cpu_hours:
        wall = max(cost.cpu_hours / cores, cost.longest_cpu_hours)   # no process on 2 cores
        parts.append(f"{cost.cpu_hours:,.2f} CPU-hours (one core per pack or trial; "
                     f"~{wall * 60:,.0f} min on this machine's {cores} cores)")
    if cost.unmeasured:
        parts.append(f"{cost.unmeasured} trials at sizes without a measured CPU rate")
    return " + ".join(parts) or "nothing to run"


def cost_lines(plan: SweepPlan, gpus_per_trial: float, cores: int | None = None) -> list[str]:
    """The dry run's estimate: unpacked, and packed when the plan has packs."""
    cores = cores or os.cpu_count() or 1
    lines = [f"estimate, unpacked: {describe(unpacked_cost(plan, gpus_per_trial), cores)}"]
    if plan.packs:
        todo = {cfg.key() for cfg in plan.todo}
        packs = [p for p in plan.packs if todo & set(p.keys)]
        sizes = sorted({len(p.keys) for p in packs}, reverse=True)
        lines.append(f"estimate, packed:   {describe(packed_cost(plan, gpus_per_trial), cores)}")
        lines.append(f"packs: {len(packs)} to run (sizes {', '.join(map(str, sizes)) or '-'}; "
                     f"{plan.pack_note})")
    elif plan.pack_note:
        lines.append(f"packs: none ({plan.pack_note})")
    lines.append("rates: sweeps/plan/measured_rates.csv")
    return lines


def describe_adaptive(plan: SweepPlan, gpus_per_trial: float, cores: int | None = None) -> str:
    """The bounds and the cost of the fewest and the most trials adaptive seeds can run."""
    cores = cores or os.cpu_count() or 1
    rule, left = plan.adaptive, plan.untrained or []
    low, high = (describe(unpacked_cost(dataclasses.replace(plan, todo=c), gpus_per_trial), cores)
                 for c in (plan.todo, left))
    return (f"adaptive seeds {rule.bounds.low}-{rule.bounds.high} over "
            f"{len(rule.comparisons)} comparisons (target Δ CI width {rule.target_width:g}): "
            f"at least {len(plan.todo)} trials ({low}), at most {len(left)} if no comparison "
            f"resolves ({high}); the table lists the worst case")


def print_dry_run(plan: SweepPlan, gpus_per_trial: float) -> None:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    left = plan.untrained if plan.adaptive else plan.todo
    print(f"\ngrid {plan.grid}: {len(plan.cfgs)} trials, {len(plan.todo)} to run, "
          f"{len(plan.cfgs) - len(left)} done")
    print("\n".join(cost_lines(plan, gpus_per_trial)))
    if plan.adaptive:
        print(describe_adaptive(plan, gpus_per_trial))
