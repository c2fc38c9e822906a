"""Running an Optuna weight study on Ray Tune (the logic behind `sweeps/tune_weights.py`):
OptunaSearch + ASHA over the study's trials, rows for early-stopped trials, and the best
weights with the run_grid command that uses them. The parser: sweeps.study.study_cli."""
from __future__ import annotations

import argparse
import math
import shlex
import sys

import pandas as pd

from sweeps.store import lease, results
from sweeps.plan.grids import WEIGHT_FIELDS
from sweeps.tune.board import BOARD_DIR
from sweeps.tune.hints import replace_ray_hints
from sweeps.study.journal_file import finish_from_rows
from sweeps.tune.launch import (KEEP_CHECKPOINTS, connect_and_select, prepare_manifests,
                               trial_resources)
from sweeps.study.study import (ADV_RANGE, HALVING, SEARCH, USER_ERRORS, Study, journal_storage,
                                open_study, trial_config)
from sweeps.study.study_cli import build_parser
from sweeps.tune.tracking import check_available, tracking_callbacks
from sweeps.store.paths import RAY_DIR
from trainer.core.config import VAL_SCORE, TrialConfig
from trainer.step.losses import GAN_LOSSES
from trainer.run.schedule import total_steps

MIN_FINISHERS = 3   # fewer trials ran to their end: the "best" is named as a best of too few
__all__ = ["build_parser", "main"]   # (the parser: sweeps.study.study_cli)


def run_tuned_trial(config: dict, *, base: dict, sweep) -> None:
    """Ray Tune trial: the grid trial (sweeps.tune.trainable.run_trial) of the λs Optuna chose."""
    from sweeps.tune.trainable import run_trial
    cfg = trial_config(base, config)
    run_trial({"trial_key": cfg.key()}, configs={cfg.key(): cfg.to_row()}, sweep=sweep,
              train_fn=train_scored)


def train_scored(cfg: TrialConfig, workdir: str, report):
    """trainer.run.loop.train whose every report carries val_score: NaN in the one made without
    a validation pass (a signal's checkpoint, `interrupted`), as Tune's metric check asks of
    every result (the searcher skips it: sweeps.study.journal_search)."""
    from trainer.run.loop import train

    def scored(metrics: dict, checkpoint_dir: str | None) -> None:
        report({VAL_SCORE: math.nan, **metrics}, checkpoint_dir)
    return train(cfg, workdir, report=scored)


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
    from ray.tune.stopper import CombinedStopper
    from sweeps.tune.board import clean_board, run_name
    from sweeps.tune.driver_stop import GracefulStop, SignalCheckpointSaved
    from sweeps.study.journal_search import FinishedInJournal, JournalOptunaSearch
    if args.resume:   # open_study checked that Tune's state is there
        return tune.Tuner.restore(study.experiment, trainable, resume_unfinished=True,
                                  resume_errored=False)   # a failed trial is FAIL in the study
    storage = journal_storage(study.journal)
    search = JournalOptunaSearch(storage=storage, study_name=study.name,
                                 sampler=TPESampler(seed=study.setup["seed"]))
    # max_t just below the last step: no rung sits on the final report, so a trial that has
    # trained to its end is never stopped (it is ranked by Optuna instead).
    scheduler = ASHAScheduler(time_attr="step", max_t=total_steps(study.base) - 1,
                              grace_period=study.base.eval_every, reduction_factor=HALVING,
                              stop_last_trials=False)
    tune_config = tune.TuneConfig(
        metric=VAL_SCORE, mode="max", search_alg=search, scheduler=scheduler,
        num_samples=study.setup["trials"], max_concurrent_trials=args.max_concurrent,
        reuse_actors=True, trial_dirname_creator=_trial_dirname, trial_name_creator=run_name)
    # GracefulStop first: CombinedStopper asks its stoppers in turn and stops at a yes
    stop = CombinedStopper(GracefulStop(), FinishedInJournal(storage, study.name))  # (reruns)
    run_config = tune.RunConfig(
        name=study.grid_name, storage_path=f"{study.results.rstrip('/')}/{RAY_DIR}",
        verbose=1 if args.verbose else 0, stop=stop,   # Ray's trial tables: --verbose only
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
        callbacks=[progress(study), clean_board(), SignalCheckpointSaved(),
                   *tracking_callbacks(args.mlflow, args.wandb, study.grid_name, {},
                                       base=study.base.to_row())])
    return tune.Tuner(trainable, param_space=param_space(study.setup), tune_config=tune_config,
                      run_config=run_config)


def _trial_dirname(trial) -> str:
    return trial.trial_id   # short; Optuna's number and the λs are in the journal and the row


def progress(study: Study):
    """run_grid's progress line over the study's trials, each named by its Optuna number (its
    λs, and so its trial key, are drawn as it starts); a trial ASHA stops counts as done."""
    from sweeps.tune.progress import SweepProgress
    steps = total_steps(study.base)
    return SweepProgress(study.grid_name, {str(n): steps for n in range(study.setup["trials"])},
                         key=_optuna_number)


def _optuna_number(trial) -> str:
    from sweeps.study.journal_search import OPTUNA_TRIAL
    return str(trial.config.get(OPTUNA_TRIAL))


