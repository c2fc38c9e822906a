"""A trial's checkpoint: one payload dict (`state_payload`) written and read behind two
functions, `write_checkpoint(payload, folder)` and `load_checkpoint(state, folder)`, the only
code that touches the files. A payload is a trial alone's, whatever pack wrote it: a pack
member's comes from its Step (`Step.payload(k)`: its weights copied out of the fused networks,
its Adam moments split out of the fused optimiser), so a checkpoint resumes alone or in any pack.

The files survive a lost node, a cut file and a full disk.

A checkpoint folder holds the latest state, `state.pt`, and the one before it, `state.prev.pt`.
Writing: the new state goes to a hidden temporary name in the folder and is flushed to the disk
(fsync) before anything is renamed; then `state.pt` becomes `state.prev.pt` and the temporary
file becomes `state.pt`. A process killed at any point leaves a whole latest or a whole previous
file under the real names, never half of one. A full disk raises `DiskFull` (one line: the path
and the free space) and leaves both files as they were.
Reading: the latest readable file wins. An unreadable one (cut short, garbled) gives one warning
line naming it and is removed (so the next write cannot rotate it over the good previous one);
then the previous file is read, and when none is readable the trial starts afresh -- a damaged
checkpoint never fails a trial, so it cannot make Tune retry it over and over.
Cost: two files per folder, so Tune's copy of a checkpoint is twice one state (418 MB at the
paper's size, docs/real-data.md).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from trainer.core.atomic import atomic_write

CHECKPOINT_FILE = "state.pt"        # the latest state in a checkpoint folder
PREVIOUS_FILE = "state.prev.pt"     # the state before it: the fallback when the latest is damaged
CHECKPOINT_FORMAT = 1               # bump when the payload layout changes
NETS = ("g", "f", "d_y", "d_x")   # G, F, D_Y, D_X (trainer.step.state)
STATE_PARTS = ("opt_gen", "opt_disc", "sched_gen", "sched_disc", "pool_y", "pool_x")


def write(payload: dict, folder: str | os.PathLike) -> Path:
    """Write a payload as `folder/state.pt`, keeping the one it replaces as state.prev.pt."""
    folder = Path(folder)
    latest, previous = folder / CHECKPOINT_FILE, folder / PREVIOUS_FILE

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            torch.save(payload, out)
            out.flush()
            os.fsync(out.fileno())       # on the disk before a rename can publish it
        if latest.is_file():
            os.replace(latest, previous)
    atomic_write(latest, save)
    return folder


def exists(folder: str | os.PathLike) -> bool:
    folder = Path(folder)
    return any((folder / name).is_file() for name in (CHECKPOINT_FILE, PREVIOUS_FILE))


def read(folder: str | os.PathLike, device: torch.device) -> dict | None:
    """The newest readable payload in `folder`, or None (nothing readable: a fresh start).
    Prints one warning line when a file was unreadable; a payload of another format raises."""
    folder = Path(folder)
    damaged: list[tuple[Path, str]] = []
    for path in (folder / CHECKPOINT_FILE, folder / PREVIOUS_FILE):
        if not path.is_file():
            continue
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
        except Exception as err:   # cut short, garbled, not a zip: torch names several types
            damaged.append((path, " ".join(f"{type(err).__name__}: {err}".split())[:120]))
            path.unlink(missing_ok=True)
            continue
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: checkpoint format {payload.get('format')!r}, "
                             f"expected {CHECKPOINT_FORMAT}")
        _warn(damaged, f"resuming from {path} (step {payload['step']})")
        return payload
    _warn(damaged, "no earlier checkpoint: training starts afresh")
    return None


def _warn(damaged: list[tuple[Path, str]], outcome: str) -> None:
    if damaged:
        names = "; ".join(f"{path} ({why})" for path, why in damaged)
        print(f"warning: unreadable checkpoint removed: {names}; {outcome}", file=sys.stderr,
              flush=True)


def restore(state, payload: dict):
    """Put a payload of `state_payload` back into a state built with the same config."""
    for name, weights in payload["nets"].items():
        getattr(state, name).load_state_dict(weights)
    for name in STATE_PARTS:
        getattr(state, name).load_state_dict(payload[name])
    for name, pool in state.pools.items():
        pool.load_state_dict(payload["pools"][name])
    state.rng.set_state(payload["rng"].cpu())
    state.step = payload["step"]
    state.extra = dict(payload["extra"])
    return state


def state_payload(state) -> dict:
    """Everything of a TrainState a resume needs (the networks' and optimisers' tensors by
    reference: a caller that keeps the payload while training on copies them)."""
    return {"format": CHECKPOINT_FORMAT, "step": state.step, "extra": dict(state.extra),
            "nets": {k: getattr(state, k).state_dict() for k in NETS},
            **{name: getattr(state, name).state_dict() for name in STATE_PARTS},
            "rng": state.rng.get_state(),
            "pools": {name: pool.state_dict() for name, pool in state.pools.items()}}


def write_checkpoint(payload: dict, folder: str | os.PathLike) -> Path:
    """Write a `state_payload`-shaped dict into `folder` (atomic, the previous one kept)."""
    return write(payload, folder)


def has_checkpoint(folder: str | os.PathLike) -> bool:
    return exists(folder)


def load_checkpoint(state, folder: str | os.PathLike):
    """Restore the newest readable checkpoint in `folder` into a state built with the same
    config (before a Step takes it over); the state left as built (a fresh start) when none
    is readable (one warning line)."""
    payload = read(folder, next(state.g.parameters()).device)
    return state if payload is None else restore(state, payload)
