"""A grid's Tuner: one Tune trial per trial of the plan (or per pack), each asked exactly once
by Tune's generator; the trainable with every trial's config; the driver's callbacks; and the
fit (sweeps.tune.grid_sweep runs it, tests call run_sweep with a wrapped trainer)."""
from __future__ import annotations

import argparse

from sweeps.plan.grids import GridError
from sweeps.plan.packs import pack_resources
from sweeps.plan.sweep import SweepPlan
from sweeps.store import results
from sweeps.store.paths import RAY_DIR
from sweeps.tune.launch import KEEP_CHECKPOINTS, prepare_manifests, trial_resources


def trial_points(plan: SweepPlan, todo_only: bool = True) -> list[dict]:
    """Each Tune trial's config: a trial's key and the fields that vary across the grid; with
    packs, the id and size of each pack with a member left to train (todo_only=False: of every
    trial or pack of the grid)."""
    cfgs = plan.todo if todo_only else plan.cfgs
    if plan.packs is not None:
        keys = {cfg.key() for cfg in cfgs}
        return [{"pack_id": p.id, "pack_size": len(p.keys)}
                for p in plan.packs if keys & set(p.keys)]
    return [{"trial_key": cfg.key(), **{name: getattr(cfg, name) for name in plan.columns}}
            for cfg in cfgs]


def param_space(plan: SweepPlan, todo_only: bool = True) -> dict:
    """A categorical per config key, each holding the values the trials take. Tune's search
    asks exactly `trial_points` (one trial each, nothing sampled), and its progress table shows
    every categorical as a column: the key (it names the row) and what varies (budget,
    selection, seed, ...); a grid search of keys would show the key alone."""
    from ray import tune
    points = trial_points(plan, todo_only)
    return {name: tune.choice(list(dict.fromkeys(p[name] for p in points)))
            for name in points[0]} if points else {}


def search_alg(plan: SweepPlan, max_concurrent: int | None = None, force: bool = False):
    """Tune's basic generator over exactly the planned points (num_samples = their number), at
    most `max_concurrent` at once. (Tune ignores TuneConfig.max_concurrent_trials, with a mere
    warning, when it is given a generator: the limit must be the generator's own.) With
    adaptive seeds, the searcher that follows the rule (sweeps.tune.adaptive)."""
    if plan.adaptive is not None:
        return _adaptive_search(plan, max_concurrent, force)
    from ray.tune.search.basic_variant import BasicVariantGenerator
    return BasicVariantGenerator(points_to_evaluate=trial_points(plan),
                                 max_concurrent=max_concurrent or 0)


def _adaptive_search(plan: SweepPlan, max_concurrent: int | None, force: bool):
    from functools import partial

    from ray.tune.search import ConcurrencyLimiter
    from sweeps.plan.sweep import read_outcome
    from sweeps.tune.adaptive import AdaptiveSeedSearch
    points = {p["trial_key"]: p for p in trial_points(plan, todo_only=False)}
    search = AdaptiveSeedSearch(plan.adaptive, points, partial(read_outcome, plan, failed_too=True),
                                outcome={} if force else read_outcome(plan))
    return ConcurrencyLimiter(search, max_concurrent) if max_concurrent else search


def num_samples(plan: SweepPlan) -> int:
    """How many Tune trials at most: the planned points; adaptive: its worst case."""
    if plan.adaptive is not None:
        return max(1, len(plan.untrained or []))
    return len(trial_points(plan))


def trainable_for(plan: SweepPlan, args: argparse.Namespace, train_fn=None):
    """run_trial with every trial's config (looked up by key in the trial), the results
    location and the code version; a resumed sweep gets the same from the current grid."""
    from ray import tune
    from sweeps.tune.trainable import Sweep, run_trial
    configs = {cfg.key(): cfg.to_row() for cfg in plan.cfgs}
    sweep = Sweep(plan.grid, plan.results, results.code_version(), args.force, args.cpus_per_trial)
    if plan.packs is not None:
        from sweeps.tune.pack_trial import run_pack
        packs = {p.id: list(p.keys) for p in plan.packs}
        return tune.with_parameters(run_pack, configs=configs, packs=packs, sweep=sweep,
                                    train_fn=train_fn)
    return tune.with_parameters(run_trial, configs=configs, sweep=sweep, train_fn=train_fn)


