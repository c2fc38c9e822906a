"""Packing a sweep (trainer.run.packing): which trials share one process and one fused step, how many
(`--pack K` or `--pack auto`), and what the measured rates say a packed grid costs.

The rates are the project's own measurements, one row each in `sweeps/measured_rates.csv`
(bench/pack_throughput.py and bench/step_throughput.py; the command is in each row's source).
`--pack auto` on GPUs measures the memory one member takes at the grid's sizes (a pack of two,
two steps, on a GPU worker) and fills 90 % of the card, at most 16 members; on CPUs it packs
only where the table shows packs measured faster than one trial at that size.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sweeps.grids import GridError
from trainer.config import TrialConfig
from trainer.run.packing import group_packs

if TYPE_CHECKING:
    from sweeps.plan import SweepPlan

RATES = Path(__file__).with_name("measured_rates.csv")
MAX_AUTO_PACK = 16        # members; the largest pack measured
GPU_MEMORY_SHARE = 0.9    # of the card's memory an auto-sized pack may fill
SIZE_FIELDS = ("image_size", "ngf", "n_blocks")
PAPER_SIZES = (256, 64, 9)   # image_size, ngf, n_blocks: what the GPU rows measured


@dataclass(frozen=True)
class Pack:
    id: str                   # names the pack's Tune trial; a hash of its member keys
    keys: tuple[str, ...]     # the members' trial keys, in grid order


def parse_pack(value: str) -> int | str:
    """`--pack` value: a pack size >= 1, or "auto"."""
    if value == "auto":
        return value
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise GridError(f"--pack {value!r}: give a pack size >= 1 or 'auto'")
    return size


def make_packs(cfgs: list[TrialConfig], size: int) -> list[Pack]:
    """Compatible trials in packs of at most `size` (trainer.run.packing.group_packs)."""
    packs = []
    for members in group_packs(cfgs, size):
        keys = tuple(cfg.key() for cfg in members)
        digest = hashlib.sha1(",".join(keys).encode()).hexdigest()[:12]
        packs.append(Pack(f"pack-{digest}", keys))
    return packs


# --- measured rates ---------------------------------------------------------------------------
def read_rates() -> pd.DataFrame:
    return pd.read_csv(RATES, comment="#")


def _at_size(rates: pd.DataFrame, device: str, sizes: tuple[int, ...]) -> pd.DataFrame:
    rows = rates[rates["device"] == device]
    for name, value in zip(SIZE_FIELDS, sizes):
        rows = rows[rows[name] == value]
    return rows


def sizes_of(cfg: TrialConfig) -> tuple[int, ...]:
    return tuple(getattr(cfg, name) for name in SIZE_FIELDS)


def measured_rate(device: str, sizes: tuple[int, ...], precision: str,
                  pack: int) -> float | None:
    """Trial-steps/s measured for the largest pack <= `pack` at these sizes and precision,
    or None when nothing was measured there."""
    rows = _at_size(read_rates(), device, sizes)
    rows = rows[(rows["pack"] <= pack) & (rows["precision"] == precision)]
    if rows.empty:
        return None
    return float(rows.sort_values("pack").iloc[-1]["trial_steps_per_s"])


def cpu_pack_size(cfg: TrialConfig) -> int:
    """The CPU pack size measured fastest at cfg's sizes; 1 where packs were not measured."""
    rows = _at_size(read_rates(), "cpu", sizes_of(cfg))
    if rows.empty:
        return 1
    return int(rows.sort_values("trial_steps_per_s").iloc[-1]["pack"])


def gpu_pack_size(gb_per_member: float, gb_card: float) -> int:
    """Members that fit GPU_MEMORY_SHARE of the card, within 1..MAX_AUTO_PACK."""
    return max(1, min(MAX_AUTO_PACK, math.floor(GPU_MEMORY_SHARE * gb_card / gb_per_member)))


def pack_gpu_hours(cfgs: list[TrialConfig], packs: list[Pack]) -> float:
    """GPU-hours of the packs, one GPU each, at the GPU rates measured at the paper's sizes
    (the pack's own size where measured, else the largest measured below it, else one
    trial's fp32 rate: no gain is claimed that was not measured)."""
    from trainer.run.schedule import total_steps
    by_key = {cfg.key(): cfg for cfg in cfgs}
    seconds = 0.0
    for pack in packs:
        first, k = by_key[pack.keys[0]], len(pack.keys)
        rate = (measured_rate("gpu", PAPER_SIZES, first.precision, k)
                or measured_rate("gpu", PAPER_SIZES, "fp32", 1))
        seconds += total_steps(first) * k / rate
    return seconds / 3600


