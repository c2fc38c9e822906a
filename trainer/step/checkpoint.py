"""A trial's checkpoint: one payload dict (`state_payload`) written and read behind two
functions, `write_checkpoint(payload, folder)` and `load_checkpoint(state, folder)`, the only
places that touch the file (so how it is made crash-safe lives here and nowhere else).

A payload is a trial alone's, whatever pack wrote it: a pack member's comes from its Step
(`Step.payload(k)`: its weights copied out of the fused networks, its Adam moments split out of
the fused optimiser), so a checkpoint resumes alone or in any pack.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from trainer.core.atomic import atomic_write
from trainer.step.state import TrainState

CHECKPOINT_FILE = "state.pt"  # the one file in a checkpoint folder
CHECKPOINT_FORMAT = 1         # bump when the payload layout changes
NETS = ("g", "f", "d_y", "d_x")   # G, F, D_Y, D_X (trainer.step.state)


def state_payload(state: TrainState) -> dict:
    """Everything of `state` a resume needs (the networks' and optimisers' tensors by reference:
    a caller that keeps the payload while training on copies them)."""
    return {"format": CHECKPOINT_FORMAT, "step": state.step, "extra": dict(state.extra),
            "nets": {k: getattr(state, k).state_dict() for k in NETS},
            "opt_gen": state.opt_gen.state_dict(), "opt_disc": state.opt_disc.state_dict(),
            "sched_gen": state.sched_gen.state_dict(),
            "sched_disc": state.sched_disc.state_dict(),
            "pool_y": state.pool_y.state_dict(), "pool_x": state.pool_x.state_dict(),
            "rng": state.rng.get_state(),
            "pools": {name: pool.state_dict() for name, pool in state.pools.items()}}


def write_checkpoint(payload: dict, folder: str | os.PathLike) -> Path:
    """Write a `state_payload`-shaped dict as `folder/state.pt` (temporary name, then rename);
    returns the folder."""
    atomic_write(Path(folder) / CHECKPOINT_FILE, lambda tmp: torch.save(payload, tmp))
    return Path(folder)


def has_checkpoint(folder: str | os.PathLike) -> bool:
    return (Path(folder) / CHECKPOINT_FILE).is_file()


def load_checkpoint(state: TrainState, folder: str | os.PathLike) -> TrainState:
    """Restore everything `write_checkpoint` wrote into a state built with the same config
    (before a Step takes the state over)."""
    path = Path(folder) / CHECKPOINT_FILE
    device = next(state.g.parameters()).device
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: checkpoint format {payload.get('format')!r}, "
                         f"expected {CHECKPOINT_FORMAT}")
    for name, weights in payload["nets"].items():
        getattr(state, name).load_state_dict(weights)
    for name in ("opt_gen", "opt_disc", "sched_gen", "sched_disc", "pool_y", "pool_x"):
        getattr(state, name).load_state_dict(payload[name])
    for name, pool in state.pools.items():
        pool.load_state_dict(payload["pools"][name])
    state.rng.set_state(payload["rng"].cpu())
    state.step = payload["step"]
    state.extra = dict(payload["extra"])
    return state
