"""Packing a sweep (trainer.core.packing): which trials share one process and one fused step, and how
many (`--pack K`, or `--pack auto`, the default) -- a stage after planning: it takes a
SweepPlan and returns a new one with its packs; nothing else changes a plan.

The rates are the project's own measurements, one row each in `sweeps/plan/measured_rates.csv`
(bench/pack_throughput.py and bench/step_throughput.py; the command is in each row's source).
`--pack auto` sizes every group of trials of equal sizes (image_size, ngf, n_blocks) apart:
on CPUs, the pack size measured fastest at those sizes (1 where packs were not measured, or
not faster); on GPUs, what fits the card by a probe of the real member on a GPU worker
(sweeps.tune.probe: its banks, evaluation and workspaces included), keeping GPU_SAFETY of the
memory free, at most the largest pack measured on a GPU; each pack then asks for the share of
a GPU its memory justifies (a whole one unless two or more such packs fit a card).
Imports neither Ray nor torch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sweeps.plan.grids import GridError
from sweeps.plan.sweep import SweepPlan
from trainer.core.config import TrialConfig
from trainer.core.packing import group_packs

RATES = Path(__file__).with_name("measured_rates.csv")
GPU_SAFETY = 0.10         # of the card's memory an auto-sized pack leaves free (allocator
                          # fragmentation, cuDNN workspaces that differ from the probe's)
SIZE_FIELDS = ("image_size", "ngf", "n_blocks")
PAPER_SIZES = (256, 64, 9)   # image_size, ngf, n_blocks: what the GPU rows measured


@dataclass(frozen=True)
class MemoryProbe:
    """What one pack at a group's sizes takes on a GPU (sweeps.tune.probe measures it)."""
    fixed_gb: float           # the process's own: CUDA context, the evaluation judge, ...
    member_gb: float          # each member: networks, Adam, banks, pools, evaluation buffers
    card_gb: float            # the GPU's memory

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


def make_packs(cfgs: list[TrialConfig], size: int | dict[tuple, int]) -> list[Pack]:
    """Compatible trials in packs of at most `size` (trainer.core.packing.group_packs), or of
    `size[sizes_of(cfg)]` per group of equal sizes; in the grid's order of first members."""
    sizes = size if isinstance(size, dict) else {sizes_of(c): size for c in cfgs}
    order = {cfg.key(): i for i, cfg in enumerate(cfgs)}
    packs = []
    for group_sizes, k in sizes.items():
        group = [cfg for cfg in cfgs if sizes_of(cfg) == group_sizes]
        for members in group_packs(group, k):
            keys = tuple(cfg.key() for cfg in members)
            digest = hashlib.sha1(",".join(keys).encode()).hexdigest()[:12]
            packs.append(Pack(f"pack-{digest}", keys))
    return sorted(packs, key=lambda p: order[p.keys[0]])


# --- measured rates ---------------------------------------------------------------------------
def read_rates() -> pd.DataFrame:
    return pd.read_csv(RATES, comment="#")


def at_sizes(rates: pd.DataFrame, device: str, sizes: tuple[int, ...]) -> pd.DataFrame:
    """The rows measured on `device` at these (image_size, ngf, n_blocks)."""
    rows = rates[rates["device"] == device]
    for name, value in zip(SIZE_FIELDS, sizes):
        rows = rows[rows[name] == value]
    return rows


def sizes_of(cfg: TrialConfig) -> tuple[int, ...]:
    return tuple(getattr(cfg, name) for name in SIZE_FIELDS)


def measured_rate(device: str, sizes: tuple[int, ...], precision: str, pack: int,
                  rates: pd.DataFrame | None = None) -> float | None:
    """Trial-steps/s measured for the largest pack <= `pack` at these sizes and precision,
    or None when nothing was measured there."""
    rows = at_sizes(read_rates() if rates is None else rates, device, sizes)
    rows = rows[(rows["pack"] <= pack) & (rows["precision"] == precision)]
    if rows.empty:
        return None
    return float(rows.sort_values("pack").iloc[-1]["trial_steps_per_s"])


def largest_measured_pack(device: str) -> int:
    """The cap on an auto-sized pack: the largest pack measured on `device` (any sizes)."""
    rows = read_rates()
    rows = rows[rows["device"] == device]
    return int(rows["pack"].max()) if not rows.empty else 1


