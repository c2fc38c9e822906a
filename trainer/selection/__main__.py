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
import sys

from trainer.config import TrialConfig
from trainer.data import DataError, open_split
from trainer.device import DeviceError

from . import EXTRACTORS, STRATEGIES, Manifest, SelectionError, build_manifest

DEFAULTS = TrialConfig()  # one source of truth for the pool size, strategies and features


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainer.selection", description=__doc__.split("\n")[0])
    p.add_argument("--dataset", required=True, help="dataset name, e.g. toy-streets, cityscapes")
    p.add_argument("--root", default=None, help="dataset folder (toy sets: generated into the cache)")
    p.add_argument("--strategy", default=DEFAULTS.selection, help=f"paired samples: {', '.join(STRATEGIES)}")
    p.add_argument("--budget", type=int, required=True, help="paired samples (>= 1, or -1: whole pool)")
    p.add_argument("--pool", type=int, default=DEFAULTS.unpaired, help="unpaired pool size (-1: whole split)")
    p.add_argument("--pool-strategy", default=DEFAULTS.pool_selection, help="strategy for the pool")
    p.add_argument("--features", default=DEFAULTS.features,
                   help=f"extractor: auto (the dataset's default), {', '.join(EXTRACTORS)}")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the random strategy")
    p.add_argument("--device", default="auto", help="device for feature extraction (auto: cuda if present)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    return p.parse_args(argv)


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
        print(json.dumps(dataclasses.asdict(manifest), indent=1) if args.json else describe(manifest))
    except (SelectionError, DataError, DeviceError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
