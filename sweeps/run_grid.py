"""Run a named grid on Ray Tune: one trial per TrialConfig, one Parquet row per trial.

    python sweeps/run_grid.py                          # the demo grid on this machine
    python sweeps/run_grid.py --grid table2 --data-root data/cityscapes --storage s3://b/fewpair
    python sweeps/run_grid.py --grid table2 --resume   # continue a killed sweep
    python sweeps/run_grid.py --grid table1 --dry-run  # trial count, what would run, GPU-hours

Flow: grid -> TrialConfigs -> drop those whose `ok` row exists (unless --force) -> join a
cluster (--address / RAY_ADDRESS) or start a local Ray -> selection manifests, once per distinct
selection, as Ray tasks -> a Tuner over `tune.grid_search` of the trials -> the grid's table.
Tune's state (checkpoints, experiment state for --resume) lives in `<results>/_ray/<grid>`;
rows in `<results>/<grid>/dataset=<name>/<trial_key>.parquet`.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):   # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pandas as pd   # noqa: E402

from sweeps import results   # noqa: E402
from sweeps.grids import (GridError, expand, get_grid, grid_names,  # noqa: E402
                          parse_labels_roots, parse_weights, varying_fields)
from trainer.config import ConfigError, TrialConfig   # noqa: E402
from trainer.data import DataError, dataset_info   # noqa: E402

USER_ERRORS = (GridError, ConfigError, DataError, results.ResultsError)   # one line, exit 2

RAY_DIR = "_ray"         # Tune's state under the results root; the leading "_" keeps readers out
MAX_FAILURES = 2         # retries per trial; a reclaimed spot node counts as one failure
KEEP_CHECKPOINTS = 2     # per trial in storage: the latest, and one before it in case it is torn
# Aggregate generator steps/s of one GPU by trials sharing it (DESIGN.md, H200, fp32, 256², the
# paper's networks): 1 trial 11-15, 4 trials 26 in total. Used only by the --dry-run estimate.
GPU_STEPS_PER_S = {1: 13.0, 4: 26.0}
AUTOSCALER_CONFIG = "~/ray_bootstrap_config.yaml"   # written on the head node by `ray up`
MANIFEST_FIELDS = ("dataset", "data_root", "direction", "unpaired_labels", "unpaired_labels_root",
                   "mode", "paired_budget", "unpaired", "selection", "pool_selection",
                   "features", "seed")   # what can change a selection manifest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", default="demo", help=f"one of {', '.join(grid_names())}")
    p.add_argument("--dataset", help="run the grid on this dataset instead of its own")
    p.add_argument("--data-root", help="dataset folder (real datasets; toy ones are generated)")
    p.add_argument("--labels-root", action="append", default=[], metavar="NAME=PATH",
                   help="folder of a label-only set the grid uses (table3: gta5, synscapes)")
    p.add_argument("--storage", default="results", help="results root: a folder or s3://...")
    add_cluster_arguments(p)
    p.add_argument("--weights", help="cycle=..,identity=..,paired=..[,adv=..]: override the λs")
    p.add_argument("--resume", action="store_true", help="continue this grid's killed sweep")
    p.add_argument("--force", action="store_true", help="retrain trials that have a row")
    p.add_argument("--dry-run", action="store_true", help="print what would run, run nothing")
    return p


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """Where trials run and what each asks for; shared with sweeps/tune_weights.py (check_args
    reads them)."""
    p.add_argument("--gpus-per-trial", type=float, default=0.25,   # 4 trials share a GPU
                   help="GPU fraction per trial; 0 on a cluster without GPUs")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial")
    p.add_argument("--max-concurrent", type=int, help="most trials at once (default: as fit)")
    p.add_argument("--max-failures", type=int, default=MAX_FAILURES, help="retries per trial")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                   help="join this Ray cluster (default: $RAY_ADDRESS, else start a local one)")


# --- the plan ---------------------------------------------------------------------------------
@dataclass
class SweepPlan:
    grid: str
    results: str               # absolute results root or URI
    cfgs: list[TrialConfig]    # every trial of the grid
    todo: list[TrialConfig]    # the ones to train now
    columns: list[str]         # fields that vary across the grid

    @property
    def experiment(self) -> str:
        return f"{self.results.rstrip('/')}/{RAY_DIR}/{self.grid}"


def check_args(args: argparse.Namespace) -> None:
    """Resource and retry flags Ray would reject late (or wait forever on); one line each."""
    gpus = args.gpus_per_trial
    if gpus < 0 or (gpus > 1 and gpus != int(gpus)):
        raise GridError(f"--gpus-per-trial {gpus:g}: give a fraction in [0, 1] or a whole number")
    if args.cpus_per_trial <= 0:
        raise GridError(f"--cpus-per-trial {args.cpus_per_trial:g} must be > 0")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise GridError(f"--max-concurrent {args.max_concurrent} must be >= 1")
    if args.max_failures < 0:
        raise GridError(f"--max-failures {args.max_failures} must be >= 0")
    if args.data_root and not os.path.isdir(os.path.expanduser(args.data_root)):
        raise GridError(f"--data-root {args.data_root}: no such folder")


def absolute(path: str | None) -> str | None:
    """Tune runs each trial in its own folder: a relative path must not reach a trial."""
    return os.path.abspath(os.path.expanduser(path)) if path else path


def plan_sweep(args: argparse.Namespace) -> SweepPlan:
    check_args(args)
    grid = get_grid(args.grid, args.dataset)
    dataset_info(grid.dataset)   # an unknown dataset fails here, listing the valid ones
    weights = parse_weights(args.weights) if args.weights else None
    labels_roots = {name: absolute(path)
                    for name, path in parse_labels_roots(args.labels_root, grid).items()}
    cfgs = expand(grid, data_root=absolute(args.data_root), weights=weights,
                  labels_roots=labels_roots)
    root = results.resolve_root(args.storage)
    done = set() if args.force else results.done_keys(root, grid.name, cfgs)
    todo = [cfg for cfg in cfgs if cfg.key() not in done]
    return SweepPlan(grid.name, root, cfgs, todo, varying_fields(cfgs) or ["seed"])


def plan_table(plan: SweepPlan) -> pd.DataFrame:
    todo = {cfg.key() for cfg in plan.todo}
    rows = [{"trial_key": c.key(), **{k: getattr(c, k) for k in plan.columns},
             "state": "to run" if c.key() in todo else "done"} for c in plan.cfgs]
    return pd.DataFrame(rows)


def estimate_gpu_hours(cfgs: list[TrialConfig], gpus_per_trial: float) -> float:
    """GPU-hours of `cfgs` at the paper's sizes: steps / aggregate steps/s of a shared GPU."""
    per_gpu = max(1, round(1 / gpus_per_trial)) if gpus_per_trial > 0 else 1
    rate = GPU_STEPS_PER_S[1] + (GPU_STEPS_PER_S[4] - GPU_STEPS_PER_S[1]) * min(per_gpu - 1, 3) / 3
    return sum(planned_steps(cfg) for cfg in cfgs) / rate / 3600


