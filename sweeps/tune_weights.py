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
falls below a rung's cutoff -> each trial is sweeps.trainable.run_trial, writing one row under
grid `tune-<study>` (`stopped` for an early-stopped trial, PRUNED in the journal) -> the best
weights and the `run_grid.py --weights` command that uses them. Tune's state lives in
`<results>/_ray/tune-<study>`; --resume restores it (trials continue from their checkpoints).
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from dataclasses import dataclass

if __package__ in (None, ""):   # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd   # noqa: E402

from sweeps import results, run_grid   # noqa: E402
from sweeps.grids import WEIGHT_FIELDS, get_grid   # noqa: E402
from trainer.config import GAN_LOSSES, HOLDOUT, TrialConfig   # noqa: E402

VAL_SCORE = "val_score"      # trainer.train's validation score: the objective, maximised
JOURNAL = os.path.join("results", "optuna.journal")   # default --storage
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


USER_ERRORS = (*run_grid.USER_ERRORS, StudyError)   # one line, exit 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    p.add_argument("--storage", default=JOURNAL, help="Optuna journal file (on shared storage)")
    p.add_argument("--study", help="study name (default <dataset>-<grid>-b<paired budget>)")
    p.add_argument("--results", default="results", help="results root: a folder or s3://...")
    p.add_argument("--resume", action="store_true", help="continue this study's killed run")
    run_grid.add_cluster_arguments(p)
    return p


# --- the study's setup ------------------------------------------------------------------------
@dataclass
class Study:
    name: str
    journal: str               # absolute path of the journal file
    results: str               # absolute results root or URI
    setup: dict                # SETUP_DEFAULTS' keys, as the study was started
    base: TrialConfig          # what every trial shares; the searched fields vary

    @property
    def grid_name(self) -> str:
        return f"tune-{self.name}"

    @property
    def experiment(self) -> str:
        return f"{self.results.rstrip('/')}/{run_grid.RAY_DIR}/{self.grid_name}"


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
    total = run_grid.planned_steps(cfg)
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
    if "://" in path:
        raise StudyError(f"--storage {path}: the Optuna journal is a file path (put it on a "
                         f"shared mount), not a URI")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return JournalStorage(JournalFileBackend(os.path.abspath(path)))


def open_study(args: argparse.Namespace) -> Study:
    """Start a study (its setup stored in the journal) or, with --resume, read it back."""
    import optuna
    run_grid.check_args(args)
    given = given_setup(args)
    setup = {**SETUP_DEFAULTS, **given}
    name = args.study or f"{setup['dataset']}-{setup['grid']}-b{setup['paired_budget']}"
    if not STUDY_NAME.fullmatch(name):
        raise StudyError(f"--study {name!r}: use letters, digits, '.', '_' and '-'")
    if not args.resume:   # bad setup flags fail before the journal is touched
        base = base_config(setup)
        check_setup(setup, base)
    elif not os.path.isfile(args.storage):
        raise StudyError(f"--resume: no journal file {args.storage}; run without --resume")
    storage = journal_storage(args.storage)
    found = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}.get(name)
    if args.resume:
        if found is None or SETUP_ATTR not in found.user_attrs:
            raise StudyError(f"--resume: no study {name!r} in {args.storage}; run without --resume")
        setup, base = resumed_setup(name, found.user_attrs[SETUP_ATTR], given)
    else:
        if found is not None and found.n_trials:
            raise StudyError(f"study {name!r} already holds {found.n_trials} trials in "
                             f"{args.storage}; --resume continues it, --study NAME starts another")
        created = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                      load_if_exists=True)
        created.set_user_attr(SETUP_ATTR, {"setup": setup, "base": base.to_row()})
    study = Study(name, os.path.abspath(args.storage), results.resolve_root(args.results),
                  setup, base)
    if args.resume:
        from ray import tune
        if not tune.Tuner.can_restore(study.experiment):
            raise StudyError(f"--resume: no Tune state of study {name!r} at {study.experiment}; "
                             f"start another with --study NAME")
    return study


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


