"""The one learning-rate rule: lr(step) = cfg.lr x factor(step), applied after every step.

The paper's step: constant for the first half of the schedule, then linear to 0 (`lr_factor`).
The released code and pix2pix change their lr once an epoch (`epoch_lr_factor`), as their
authors' code does. `lr_rule` picks between them from the config; every Step builds its
schedulers from it, whatever K.
"""
from __future__ import annotations

import math
from typing import Callable


def lr_rule(cfg, total: int, epoch_length: int = 0) -> Callable[[int], float]:
    """step (0-based) -> multiplier of cfg.lr: per epoch of `epoch_length` steps for the
    released variant and pix2pix (when the epoch is known), else per step."""
    per_epoch = epoch_length and (cfg.variant == "released" or cfg.arch == "pix2pix")
    if per_epoch:
        return lambda step: epoch_lr_factor(step, total, epoch_length)
    return lambda step: lr_factor(step, total)


def epoch_lr_factor(step: int, total: int, epoch_length: int) -> float:
    """Multiplier of the base lr at `step` (0-based) when the lr changes once an epoch, as in
    pix2pix / CycleGAN's `lambda_rule` (epoch_count 1): of E = ceil(total / epoch_length)
    epochs the first n = E - E // 2 run at 1, then epoch e (0-based) at 1 - (e + 1 - n) /
    (E // 2 + 1), the last at 1 / (E // 2 + 1). The released code's 2018 copy adds one more
    epoch inside the max (its decay starts an epoch early and its last epoch runs at lr 0);
    fewpair keeps the rule above (docs/fidelity.md)."""
    epochs = max(1, math.ceil(total / max(1, epoch_length)))
    decay = epochs // 2
    constant = epochs - decay
    epoch = step // max(1, epoch_length)
    return 1.0 - max(0, epoch + 1 - constant) / (decay + 1)


def lr_factor(step: int, total: int) -> float:
    """Multiplier of the base lr at `step` (0-based): 1 for the first half, then linear to 0 at
    `total` (the paper's "fixed for half the total epochs, then linearly decays to zero")."""
    half = total // 2
    if step < half:
        return 1.0
    return max(0.0, (total - step) / max(1, total - half))
