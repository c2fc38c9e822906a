"""Which trials may share a pack (one process, one fused step): rules over TrialConfig alone, so
a sweep plans its packs without importing torch (trainer.run.loop trains them).

Compatible = equal in every TrialConfig field except `MEMBER_FIELDS` (what a member may choose
for itself: seed, selection, budget, balance, mix, λs, pools, reporting, and the mode within
unpaired / hybrid), with the same λs switched on (a λ of 0 removes a term, and for λ_adv the
discriminator update, from the step), and — when the step count comes from the data
(`steps == 0`) — the same sample counts.
"""
from __future__ import annotations

from dataclasses import fields
from typing import Sequence

from trainer.core.config import LAMBDAS, TrialConfig


class PackError(ValueError):
    """Trials that cannot share a pack; the message names the field."""

# Fields a member may choose for itself; every other field shapes the fused computation.
MEMBER_FIELDS = frozenset({
    "mode", "seed", "selection", "pool_selection", "features", "paired_budget", "unpaired",
    "balance", "mix", *LAMBDAS, "image_pool", "unpaired_labels", "unpaired_labels_root",
    "report_every", "checkpoint_every", "eval_every", "curve_every"})
STEP_COUNT_FIELDS = ("mode", "paired_budget", "unpaired", "balance")  # default step count


def packable(cfg: TrialConfig) -> bool:
    """Whether the fused step computes this trial (else it runs as a pack of one): the
    paper's step on the ResNet generator and PatchGAN (trainer.step.build picks the Step)."""
    return cfg.variant == "paper" and cfg.arch == "resnet"


def pack_key(cfg: TrialConfig) -> tuple:
    """Configs with equal keys may share a pack (see the module docstring)."""
    shared = tuple((f.name, getattr(cfg, f.name)) for f in fields(cfg)
                   if f.name not in MEMBER_FIELDS)
    switched_on = tuple(getattr(cfg, name) > 0 for name in LAMBDAS)
    counts = tuple(getattr(cfg, n) for n in STEP_COUNT_FIELDS) if cfg.steps == 0 else ()
    # modes unpaired and hybrid share the step's terms (an unpaired member's slots are never
    # paired); mode paired has no cycle or identity terms
    return shared + (("paired_only", cfg.mode == "paired"), ("lambdas_on", switched_on),
                     ("step_counts", counts))


def group_packs(cfgs: Sequence[TrialConfig], size: int) -> list[list[TrialConfig]]:
    """Compatible configs in packs of at most `size`, in first-seen order; a config the fused
    step does not support is a pack of one."""
    if size < 1:
        raise ValueError(f"pack size {size} must be >= 1")
    groups: dict[tuple, list[TrialConfig]] = {}
    packs: list[list[TrialConfig]] = []
    for cfg in cfgs:
        if not packable(cfg) or size == 1:
            packs.append([cfg])
            continue
        group = groups.setdefault(pack_key(cfg), [])
        if not group:
            packs.append(group)
        group.append(cfg)
        if len(group) == size:
            del groups[pack_key(cfg)]
    return packs


def check_compatible(cfgs: Sequence[TrialConfig]) -> None:
    """PackError naming the first field on which a member differs from the first member."""
    first = cfgs[0]
    for cfg in cfgs:
        if not packable(cfg) and len(cfgs) > 1:
            raise PackError(f"trial {cfg.key()} cannot be packed (variant / arch)")
        for (name, a), (_, b) in zip(pack_key(first), pack_key(cfg)):
            if a != b:
                raise PackError(f"trials {first.key()} and {cfg.key()} cannot share a pack: "
                                 f"{name} {a!r} != {b!r}")
