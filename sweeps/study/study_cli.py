"""The command line of `sweeps/tune_weights.py` (sweeps.study.study_run runs it)."""
from __future__ import annotations

import argparse

from analysis.cli import DefaultsFormatter, OneLineParser
from sweeps.plan.cli_args import add_cluster_arguments, add_tracking_arguments
from sweeps.study.study import JOURNAL, RUNGS, TUNE_DIR, VAL_LIMIT
from trainer.step.losses import GAN_LOSSES

DESCRIPTION = "Tune the loss weights with Optuna on the sweep's cluster; one Parquet row per trial."


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=DESCRIPTION, formatter_class=DefaultsFormatter)
    p.add_argument("--dataset", help="dataset to tune on (default toy-streets)")
    p.add_argument("--grid", help="grid whose sizes, steps and pool the trials share, and that "
                   "the printed command runs (default demo)")
    p.add_argument("--data-root", help="dataset folder (real datasets; toy ones are generated)")
    p.add_argument("--paired-budget", type=int, help="k-medoids pairs in the hybrid (default 5)")
    p.add_argument("--trials", type=int, help="trials in the study (default 40)")
    p.add_argument("--eval-every", type=int, help="steps between validation passes (ASHA's rungs; "
                   f"default: the trial's steps / {RUNGS})")
    p.add_argument("--eval-limit", type=int, help="holdout images per validation pass "
                   f"(default {VAL_LIMIT}; 0 = all)")
    p.add_argument("--tune-adv", action="store_true", default=None, help="search λ_adv too")
    p.add_argument("--tune-gan-loss", action="store_true", default=None,
                   help=f"search the GAN loss too ({', '.join(GAN_LOSSES)})")
    p.add_argument("--seed", type=int, help="TPE sampler seed (default 0)")
    p.add_argument("--storage", default="results",
                   help=f"results root, as in run_grid: a folder or s3://... (the study's rows "
                        f"go to <storage>/{TUNE_DIR}/tune-<study>/, apart from the grids' rows)")
    p.add_argument("--journal", help=f"Optuna journal file, on shared storage on a cluster "
                                     f"[default: <storage>/{JOURNAL}]")
    p.add_argument("--study", help="study name (default <dataset>-<grid>-b<paired budget>)")
    p.add_argument("--results", help=argparse.SUPPRESS)   # the old --storage: refused, with a hint
    p.add_argument("--resume", action="store_true", help="continue this study's killed run")
    add_cluster_arguments(p)
    add_tracking_arguments(p)
    return p