def cpu_pack_size(sizes: tuple[int, ...], trials: int, slots: int) -> int:
    """The CPU pack size that trains `trials` of these sizes soonest on `slots` processes at
    once (one core each). Every size up to the largest measured is tried as `group_packs` would
    cut it (packs of k and one of the rest), the packs placed longest first on the least-loaded
    slot, each pack at the rate measured for the largest pack not above it (no gain claimed
    that was not measured). 1 where packs were not measured, or where none beats trials alone;
    the smaller size on a tie."""
    rows = at_sizes(read_rates(), "cpu", sizes)
    rows = rows[rows["precision"] == "fp32"]
    if rows.empty:
        return 1

    cap = max(1, min(trials, int(rows["pack"].max())))
    rate = {m: measured_rate("cpu", sizes, "fp32", m, rows) for m in range(1, cap + 1)}

    def wall(k: int) -> float:   # seconds per step of every trial
        cut = [k] * (trials // k) + ([trials % k] if trials % k else [])
        loads = [0.0] * slots
        for members in sorted(cut, reverse=True):
            loads[loads.index(min(loads))] += members / rate[members]
        return max(loads)
    return min(range(1, cap + 1), key=lambda k: (wall(k), k))


def gpu_pack_size(probe: MemoryProbe, cap: int) -> int:
    """Members that fit (1 - GPU_SAFETY) of the card beside the process's own memory, 1..cap."""
    room = (1 - GPU_SAFETY) * probe.card_gb - probe.fixed_gb
    return max(1, min(cap, math.floor(room / probe.member_gb)))


def gpu_share(probe: MemoryProbe, members: int) -> float:
    """The GPU fraction one pack of `members` asks for: 1 / (how many such packs fit a card's
    (1 - GPU_SAFETY)) -- a whole GPU unless two or more fit, so Ray never places two packs
    that each fill most of a card on one GPU."""
    pack_gb = probe.fixed_gb + members * probe.member_gb
    fit = math.floor((1 - GPU_SAFETY) * probe.card_gb / pack_gb)
    return 1.0 if fit < 2 else 1.0 / fit


# --- the packing stage -------------------------------------------------------------------------
def size_groups(cfgs: list[TrialConfig]) -> dict[tuple[int, ...], int]:
    """The distinct (image_size, ngf, n_blocks) of the plan's trials, in grid order, and how
    many trials each has."""
    groups: dict[tuple[int, ...], int] = {}
    for cfg in cfgs:
        groups[sizes_of(cfg)] = groups.get(sizes_of(cfg), 0) + 1
    return groups


def with_packs(plan: SweepPlan, value: int | str, gpus_per_trial: float,
               probes: dict[tuple, MemoryProbe] | None = None, slots: int = 1) -> SweepPlan:
    """A new plan whose trials are packed (over every trial of the grid, so a pack's id stays
    the same when some of its members are done); `plan` is not changed. `value`: a pack size
    or "auto"; `probes`: memory measured per size group on a GPU (None: not measured -- the
    dry run, or trials without GPUs); `slots`: the trials that run at once on CPUs. Where
    every pack would hold one trial, the plan stays unpacked (each trial its own Tune trial)."""
    groups = size_groups(plan.cfgs)
    if value != "auto":
        sizes, note, share = {g: int(value) for g in groups}, f"--pack {value}", None
    elif probes is not None and gpus_per_trial > 0:
        sizes, note, share = _probed_sizes(probes)
    else:
        sizes, note, share = _rated_sizes(groups, slots, gpus_per_trial > 0)
    packs = make_packs(plan.cfgs, sizes)
    if all(len(p.keys) == 1 for p in packs):
        return dataclasses.replace(plan, packs=None, pack_note=f"{note}: no packs", pack_gpus=None)
    return dataclasses.replace(plan, packs=packs, pack_note=note, pack_gpus=share)


def _rated_sizes(groups: dict[tuple, int], slots: int, gpus: bool) -> tuple[dict, str, None]:
    """By the rates table: CPU-sized groups (CPU rows at their sizes, or no GPUs) by the CPU
    rates; on GPUs, before the probe (the dry run), the largest pack measured on a GPU."""
    cap, rates = largest_measured_pack("gpu"), read_rates()
    sizes, how = {}, {}
    for g, n in groups.items():
        if not gpus or not at_sizes(rates, "cpu", g).empty:
            sizes[g], how[g] = cpu_pack_size(g, n, slots), f"soonest done on {slots} cores"
        else:
            sizes[g], how[g] = cap, "largest measured on a GPU; probed at launch"
    text = "; ".join(f"{k} at {size_text(g)} ({how[g]})" for g, k in sizes.items())
    return sizes, f"--pack auto: {text}", None


def _probed_sizes(probes: dict[tuple, MemoryProbe]) -> tuple[dict, str, float]:
    """By the memory probes: what fits each card, and the GPU share of the largest pack."""
    cap = largest_measured_pack("gpu")
    sizes = {g: gpu_pack_size(probe, cap) for g, probe in probes.items()}
    measured = {g: p for g, p in probes.items() if math.isfinite(p.member_gb)}
    share = max((gpu_share(p, sizes[g]) for g, p in measured.items()), default=1.0)
    text = "; ".join(f"{p.fixed_gb:.1f} + {p.member_gb:.2f} GB per member at {size_text(g)} "
                     f"on a {p.card_gb:.0f} GB GPU: {sizes[g]}" for g, p in measured.items())
    return sizes, f"--pack auto: {text} ({GPU_SAFETY:.0%} kept free; {share:g} GPU per pack)", share


def size_text(sizes: tuple[int, ...]) -> str:
    image, ngf, blocks = sizes
    return f"{image}x{image} ngf {ngf} {blocks} blocks"


def pack_resources(resources: dict[str, float], plan: SweepPlan) -> dict[str, float]:
    """One pack is one process: the CPUs of one trial; the GPU share its measured memory
    justifies (plan.pack_gpus), else its members' --gpus-per-trial, at most one GPU."""
    if resources["gpu"] <= 0:
        return {"cpu": resources["cpu"], "gpu": 0.0}
    if plan.pack_gpus is not None:
        return {"cpu": resources["cpu"], "gpu": plan.pack_gpus}
    size = max(len(p.keys) for p in plan.packs)
    return {"cpu": resources["cpu"], "gpu": min(1.0, resources["gpu"] * size)}
