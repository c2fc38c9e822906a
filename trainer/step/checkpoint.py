"""Checkpoint files that survive a lost node, a cut file and a full disk.

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

from trainer.atomic import atomic_write

CHECKPOINT_FILE = "state.pt"        # the latest state in a checkpoint folder
PREVIOUS_FILE = "state.prev.pt"     # the state before it: the fallback when the latest is damaged
CHECKPOINT_FORMAT = 1               # bump when the payload layout changes
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
    """Put a payload of `engine.state_payload` back into a state built with the same config."""
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
