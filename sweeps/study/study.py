"""An Optuna weight study's setup (the logic behind `sweeps/tune_weights.py`): its flags'
defaults, the base TrialConfig every trial shares, the journal, and starting or resuming it."""
from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass

from sweeps.plan import cli_args
from sweeps.store import results
from sweeps.plan.grids import get_grid
from sweeps.study.journal_file import JournalError, check_journal
from sweeps.store.paths import RAY_DIR
from sweeps.plan.preflight import check_paths, check_storage
from trainer.core.config import HOLDOUT, TrialConfig
from trainer.run.schedule import total_steps

JOURNAL = "optuna.journal"   # default --journal, in the --storage folder
TUNE_DIR = "_tune"           # under --storage: the studies' rows, Tune state and leases; the
                             # leading "_" keeps `python -m analysis <storage>` (the grids' tables
                             # and failed rows) from reading tuning trials as grid trials
SEARCH = {                   # searched λ -> log-uniform range: a decade either side of the paper's
    "lambda_cycle": (1.0, 100.0),
    "lambda_identity": (1.0, 100.0),
    "lambda_paired": (15.0, 1500.0),
}
ADV_RANGE = (0.1, 10.0)      # λ_adv with --tune-adv (else the grid's, 1)
RUNGS = 8                    # default --eval-every: steps / 8 (ASHA rungs at 1/8, 1/4, 1/2 of them)
HALVING = 2                  # ASHA keeps the better 1/2 at each rung; rungs double in steps
VAL_LIMIT = 100              # default --eval-limit: holdout images per validation pass
SETUP_DEFAULTS = dict(dataset="toy-streets", grid="demo", data_root=None, paired_budget=5,
                      trials=40, eval_every=0, eval_limit=VAL_LIMIT, tune_adv=False,
                      tune_gan_loss=False, seed=0)   # eval_every 0: steps / RUNGS
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")   # it names the rows' folder too
SETUP_ATTR = "fewpair"       # the study's user attribute holding its setup and base config


class StudyError(ValueError):
    """A study that cannot be started or resumed as asked; one line."""

USER_ERRORS = (*cli_args.USER_ERRORS, StudyError, JournalError)   # one line, exit 2


# --- the study's setup ------------------------------------------------------------------------
@dataclass
class Study:
    name: str
    journal: str               # absolute path of the journal file
    results: str               # absolute root of the study's rows (<storage>/_tune) or URI
    setup: dict                # SETUP_DEFAULTS' keys, as the study was started
    base: TrialConfig          # what every trial shares; the searched fields vary

    @property
    def grid_name(self) -> str:
        return f"tune-{self.name}"

    @property
    def experiment(self) -> str:
        return f"{self.results.rstrip('/')}/{RAY_DIR}/{self.grid_name}"


def given_setup(args: argparse.Namespace) -> dict:
    """The setup flags given on the command line (data_root made absolute: trials run elsewhere)."""
    given = {k: getattr(args, k) for k in SETUP_DEFAULTS if getattr(args, k) is not None}
    if "data_root" in given:
        given["data_root"] = os.path.abspath(os.path.expanduser(given["data_root"]))
    return given