def run_tuned_trial(config: dict, *, base: dict, sweep) -> None:
    """Ray Tune trial: the grid trial (sweeps.trainable.run_trial) of the λs Optuna chose."""
    from sweeps.trainable import run_trial
    cfg = trial_config(base, config)
    run_trial({"trial_key": cfg.key()}, configs={cfg.key(): cfg.to_row()}, sweep=sweep)


def param_space(setup: dict) -> dict:
    """Tune's search space; OptunaSearch turns it into Optuna distributions."""
    from ray import tune
    space = {name: tune.loguniform(*bounds) for name, bounds in SEARCH.items()}
    if setup["tune_adv"]:
        space["lambda_adv"] = tune.loguniform(*ADV_RANGE)
    if setup["tune_gan_loss"]:
        space["gan_loss"] = tune.choice(list(GAN_LOSSES))
    return space


def make_tuner(study: Study, trainable, args: argparse.Namespace):
    """A Tuner whose OptunaSearch asks from the journal's study and whose ASHA stops weak
    trials; with --resume, the killed run's Tuner restored."""
    from optuna.samplers import TPESampler
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from sweeps.journal_search import FinishedInJournal, JournalOptunaSearch
    if args.resume:   # open_study checked that Tune's state is there
        return tune.Tuner.restore(study.experiment, trainable, resume_unfinished=True,
                                  resume_errored=False)   # a failed trial is FAIL in the study
    storage = journal_storage(study.journal)
    search = JournalOptunaSearch(storage=storage, study_name=study.name,
                                 sampler=TPESampler(seed=study.setup["seed"]))
    # max_t just below the last step: no rung sits on the final report, so a trial that has
    # trained to its end is never stopped (it is ranked by Optuna instead).
    scheduler = ASHAScheduler(time_attr="step", max_t=run_grid.planned_steps(study.base) - 1,
                              grace_period=study.base.eval_every, reduction_factor=HALVING,
                              stop_last_trials=False)
    tune_config = tune.TuneConfig(
        metric=VAL_SCORE, mode="max", search_alg=search, scheduler=scheduler,
        num_samples=study.setup["trials"], max_concurrent_trials=args.max_concurrent,
        reuse_actors=True, trial_dirname_creator=_trial_dirname)
    run_config = tune.RunConfig(
        name=study.grid_name, storage_path=f"{study.results.rstrip('/')}/{run_grid.RAY_DIR}",
        verbose=1, stop=FinishedInJournal(storage, study.name),   # reruns after a resume
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=run_grid.KEEP_CHECKPOINTS))
    return tune.Tuner(trainable, param_space=param_space(study.setup), tune_config=tune_config,
                      run_config=run_config)


def _trial_dirname(trial) -> str:
    return trial.trial_id   # short; Optuna's number and the λs are in the journal and the row


def run_study(study: Study, args: argparse.Namespace):
    """The selection manifest, then the Tuner; rows of early-stopped trials say why."""
    from ray import tune
    from sweeps.trainable import Sweep
    from sweeps.tune_weights import run_tuned_trial as trial_fn   # by reference on the workers
    resources = run_grid.trial_resources(args.cpus_per_trial, args.gpus_per_trial)
    if not args.resume:
        run_grid.prepare_manifests([study.base], resources)
    sweep = Sweep(study.grid_name, study.results, results.code_version(), force=False,
                  cpus=args.cpus_per_trial)
    trainable = tune.with_resources(
        tune.with_parameters(trial_fn, base=study.base.to_row(), sweep=sweep), resources)
    outcome = make_tuner(study, trainable, args).fit()
    record_stopped(study, outcome)
    return outcome