def planned_steps(cfg: TrialConfig) -> int:
    """cfg.steps, or the trainer's default rule on the pool and budget sizes the config names."""
    if cfg.steps:
        return cfg.steps
    from trainer.schedule import StepPlan, default_steps
    info = dataset_info(cfg.dataset)
    toy_sizes = info.variants.get("default") or {}
    split = toy_sizes.get("train") or KNOWN_TRAIN_SIZES.get(cfg.dataset, 0)
    pool = split if cfg.unpaired < 0 else cfg.unpaired
    pairs = {0: 0, -1: pool}.get(cfg.paired_budget, cfg.paired_budget)
    step_plan = StepPlan(cfg.mode, cfg.mix, cfg.balance, pairs, pool, pool, cfg.seed, 0)
    return default_steps(step_plan.epoch_length)


KNOWN_TRAIN_SIZES = {"cityscapes": 2975, "pix2pix": 1096}   # published train splits (the paper)


def print_dry_run(plan: SweepPlan, gpus_per_trial: float) -> None:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    hours = estimate_gpu_hours(plan.todo, gpus_per_trial)
    print(f"\ngrid {plan.grid}: {len(plan.cfgs)} trials, {len(plan.todo)} to run, "
          f"{len(plan.cfgs) - len(plan.todo)} done")
    print(f"estimate: {hours:,.1f} GPU-hours for the trials to run at {gpus_per_trial:g} GPU per "
          f"trial (H200 rates at the paper's sizes, DESIGN.md; tiny demo sizes are CPU-bound)")


# --- the cluster ------------------------------------------------------------------------------
def connect(address: str | None) -> None:
    """Join `address`, or start a local Ray; reuse one this process already started."""
    import ray
    if ray.is_initialized():
        return
    if os.environ.get("FEWPAIR_CACHE"):   # workers start in their trial folders, not here
        os.environ["FEWPAIR_CACHE"] = absolute(os.environ["FEWPAIR_CACHE"])
    if address:   # workers of a joined cluster do not inherit this shell: pass the cache on
        env = {k: os.environ[k] for k in ("FEWPAIR_CACHE",) if k in os.environ}
        ray.init(address=address, runtime_env={"env_vars": env} if env else None)
    else:         # a local Ray; its workers inherit this environment
        ray.init(include_dashboard=False)