def make_tuner(plan: SweepPlan, trainable, args: argparse.Namespace):
    from ray import tune
    if args.resume:
        if not tune.Tuner.can_restore(plan.experiment):
            raise GridError(f"--resume: no sweep of grid {plan.grid!r} to resume at "
                            f"{plan.experiment}; run without --resume")
        # The space again (Tune keeps none of it): the generator, limited by --max-concurrent,
        # may still have points to ask, and resolves them against it (same keys as before).
        return tune.Tuner.restore(plan.experiment, trainable, resume_unfinished=True,
                                  resume_errored=True, param_space=_space(plan, False))
    run_config = tune.RunConfig(
        name=plan.grid, storage_path=f"{plan.results.rstrip('/')}/{RAY_DIR}",
        verbose=1 if args.verbose else 0,   # Ray's trial tables: --verbose only
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS),
        callbacks=callbacks(plan, args), stop=_graceful_stop())
    from sweeps.tune.board import run_name
    tune_config = tune.TuneConfig(  # reuse_actors: torch is imported once per actor, not per trial
        trial_dirname_creator=_trial_dirname, trial_name_creator=run_name, reuse_actors=True,
        search_alg=search_alg(plan, args.max_concurrent, args.force),
        num_samples=num_samples(plan))
    return tune.Tuner(trainable, param_space=_space(plan), tune_config=tune_config,
                      run_config=run_config)


def _space(plan: SweepPlan, todo_only: bool = True) -> dict:
    """param_space, or none for adaptive seeds (its searcher suggests whole configs)."""
    return {} if plan.adaptive is not None else param_space(plan, todo_only)


def _graceful_stop():   # sweeps.tune.driver_stop imports Ray: only when a Tuner is made
    from sweeps.tune.driver_stop import GracefulStop
    return GracefulStop()


def callbacks(plan: SweepPlan, args: argparse.Namespace) -> list:
    """The driver's progress line and ETA, Ctrl-C's wait for the trials' checkpoints, and the
    trackers asked for (--mlflow, --wandb)."""
    from sweeps.tune.progress import SweepProgress
    from sweeps.tune.tracking import tracking_callbacks
    from trainer.run.schedule import total_steps
    configs = {cfg.key(): cfg.to_row() for cfg in plan.cfgs}
    planned = {cfg.key(): total_steps(cfg) for cfg in plan.todo}
    sizes = None
    if plan.packs is not None:   # a pack reports its members' common step
        sizes = {p.id: len(set(p.keys) & set(planned)) for p in plan.packs
                 if set(p.keys) & set(planned)}
        planned = {p.id: max(planned.get(k, 0) for k in p.keys) for p in plan.packs
                   if p.id in sizes}
    from sweeps.tune.board import clean_board
    from sweeps.tune.driver_stop import SignalCheckpointSaved   # Ctrl-C waits for the saves
    return [SweepProgress(plan.grid, planned, sizes=sizes), clean_board(), SignalCheckpointSaved(),
            *tracking_callbacks(args.mlflow, args.wandb, plan.grid, configs)]


def _trial_dirname(trial) -> str:
    """`<trial_key>_<tune id>` (a pack's: `<pack_id>_<tune id>`): the key names the row, the id
    keeps reruns' folders apart."""
    name = trial.config.get("trial_key") or trial.config["pack_id"]
    return f"{name}_{trial.trial_id}"


def run_sweep(plan: SweepPlan, args: argparse.Namespace, train_fn=None, selected: bool = False):
    """Manifests (unless `selected`: computed while a local Ray started), then the Tuner;
    returns Tune's ResultGrid. `train_fn` replaces trainer.run.loop.train (with packs:
    trainer.run.loop.train_pack) inside the trials (tests wrap the real one to inject a
    failure)."""
    from ray import tune
    resources = trial_resources(args.cpus_per_trial, args.gpus_per_trial)
    if not args.resume and not selected:
        prepare_manifests(plan.todo, resources)
    if plan.packs is not None:
        resources = pack_resources(resources, plan)
    trainable = tune.with_resources(trainable_for(plan, args, train_fn), resources)
    if not args.resume and tune.Tuner.can_restore(plan.experiment):
        print(f"note: {plan.experiment} holds an earlier sweep of this grid; this run starts its "
              f"unfinished trials afresh (--resume continues them from their checkpoints)")
    tuner = make_tuner(plan, trainable, args)
    return tuner.fit()