# --- memory per member, measured on a GPU worker ---------------------------------------------
def probe_member_memory(row: dict) -> tuple[float, float]:
    """(GB of GPU memory per member, GB of the card): a pack of two of this config trains
    two steps on random images; peak memory over the pack, per member."""
    import torch
    from trainer.step.paper import PaperStep
    from trainer.step.state import StepRules, build_state
    cfg = TrialConfig.from_dict(row).replace(device="cuda")
    device = torch.device("cuda")
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    members = [cfg.replace(seed=k) for k in range(2)]
    step = PaperStep([build_state(c, device, 10) for c in members],
                     [StepRules.from_config(c, device) for c in members])
    images = torch.rand(1, 6, cfg.image_size, cfg.image_size, device=device) * 2 - 1
    for paired in ([True, True], [False, False]):
        step(images, images.flip(-1), paired)
    torch.cuda.synchronize(device)
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 30
    return peak / 2, torch.cuda.get_device_properties(device).total_memory / 2 ** 30


# --- choosing the size and planning the packs --------------------------------------------------
def plan_packs(plan: "SweepPlan", value: str | None, gpus_per_trial: float,
               probe: bool) -> None:
    """Set plan.packs (over every trial of the grid, so a pack's id stays the same when some of
    its members are done) and plan.pack_note. probe: measure on a GPU worker (Ray is up)."""
    if value is None:
        return
    size, plan.pack_note = pack_size(parse_pack(value), plan.cfgs[0], gpus_per_trial, probe)
    plan.packs = make_packs(plan.cfgs, size)


def pack_size(value: int | str, cfg: TrialConfig, gpus_per_trial: float,
              probe: bool) -> tuple[int, str]:
    """(members per pack, how that was chosen)."""
    if value != "auto":
        return int(value), f"--pack {value}"
    if gpus_per_trial <= 0 or (probe and _cluster_gpus() == 0):
        size = cpu_pack_size(cfg)
        return size, f"--pack auto on CPUs: {size} (fastest measured at {sizes_of(cfg)})"
    if not probe:
        rows = _at_size(read_rates(), "gpu", PAPER_SIZES)
        size = int(rows["pack"].max()) if not rows.empty else 1
        return size, (f"--pack auto on GPUs: sized at launch by measured memory; "
                      f"estimated here as {size} (the largest pack measured)")
    gb, card = _measure_on_gpu(cfg)
    size = gpu_pack_size(gb, card)
    return size, f"--pack auto: {gb:.2f} GB per member measured on a {card:.0f} GB GPU: {size}"


def _cluster_gpus() -> float:
    from sweeps.launch import largest_node
    return largest_node("GPU")


def _measure_on_gpu(cfg: TrialConfig) -> tuple[float, float]:
    import ray
    task = ray.remote(probe_member_memory).options(num_gpus=1)
    return ray.get(task.remote(cfg.to_row()))


def pack_resources(resources: dict[str, float], size: int) -> dict[str, float]:
    """One pack is one process: the CPUs of one trial, the GPU share of its members (<= 1)."""
    gpus = min(1.0, resources["gpu"] * size) if resources["gpu"] > 0 else 0.0
    return {"cpu": resources["cpu"], "gpu": gpus}


def describe_packs(plan: "SweepPlan") -> str:
    """The --dry-run lines: how the trials to run are packed, and their GPU-hours."""
    todo = {cfg.key() for cfg in plan.todo}
    packs = [p for p in plan.packs if todo & set(p.keys)]
    sizes = sorted({len(p.keys) for p in packs}, reverse=True)
    hours = pack_gpu_hours(plan.cfgs, packs)
    return (f"packs: {len(packs)} to run (sizes {', '.join(map(str, sizes)) or '-'}; "
            f"{plan.pack_note}); estimate {hours:,.1f} GPU-hours, one GPU per pack, at the "
            f"rates measured on H200s at the paper's sizes (sweeps/measured_rates.csv)")
