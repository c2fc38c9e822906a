"""The chaos floor: how far two float64 runs of one trial may drift apart when they differ only
by rounding.

A pack computes a trial's step with other kernels (grouped convolutions, stacked Adam) than the
trial alone, so the two agree to rounding after one step (3e-16..3e-14) and then drift apart as
GAN training amplifies that rounding. How far they drift depends on the CPU's kernels (AVX-512,
AVX2 and the default path round differently), so a fixed bound holds on one machine and fails on
the next. The bound used here is measured in the same test on the same machine instead: the
trial alone is trained a second time with one weight nudged by one ulp, and the drift that
produces over the same steps, group by group (each network's weights, the biases that feed an
instance norm, each Adam moment), is the floor. A pack may differ from the trial alone by at
most FLOOR_FACTOR times it. A real difference in the step (a wrong λ, a skipped term, a pool
drawn in the wrong order) moves parameters by ~lr = 2e-4 per step, far above any floor.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from trainer.run.loop import PackRun
from trainer.run.trial import TrialRun
from trainer.step.checkpoint import CHECKPOINT_FILE

FLOOR_FACTOR = 10.0
# One float64 step: rounding only, nothing amplified yet (measured 3e-16..3e-14).
ONE_STEP_BOUND = 1e-12
NETS = ("g", "f", "d_y", "d_x")
OPTIMIZERS = ("opt_gen", "opt_disc")


def checkpoint(workdir: str | Path) -> dict:
    return torch.load(Path(workdir) / "checkpoint" / CHECKPOINT_FILE, weights_only=True)


def norm_fed(module: nn.Module) -> set[str]:
    """Parameter names of the conv biases that feed an instance norm. Their true gradient is
    exactly zero (the norm subtracts the channel mean), so they hold float noise that Adam
    amplifies (update ~ lr * g / eps for |g| << eps) and that no output depends on: they are a
    group of their own, with their own (larger) floor."""
    names = set()
    for prefix, seq in module.named_modules():
        if isinstance(seq, nn.Sequential):
            children = list(seq.named_children())
            for (name, layer), (_, after) in zip(children, children[1:]):
                if isinstance(after, nn.InstanceNorm2d) and getattr(layer, "bias", None) is not None:
                    names.add(f"{prefix + '.' if prefix else ''}{name}.bias")
    return names


def groups(ckpt: dict, noise: dict[str, set[str]]) -> dict[str, list[torch.Tensor]]:
    """A checkpoint's tensors by group: 'g', 'g.norm_fed_bias', ..., 'opt_gen.exp_avg', ...
    (`noise`: each network's norm_fed names)."""
    out: dict[str, list[torch.Tensor]] = {}
    for net in NETS:
        for name, tensor in ckpt["nets"][net].items():
            if tensor.is_floating_point():
                group = f"{net}.norm_fed_bias" if name in noise[net] else net
                out.setdefault(group, []).append(tensor)
    for opt in OPTIMIZERS:
        for index in sorted(ckpt[opt]["state"]):
            for moment in ("exp_avg", "exp_avg_sq"):
                out.setdefault(f"{opt}.{moment}", []).append(ckpt[opt]["state"][index][moment])
    return out


def drift(a: dict, b: dict, noise: dict[str, set[str]]) -> dict[str, float]:
    """The largest absolute difference between two checkpoints of one trial, per group."""
    ga, gb = groups(a, noise), groups(b, noise)
    assert ga.keys() == gb.keys()
    return {g: max((x - y).abs().max().item() for x, y in zip(ga[g], gb[g])) for g in ga}


def nudged_checkpoint(cfg, workdir: str | Path, report=None) -> dict:
    """Train `cfg` alone with the first weight of G moved by one ulp before the first step
    (its reports to `report`, no final evaluation); its final checkpoint."""
    trial = TrialRun(cfg, workdir, report)
    weight = next(trial.state.g.parameters()).view(-1)   # (before the step copies it in)
    with torch.no_grad():
        weight[0] = torch.nextafter(weight[0], torch.tensor(float("inf"), dtype=weight.dtype))
    run = PackRun([trial])
    while not run.done:
        run.advance()
    return checkpoint(workdir)


class Floor:
    """The measured floor of one trial: `check(alone, other)` asserts that every group of
    `other` lies within FLOOR_FACTOR x the drift of a 1-ulp nudge (and never asks for less
    than the one-step rounding bound)."""

    def __init__(self, alone: dict, nudged: dict, noise: dict[str, set[str]]):
        self.noise = noise
        self.floor = drift(alone, nudged, noise)

    def check(self, alone: dict, other: dict) -> dict[str, float]:
        diffs = drift(alone, other, self.noise)
        for group, diff in diffs.items():
            bound = max(FLOOR_FACTOR * self.floor[group], ONE_STEP_BOUND)
            assert diff <= bound, (group, diff, "floor", self.floor[group])
        return diffs
