"""The command line of `sweeps/run_grid.py` (sweeps.tune.grid_sweep runs it)."""
from __future__ import annotations

import argparse

from analysis.cli import DefaultsFormatter, OneLineParser
from sweeps.plan.adaptive import DEFAULT_BOUNDS, DEFAULT_TARGET_WIDTH, seeds_arg
from sweeps.plan.cli_args import add_cluster_arguments, add_tracking_arguments
from sweeps.plan.grids import grid_names

DESCRIPTION = "Run a named grid on Ray Tune: one trial per TrialConfig, one Parquet row per trial."


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=DESCRIPTION, formatter_class=DefaultsFormatter)
    p.add_argument("--grid", help=f"a named grid: {', '.join(grid_names())} [default: demo]")
    p.add_argument("--grid-file", metavar="YAML",
                   help="a grid as plain data (YAML or JSON: name, dataset, base, arms; "
                        "see sweeps/plan/custom.py) instead of --grid")
    p.add_argument("--dataset", help="run the grid on this dataset instead of its own")
    p.add_argument("--data-root", help="dataset folder (real datasets; toy ones are generated)")
    p.add_argument("--labels-root", action="append", default=[], metavar="NAME=PATH",
                   help="folder of a label-only set the grid uses (table3: gta5, synscapes); "
                        "repeatable")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a TrialConfig field in every trial, e.g. steps=300 or "
                        "precision=bf16 (python -m trainer.train --help lists the fields); "
                        "repeatable")
    p.add_argument("--seeds", type=seeds_arg, metavar="LIST",
                   help="run every setting with these seeds, e.g. 0-9 or 0,3; or "
                        "adaptive[:MIN-MAX] "
                        f"(default bounds {DEFAULT_BOUNDS[0]}-{DEFAULT_BOUNDS[1]}): every "
                        "selector arm and its random arm start with MIN seeds, and a comparison "
                        "whose Δ 95%% CI still holds 0 and is wider than --target-width gets one "
                        "more seed in both arms, up to MAX [default: each arm's own]")
    p.add_argument("--target-width", type=float, default=DEFAULT_TARGET_WIDTH, metavar="W",
                   help="adaptive seeds: a comparison is settled once its Δ 95%% CI (selector - "
                        "random, in metric units) excludes 0 or is at most W wide")
    p.add_argument("--weights", help="cycle=..,identity=..,paired=..[,adv=..]: override the λs "
                                     "(an arm that switches a term off keeps it off)")
    p.add_argument("--storage", default="results", help="results root: a folder or s3://...")
    p.add_argument("--export", metavar="DIR",
                   help="write every trial's val predictions in the official format to "
                        "DIR/<trial_key>/ (Cityscapes label-id PNGs; "
                        "python -m trainer.eval.official)")
    add_cluster_arguments(p)
    add_tracking_arguments(p)
    p.add_argument("--pack", metavar="K|auto", default="auto",
                   help="train up to K compatible trials in one process, one fused step; 1: "
                        "each trial alone (auto: as many as fit a GPU by a memory probe; on "
                        "CPUs as measured fastest at the trials' sizes)")
    p.add_argument("--resume", action="store_true", help="continue this grid's killed sweep")
    p.add_argument("--force", action="store_true", help="retrain trials that have a row")
    p.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    return p
