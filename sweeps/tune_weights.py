"""Tune the loss weights with Optuna on the sweep's cluster; one Parquet row per trial.

    python sweeps/tune_weights.py                          # toy-streets at the demo grid's sizes
    python sweeps/tune_weights.py --grid table2 --dataset cityscapes --data-root data/cityscapes \\
        --paired-budget 5 --trials 40
    python sweeps/tune_weights.py --resume                 # continue a killed study
    optuna-dashboard results/optuna.journal                # watch the study (the `dashboard` extra)

The paper fixed λ_adv / λ_cycle / λ_identity / λ_paired at 1 / 10 / 10 / 150 without a search.
This searches λ_cycle, λ_identity and λ_paired log-uniformly over a decade either side of those
(λ_adv too with --tune-adv, the GAN loss variant with --tune-gan-loss), maximising the validation
score -- mean IoU, or maps pixel accuracy -- on training images outside the unpaired pool
(`TrialConfig.eval_split="holdout"`), never on the val / test split the tables report.

Flow: the grid's shared fields (sizes, steps, pool) + the hybrid mode with --paired-budget
k-medoids pairs -> the study's setup, kept in the journal -> one selection manifest (a Ray task)
-> a Tuner whose OptunaSearch (TPE) asks λs from the study in an Optuna JournalStorage file and
whose ASHA scheduler stops a trial whose `val_score` (a validation pass every --eval-every steps)
falls below a rung's cutoff -> each trial is sweeps.tune.trainable.run_trial, writing one row under
grid `tune-<study>` (`stopped` for an early-stopped trial, PRUNED in the journal) -> the best
weights and the `run_grid.py --weights` command that uses them. Tune's state lives in
`<results>/_ray/tune-<study>`; --resume restores it (trials continue from their checkpoints).
"""
from __future__ import annotations

import sys

from sweeps.study.study_run import build_parser, main

__all__ = ["build_parser", "main"]   # the logic: sweeps.study.study (setup), sweeps.study.study_run (run)

if __name__ == "__main__":
    sys.exit(main())
