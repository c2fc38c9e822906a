"""`check_trial`: the one check of a TrialConfig, called by the sweep's plan before Ray starts
(sweeps.plan.preflight), by the trial CLI before it imports torch (trainer.run.cli) and by the
trial itself before it trains (trainer.run.trial.prepare). Torch-free.

Building a TrialConfig already checked every rule about its own values (types, vocabularies,
ranges, presets, a mode whose λs are all 0: trainer.core.config, which must not import the
registries); this adds what needs them: registry names (with "did you mean"), the image sizes
cfg.arch's networks accept, the evaluation split, and the pool and budget against the training
split. Every failure is one ConfigError line naming the field.
"""
from __future__ import annotations

import functools

from trainer.core.config import ALL, HOLDOUT, ConfigError, TrialConfig
from trainer.core.registry import did_you_mean

TRAIN_SPLIT = "train"   # selection draws the pool and the pairs from it (trainer.selection)


def check_trial(cfg: TrialConfig, *, open_data: bool = True) -> None:
    """Raise ConfigError for the first value of `cfg` a trial would fail on. `open_data` False
    (a dry run, planning before a real dataset is there): split sizes only where known."""
    _check_names(cfg)
    from trainer.nets.sizes import size_problem   # arithmetic over the layers, no torch
    problem = size_problem(cfg.arch, cfg.image_size)
    if problem:
        raise ConfigError(problem)
    _check_sizes(cfg, train_size(cfg.dataset, cfg.data_root, open_data))


def _check_names(cfg: TrialConfig) -> None:
    """dataset (and that it can be scored), unpaired_labels, selection, pool_selection,
    features and eval_split."""
    from trainer.core.errors import SelectionError
    from trainer.core.vocabulary import EXTRACTORS, STRATEGIES   # names only: no torch
    from trainer.data import DataError, dataset_info
    from trainer.eval.protocols import EvaluationError, protocol_for
    try:
        info = dataset_info(cfg.dataset)
        if cfg.unpaired_labels != "same":
            dataset_info(cfg.unpaired_labels)
        for name in (cfg.selection, cfg.pool_selection):
            STRATEGIES.validate(name)
        if cfg.features != "auto":
            EXTRACTORS.validate(cfg.features)
        protocol_for(info.kind, cfg.direction, info.classes)   # e.g. a label-only set scores nothing
    except (DataError, SelectionError, EvaluationError) as err:
        raise ConfigError(str(err)) from None
    splits = [*info.splits, HOLDOUT]
    if cfg.eval_split not in splits:
        raise ConfigError(f"eval_split={cfg.eval_split!r} is not one of {', '.join(splits)} "
                          f"({cfg.dataset}){did_you_mean(cfg.eval_split, splits)}")


def _check_sizes(cfg: TrialConfig, n_train: int | None) -> None:
    """The unpaired pool (and so the pairs) inside the training split; a holdout left over."""
    if n_train is None:
        return
    if cfg.unpaired > n_train:
        raise ConfigError(f"unpaired={cfg.unpaired} is larger than {cfg.dataset}'s {n_train} "
                          f"training samples")
    if cfg.unpaired == ALL and cfg.paired_budget > n_train:
        raise ConfigError(f"paired_budget={cfg.paired_budget} is larger than {cfg.dataset}'s "
                          f"{n_train} training samples")
    if cfg.eval_split == HOLDOUT and cfg.unpaired >= n_train:
        raise ConfigError(f"eval_split={HOLDOUT!r}: unpaired={cfg.unpaired} leaves none of "
                          f"{cfg.dataset}'s {n_train} training samples to validate on")


@functools.lru_cache(maxsize=None)
def train_size(dataset: str, root: str | None, open_data: bool = True) -> int | None:
    """Samples in the dataset's training split: a toy's default size without a root (it is
    generated later), else counted by its reader; None when not known without opening it."""
    from trainer.data import DataError, dataset_info, open_split
    info = dataset_info(dataset)
    if root is None and info.is_toy:
        return info.variants["default"][TRAIN_SPLIT]
    if root is None or not open_data:
        return None
    try:
        return len(open_split(dataset, TRAIN_SPLIT, root))
    except DataError:   # a missing root or layout: the path checks say so, in their words
        return None