def largest_node(resource: str) -> float:
    """The most of `resource` one node offers now, or could offer once the autoscaler adds it."""
    import ray
    amounts = [n["Resources"].get(resource, 0.0) for n in ray.nodes() if n["Alive"]]
    amounts += [t.get("resources", {}).get(resource, 0.0) for t in _autoscaler_node_types()
                if t.get("max_workers", 1) > 0]
    return max(amounts, default=0.0)


def _autoscaler_node_types() -> list[dict]:
    """Node types of a `ray up` cluster (its bootstrap config on the head node), else none."""
    path = Path(AUTOSCALER_CONFIG).expanduser()
    if not path.is_file():
        return []
    import yaml
    config = yaml.safe_load(path.read_text()) or {}
    return list((config.get("available_node_types") or {}).values())


def trial_resources(cpus: float, gpus: float) -> dict[str, float]:
    """What each trial asks for; no GPU on a cluster that has none (else trials wait forever)."""
    if gpus > 0 and largest_node("GPU") == 0:
        print(f"note: the cluster has no GPU and can add none; trials ask for 0 GPUs, not {gpus:g}")
        gpus = 0.0
    for name, want in (("CPU", cpus), ("GPU", gpus)):
        have = largest_node(name)
        if want > have:
            raise GridError(f"--{name.lower()}s-per-trial {want:g} is more than any node offers "
                            f"({have:g} {name}); trials would wait forever")
    return {"cpu": cpus, "gpu": gpus}


# --- selection manifests ----------------------------------------------------------------------
def _manifest_task(point: dict) -> int:
    from trainer.selection import manifest_for
    manifest = manifest_for(TrialConfig.from_dict(point))
    return len(manifest.paired)


def prepare_manifests(cfgs: list[TrialConfig], resources: dict[str, float]) -> None:
    """Compute each distinct selection once, as Ray tasks, before any trial starts: first one
    per dataset (it generates toy data and caches the features), then the rest in parallel."""
    import ray
    from tqdm import tqdm
    unique = list({tuple(getattr(c, f, None) for f in MANIFEST_FIELDS): c for c in cfgs}.values())
    firsts = list({(c.dataset, c.data_root, c.features): c for c in unique}.values())
    task = ray.remote(_manifest_task).options(num_cpus=resources["cpu"],
                                              num_gpus=resources["gpu"])
    with tqdm(total=len(unique), desc="selection manifests", unit="manifest") as bar:
        for batch in (firsts, [c for c in unique if c not in firsts]):
            _wait_all({task.remote(c.to_row()): c for c in batch}, bar)


def _wait_all(pending: dict, bar) -> None:
    """ray.get each task as it finishes; a selection error names the trial and its cause."""
    import ray
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cfg = pending.pop(ready[0])
        try:
            ray.get(ready[0])
        except ray.exceptions.RayTaskError as err:
            if not isinstance(err.cause, ValueError):   # a bug, not bad input: its traceback
                raise
            raise GridError(f"selection for trial {cfg.key()} (budget {cfg.paired_budget}, "
                            f"pool {cfg.unpaired}, {cfg.selection}, seed {cfg.seed}): "
                            f"{err.cause}") from None
        bar.update()


# --- the Tuner --------------------------------------------------------------------------------
class _Field:
    """`tune.sample_from` callable: one varying field of the trial its `trial_key` names, so
    each trial's configuration box shows budget, selector, seed... beside the key."""

    def __init__(self, points: dict[str, dict], name: str):
        self.points, self.name = points, name

    def __call__(self, config: dict) -> object:
        return self.points[config["trial_key"]][self.name]


def param_space(plan: SweepPlan) -> dict:
    """One `tune.grid_search` axis over the trial keys (the progress table's column; a key
    names the trial's row file), plus the fields that vary across the grid."""
    from ray import tune
    points = {cfg.key(): cfg.to_row() for cfg in plan.todo}
    return {"trial_key": tune.grid_search(list(points)),
            **{name: tune.sample_from(_Field(points, name)) for name in plan.columns}}


def trainable_for(plan: SweepPlan, args: argparse.Namespace, train_fn=None):
    """run_trial with every trial's config (looked up by key in the trial), the results
    location and the code version; a resumed sweep gets the same from the current grid."""
    from ray import tune
    from sweeps.trainable import Sweep, run_trial
    configs = {cfg.key(): cfg.to_row() for cfg in plan.cfgs}
    sweep = Sweep(plan.grid, plan.results, results.code_version(), args.force, args.cpus_per_trial)
    return tune.with_parameters(run_trial, configs=configs, sweep=sweep, train_fn=train_fn)