def base_config(setup: dict) -> TrialConfig:
    """The grid's shared fields + hybrid with the budget's k-medoids pairs, validated on the
    holdout every eval_every steps (reports and checkpoints then too: each carries val_score).
    Resolves setup["eval_every"] (0: the trial's steps / RUNGS)."""
    grid = get_grid(setup["grid"], setup["dataset"])
    point = {**grid.base, "dataset": grid.dataset, "mode": "hybrid", "selection": "kmedoids",
             "paired_budget": setup["paired_budget"], "eval_split": HOLDOUT,
             "eval_limit": setup["eval_limit"], "data_root": setup["data_root"]}
    cfg = TrialConfig.from_dict(point)
    total = total_steps(cfg)
    every = setup["eval_every"] or max(1, total // RUNGS)
    if not 0 < every < total:
        raise StudyError(f"--eval-every {every} must be in [1, {total - 1}]: a validation pass "
                         f"before the trial's last step ({total}) is what early stopping needs")
    setup["eval_every"] = every
    return cfg.replace(eval_every=every, report_every=every, checkpoint_every=every)


def check_setup(setup: dict, base: TrialConfig) -> None:
    """Flags Optuna or Ray would reject late; an empty holdout fails here, before any trial."""
    from trainer.data import open_split
    if setup["trials"] < 1:
        raise StudyError(f"--trials {setup['trials']} must be >= 1")
    if setup["eval_limit"] < 0:
        raise StudyError(f"--eval-limit {setup['eval_limit']} must be >= 0 (0 = all)")
    size = len(open_split(base.dataset, "train", base.data_root))
    if base.unpaired >= size:
        raise StudyError(f"grid {setup['grid']}'s pool of {base.unpaired} unpaired images leaves "
                         f"none of {base.dataset}'s {size} training images to validate on")


def journal_storage(path: str):
    """Optuna's JournalStorage over a file (created with its folder on first use)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    _refuse_uri(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return JournalStorage(JournalFileBackend(os.path.abspath(path)))


def _refuse_uri(path: str) -> None:
    if "://" in path:
        raise StudyError(f"--journal {path}: the Optuna journal is a file path (put it on a "
                         f"shared mount), not a URI")


def check_journal_path(path: str) -> None:
    """The journal is a file in a folder we can write (made on first use)."""
    _refuse_uri(path)
    if os.path.isdir(path):
        raise StudyError(f"--journal {path}: a folder; give the journal file's path in it")
    check_storage(os.path.dirname(os.path.abspath(path)), [], "--journal", write=True)


def open_study(args: argparse.Namespace) -> Study:
    """Start a study (its setup stored in the journal) or, with --resume, read it back."""
    import optuna
    cli_args.check_args(args)
    given = given_setup(args)
    setup = {**SETUP_DEFAULTS, **given}
    name = args.study or f"{setup['dataset']}-{setup['grid']}-b{setup['paired_budget']}"
    if not STUDY_NAME.fullmatch(name):
        raise StudyError(f"--study {name!r}: use letters, digits, '.', '_' and '-'")
    root, journal = study_paths(args)
    if not args.resume:   # bad setup flags and paths fail before the journal is touched
        base = base_config(setup)
        check_setup(setup, base)
        check_paths([base], root, f"tune-{name}")
        check_journal_path(journal)
    elif not os.path.isfile(journal):
        raise StudyError(f"--resume: no journal file {journal}; run without --resume")
    note = check_journal(os.path.abspath(journal))   # a record cut by a crash, set aside
    if note:
        print(note, file=sys.stderr)
    storage = journal_storage(journal)
    found = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}.get(name)
    if args.resume:
        if found is None or SETUP_ATTR not in found.user_attrs:
            raise StudyError(f"--resume: no study {name!r} in {journal}; run without --resume")
        setup, base = resumed_setup(name, found.user_attrs[SETUP_ATTR], given)
        check_paths([base], root, f"tune-{name}")
    else:
        if found is not None and found.n_trials:
            raise StudyError(f"study {name!r} already holds {found.n_trials} trials in "
                             f"{journal}; --resume continues it, --study NAME starts another")
        created = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                      load_if_exists=True)
        created.set_user_attr(SETUP_ATTR, {"setup": setup, "base": base.to_row()})
    study = Study(name, os.path.abspath(journal), root, setup, base)
    if args.resume:
        from ray import tune
        if not tune.Tuner.can_restore(study.experiment):
            raise StudyError(f"--resume: no Tune state of study {name!r} at {study.experiment}; "
                             f"start another with --study NAME")
    return study


def study_paths(args: argparse.Namespace) -> tuple[str, str]:
    """(root of the study's rows: <storage>/_tune, the journal file). The flags' old spellings
    (--storage the journal, --results the root) are refused with the new ones."""
    if args.results is not None:
        raise StudyError(f"--results {args.results}: say --storage {args.results} (the results "
                         f"root, as in run_grid); the Optuna journal is --journal FILE")
    if args.storage.endswith(".journal") or os.path.isfile(args.storage):
        raise StudyError(f"--storage {args.storage}: a journal file; --storage is the results "
                         f"root now (as in run_grid), the journal --journal {args.storage}")
    root = results.resolve_root(args.storage)
    if args.journal is None and "://" in root:
        raise StudyError(f"--storage {args.storage}: a URI holds no Optuna journal; give "
                         f"--journal FILE on a shared mount")
    journal = args.journal or os.path.join(root, JOURNAL)
    return f"{root.rstrip('/')}/{TUNE_DIR}", journal


def resumed_setup(name: str, stored: dict, given: dict) -> tuple[dict, TrialConfig]:
    """The study's own setup; a flag given with another value than it was started with fails."""
    setup = stored["setup"]
    for key, value in given.items():
        if setup.get(key) != value:
            flag = "--" + key.replace("_", "-")
            raise StudyError(f"{flag} {value}: study {name!r} was started with {setup.get(key)}; "
                             f"--resume continues it as started (drop {flag})")
    return setup, TrialConfig.from_dict(stored["base"])


# --- the trials -------------------------------------------------------------------------------
def trial_config(base: TrialConfig | dict, params: dict) -> TrialConfig:
    """A trial's TrialConfig: the base with the searched fields Optuna chose."""
    row = base.to_row() if isinstance(base, TrialConfig) else base
    searched = [*SEARCH, "lambda_adv", "gan_loss"]
    return TrialConfig.from_dict({**row, **{k: params[k] for k in searched if k in params}})
