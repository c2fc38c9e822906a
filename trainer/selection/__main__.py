"""CLI: choose the unpaired pool and the paired samples of a dataset, print them, write the manifest.

    python -m trainer.selection --dataset toy-streets --strategy kmedoids --budget 5 [--pool 200]
        [--pool-strategy kmedoids] [--features NAME] [--seed 0] [--root DIR] [--json]

Defaults follow TrialConfig (pool 200 by k-medoids, features = the dataset's default), so the
printed manifest is the one a default trial with this budget uses. Exit status 2 on bad input.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from trainer.core.config import TrialConfig
from trainer.data import DataError, open_split
from trainer.core.device import DeviceError

from . import Manifest, SelectionError, build_manifest

DEFAULTS = TrialConfig()  # one source of truth for the pool size, strategies and features


def build_parser() -> argparse.ArgumentParser:
    """Flags that are TrialConfig fields take that field's help (trainer.run.cli.field_help)."""
    from trainer.run.cli import field_choices, field_help
    choices = field_choices()
    p = argparse.ArgumentParser(prog="python -m trainer.selection",
                                description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, help=field_help("dataset", choices).split(" [")[0])
    p.add_argument("--root", default=None,
                   help="dataset folder [default: the dataset's own; toy sets: generated into "
                        "the cache]")
    p.add_argument("--budget", type=int, required=True,
                   help="paired samples to choose inside the pool (>= 1, or -1: the whole pool)")
    for flag, name, kind in _FIELD_FLAGS:
        p.add_argument(flag, type=kind, default=getattr(DEFAULTS, name),
                       help=field_help(name, choices) + f" (TrialConfig.{name})")
    p.add_argument("--device", default="auto",
                   help="device for feature extraction: auto = the CPU, so picks do not depend "
                        "on the machine; cuda: TF32 off [default: auto]")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return p


# (flag, TrialConfig field, type): the flags that mean what the trial's field means
_FIELD_FLAGS = (("--strategy", "selection", str), ("--pool", "unpaired", int),
                ("--pool-strategy", "pool_selection", str), ("--features", "features", str),
                ("--seed", "seed", int))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def describe(manifest: Manifest) -> str:
    """Human-readable listing: the manifest file, the pool, then each paired sample."""
    archetypes = open_split(manifest.dataset, manifest.split, manifest.root).archetypes
    pool = f"{len(manifest.unpaired)} of {manifest.split_size}"
    how = f" by {manifest.pool_strategy}" if manifest.pool_strategy else " (whole split)"
    lines = [f"manifest {manifest.path}",
             f"pool: {pool}{how}; features: {manifest.features or 'none needed'}",
             f"paired: {len(manifest.paired)} by {manifest.strategy or 'all of the pool'}"]
    for i, stem in zip(manifest.paired, manifest.paired_stems):
        tag = f"  ({archetypes[i]})" if archetypes[i] else ""
        lines.append(f"  {i:6d}  {stem}{tag}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.budget < 1 and args.budget != -1:
            raise SelectionError(f"--budget={args.budget} must be >= 1 (or -1: the whole pool)")
        manifest = build_manifest(args.dataset, root=args.root, features=args.features,
                                  pool_strategy=args.pool_strategy, pool_size=args.pool,
                                  strategy=args.strategy, budget=args.budget, seed=args.seed,
                                  device=args.device)
        _print(json.dumps(dataclasses.asdict(manifest), indent=1) if args.json
               else describe(manifest))
    except (SelectionError, DataError, DeviceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _print(text: str) -> None:
    """Print; a reader that closed the pipe early (`| head`) has what it wanted: no
    BrokenPipeError traceback, neither here nor at exit's flush."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