def run_study(study: Study, args: argparse.Namespace, selected: bool = False):
    """The selection manifest (unless `selected`: computed while a local Ray started), then the
    Tuner; rows of early-stopped trials say why."""
    from ray import tune
    from sweeps.tune.trainable import CatchSignals, Sweep
    # SIGTERM checkpoints the trial (GracefulStop's Ctrl-C, a spot node's end), as run_trial's
    # own mixin does in a grid; set here, where importing CatchSignals (it imports Ray) is due
    run_tuned_trial.__mixins__ = (CatchSignals,)
    resources = trial_resources(args.cpus_per_trial, args.gpus_per_trial)
    if not args.resume and not selected:
        prepare_manifests([study.base], resources)
    sweep = Sweep(study.grid_name, study.results, results.code_version(), force=False,
                  cpus=args.cpus_per_trial)
    trainable = tune.with_resources(
        tune.with_parameters(run_tuned_trial, base=study.base.to_row(), sweep=sweep), resources)
    outcome = make_tuner(study, trainable, args).fit()
    record_stopped(study, outcome)
    return outcome


def record_stopped(study: Study, outcome) -> None:
    """Rewrite the rows of trials stopped early (their own row says only that they were
    interrupted): why, and the step and val_score they had reached; how the trial was computed
    (computed-with columns) and when it started are kept from its own row."""
    from sweeps.store.rows import COMPUTED_WITH, RowSink
    from sweeps.tune.trainable import ROW_WRITTEN
    version = results.code_version()
    for trial in outcome:
        last = trial.metrics or {}
        if trial.error is not None or ROW_WRITTEN in last or not last.get("done"):
            continue   # failed, ran to its end, or interrupted with the driver (it resumes)
        cfg = trial_config(study.base, trial.config)
        own = results.read_row(results.row_path(study.results, study.grid_name, cfg),
                               ("started_at", *COMPUTED_WITH))
        why = (f"stopped early at step {last['step']} (val_score {last[VAL_SCORE]:.4g}): "
               f"below an ASHA rung's cutoff, PRUNED in study {study.name}")
        rows = RowSink(study.results, study.grid_name, version,
                       {k: own[k] for k in COMPUTED_WITH if k in own})
        rows.write(cfg, "stopped", own.get("started_at") or results.utc_now(), error=why,
                   result={VAL_SCORE: last[VAL_SCORE], "steps_done": last["step"]})
        print(f"trial {cfg.key()} {why} (Tune's own line calls it completed: it ended it)")


# --- the end ----------------------------------------------------------------------------------
def finish_finished(study: Study):
    """The study, with each RUNNING trial whose `ok` row exists told COMPLETE (the journal lost
    the record saying so: a crash cut it); returns the loaded optuna.Study."""
    import optuna
    ot_study = optuna.load_study(study_name=study.name, storage=journal_storage(study.journal))

    def row_of(params: dict) -> dict:
        if not set(SEARCH) <= set(params):   # asked, λs not all drawn: it never ran
            return {}
        path = results.row_path(study.results, study.grid_name, trial_config(study.base, params))
        return results.read_row(path, ("status", VAL_SCORE))
    told = finish_from_rows(ot_study, row_of, VAL_SCORE)
    if told:
        print(f"note: trial{'s' * (len(told) > 1)} {', '.join(map(str, told))} of study "
              f"{study.name} finished (ok rows) but the journal had lost the record: told "
              f"COMPLETE", file=sys.stderr)
    return ot_study


def summarize(study: Study) -> tuple[str, bool]:
    """The study's trials from the journal, its best weights and the run_grid command using
    them; False when no trial completed."""
    import optuna
    ot_study = finish_finished(study)
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
    if len(complete) < MIN_FINISHERS:
        lines.append(f"note: only {len(complete)} of {len(frame)} trials ran to their end (the "
                     f"others were pruned or failed): the best below is the best of "
                     f"{len(complete)}, not a ranking of the study; a study with more --trials "
                     f"ranks more")
    lines.append(f"best: trial {best.number}, {objective_column(study.base)} {best.value:.4g} on the "
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


def objective_column(cfg: TrialConfig) -> str:
    """The evaluation column val_score is (mean_iou, or maps_pixel_acc)."""
    from trainer.data import dataset_info
    from trainer.eval.protocols import main_metric, protocol_for
    info = dataset_info(cfg.dataset)
    return main_metric(protocol_for(info.kind, cfg.direction, info.classes))


def interrupted(study: Study, argv: list[str], signum: int) -> int:
    """What the driver says after a stop: the trials finished in the journal, the command that
    resumes the study (the journal keeps its trials, Tune's state their checkpoints)."""
    import optuna
    from sweeps.tune.hints import stopped_exit
    ot_study = optuna.load_study(study_name=study.name, storage=journal_storage(study.journal))
    done = sum(t.state.is_finished() for t in ot_study.trials)
    return stopped_exit(f"{done} of {study.setup['trials']} trials of study {study.name} have "
                        f"finished (in {study.journal})", argv, "sweeps/tune_weights.py", signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    replace_ray_hints(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # for the --resume line
    if not args.verbose:   # Optuna's notes ("A new study created in Journal ...") too
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = open_study(args)
        check_available(args.mlflow, args.wandb)
        with lease.hold(study.results, study.grid_name):   # one driver per study
            finish_finished(study)
            print(f"curves: tensorboard --logdir {study.experiment}/{BOARD_DIR}"
                  + ("   (Ray's own hint below names a temporary copy)" * args.verbose))
            from sweeps.tune.driver_stop import fit_stoppably   # (they import Ray)
            from sweeps.tune.progress import quiet_ray
            quiet_ray(args.verbose)
            selected = connect_and_select(args.address, [] if args.resume else [study.base],
                                          log_to_driver=args.verbose)
            outcome, stopped = fit_stoppably(   # Ctrl-C: graceful
                lambda: run_study(study, args, selected=selected))
        if stopped:   # the lease is released; the journal and Tune's state are saved
            return interrupted(study, args.argv, stopped)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if outcome.errors:
        print(f"{len(outcome.errors)} trials failed after retries", file=sys.stderr)
    text, found = summarize(study)
    print(text)
    return 0 if found else 1