def make_tuner(plan: SweepPlan, trainable, args: argparse.Namespace):
    from ray import tune
    if args.resume:
        if not tune.Tuner.can_restore(plan.experiment):
            raise GridError(f"--resume: no sweep of grid {plan.grid!r} to resume at "
                            f"{plan.experiment}; run without --resume")
        return tune.Tuner.restore(plan.experiment, trainable, resume_unfinished=True,
                                  resume_errored=True)
    run_config = tune.RunConfig(
        name=plan.grid, storage_path=f"{plan.results.rstrip('/')}/{RAY_DIR}", verbose=1,
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS))
    tune_config = tune.TuneConfig(  # reuse_actors: torch is imported once per actor, not per trial
        max_concurrent_trials=args.max_concurrent, trial_dirname_creator=_trial_dirname,
        reuse_actors=True)
    return tune.Tuner(trainable, param_space=param_space(plan), tune_config=tune_config,
                      run_config=run_config)


def _trial_dirname(trial) -> str:
    """`<trial_key>_<tune id>`: the key names the row, the id keeps reruns' folders apart."""
    return f"{trial.config['trial_key']}_{trial.trial_id}"


def run_sweep(plan: SweepPlan, args: argparse.Namespace, train_fn=None):
    """Manifests, then the Tuner; returns Tune's ResultGrid. `train_fn` replaces
    trainer.train.train inside the trials (tests wrap the real one to inject a failure)."""
    from ray import tune
    resources = trial_resources(args.cpus_per_trial, args.gpus_per_trial)
    if not args.resume:
        prepare_manifests(plan.todo, resources)
    trainable = tune.with_resources(trainable_for(plan, args, train_fn), resources)
    if not args.resume and tune.Tuner.can_restore(plan.experiment):
        print(f"note: {plan.experiment} holds an earlier sweep of this grid; this run starts its "
              f"unfinished trials afresh (--resume continues them from their checkpoints)")
    tuner = make_tuner(plan, trainable, args)
    return tuner.fit()


# --- the end ----------------------------------------------------------------------------------
def summarize(plan: SweepPlan) -> str:
    """The grid's tables and plots (analysis package), and where the rows and plots are."""
    from analysis import AnalysisError, build_report
    planned = [{**cfg.to_row(), "trial_key": cfg.key()} for cfg in plan.cfgs]
    plots = plot_dir(plan.results)
    plots.mkdir(parents=True, exist_ok=True)
    try:
        built = build_report(plan.results, plan.grid, planned=planned,
                             plot=plots / f"{plan.grid}-budget.png",
                             seed_plot=plots / f"{plan.grid}-seeds.png")
    except AnalysisError as err:   # e.g. no finished trial to plot
        return f"{err}\nrows: {results.grid_dir(plan.results, plan.grid)}"
    where = [f"rows:  {results.grid_dir(plan.results, plan.grid)}"]
    where += [f"plot:  {path}" for path in built.plots]
    return built.text.rstrip() + "\n\n" + "\n".join(where)


def plot_dir(root: str) -> Path:
    """`<results>/plots` for a local results root; `./plots` when the rows are remote."""
    return Path("plots") if "://" in root else Path(root) / "plots"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    plan = plan_sweep(args)
    if args.dry_run:
        print_dry_run(plan, args.gpus_per_trial)
        return 0
    if not plan.todo and not args.resume:
        print(f"grid {plan.grid}: all {len(plan.cfgs)} trials have rows; nothing to train "
              f"(--force retrains)")
    else:
        print_plan(plan)
        connect(args.address)
        grid_result = run_sweep(plan, args)
        if grid_result.errors:
            print(f"{len(grid_result.errors)} trials failed after retries", file=sys.stderr)
    print(summarize(plan))
    rows = results.read_rows(plan.results, plan.grid)
    return 1 if len(rows) and (rows["status"] != "ok").any() else 0


def print_plan(plan: SweepPlan) -> None:
    """Which trial key is which config (Ray's progress table shows keys), then what runs."""
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(plan_table(plan).to_string(index=False))
    print(f"grid {plan.grid}: {len(plan.todo)} of {len(plan.cfgs)} trials to run; "
          f"rows go to {results.grid_dir(plan.results, plan.grid)}\n")


if __name__ == "__main__":
    sys.exit(main())