def record_stopped(study: Study, outcome) -> None:
    """Rewrite the rows of trials stopped early (their own row says only that they were
    interrupted): why, and the step and val_score they had reached."""
    from sweeps.trainable import ROW_WRITTEN
    version = results.code_version()
    for trial in outcome:
        last = trial.metrics or {}
        if trial.error is not None or ROW_WRITTEN in last or not last.get("done"):
            continue   # failed, ran to its end, or interrupted with the driver (it resumes)
        cfg = trial_config(study.base, trial.config)
        path = results.row_path(study.results, study.grid_name, cfg)
        started = results.read_row(path, ("started_at",)).get("started_at") or results.utc_now()
        why = (f"stopped early at step {last['step']} (val_score {last[VAL_SCORE]:.4g}): "
               f"below an ASHA rung's cutoff, PRUNED in study {study.name}")
        row = results.make_row(cfg, study.grid_name, "stopped", error=why,
                               result={VAL_SCORE: last[VAL_SCORE], "steps_done": last["step"]},
                               code_version=version, started_at=started,
                               finished_at=results.utc_now())
        results.write_row(path, row)


# --- the end ----------------------------------------------------------------------------------
def summarize(study: Study) -> tuple[str, bool]:
    """The study's trials from the journal, its best weights and the run_grid command using
    them; False when no trial completed."""
    import optuna
    ot_study = optuna.load_study(study_name=study.name, storage=journal_storage(study.journal))
    frame = ot_study.trials_dataframe(attrs=("number", "value", "state", "params"))
    frame["trial_key"] = [trial_config(study.base, t.params).key() for t in ot_study.trials]
    with pd.option_context("display.max_rows", None, "display.width", 200):
        lines = [frame.to_string(index=False), ""]
    counts = frame["state"].value_counts().to_dict() if len(frame) else {}
    lines.append(f"study {study.name}: {len(frame)} trials "
                 f"({', '.join(f'{n} {s.lower()}' for s, n in sorted(counts.items()))}); "
                 f"rows: {results.grid_dir(study.results, study.grid_name)}")
    complete = [t for t in ot_study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return "\n".join([*lines, "no trial completed: no weights to recommend"]), False
    best = ot_study.best_trial
    lines.append(f"best: trial {best.number}, {main_metric(study.base)} {best.value:.4g} on the "
                 f"holdout ({study.base.eval_limit or 'all'} images): "
                 + ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in sorted(best.params.items())))
    lines.append(run_grid_command(study, best.params))
    return "\n".join(lines), True


def best_weights(study: Study, params: dict) -> dict[str, float]:
    """run_grid's --weights names -> the best trial's λs (adv only when it was searched)."""
    cfg = trial_config(study.base, params)
    return {name: getattr(cfg, field) for name, field in WEIGHT_FIELDS.items()
            if name != "adv" or study.setup["tune_adv"]}


def run_grid_command(study: Study, params: dict) -> str:
    """`python sweeps/run_grid.py --grid G --dataset D [--data-root P] --weights ...`."""
    weights = ",".join(f"{k}={v:.6g}" for k, v in best_weights(study, params).items())
    argv = ["python", "sweeps/run_grid.py", "--grid", study.setup["grid"],
            "--dataset", study.setup["dataset"]]
    if study.setup["data_root"]:
        argv += ["--data-root", study.setup["data_root"]]
    command = shlex.join([*argv, "--weights", weights])
    if params.get("gan_loss", study.base.gan_loss) != study.base.gan_loss:
        command += (f"\n(the best GAN loss, {params['gan_loss']}, is not a run_grid flag: set "
                    f"gan_loss in grid {study.setup['grid']}'s base)")
    return command


def main_metric(cfg: TrialConfig) -> str:
    """The evaluation column val_score is (mean_iou, or maps_pixel_acc)."""
    from trainer.data import dataset_info
    from trainer.evaluate import MAIN_METRIC, protocol_for
    return MAIN_METRIC[protocol_for(dataset_info(cfg.dataset).kind, cfg.direction)]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        study = open_study(args)
        run_grid.connect(args.address)
        outcome = run_study(study, args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if outcome.errors:
        print(f"{len(outcome.errors)} trials failed after retries", file=sys.stderr)
    text, found = summarize(study)
    print(text)
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
