"""Orchestration overhead per trial: what Ray Tune + the Parquet row add to a trial.

Runs the same N trials twice, one at a time, in this run:
  baseline  trainer.train.train called directly, in this process (torch already imported);
  sweep     sweeps.run_grid.run_sweep: the Tuner launches each trial in a Ray actor (reused
            across trials), every report goes through tune.report, every checkpoint is
            persisted to the storage path by Tune, and each trial writes its Parquet row.
Overhead per trial = (Tuner.fit wall time - baseline wall time) / N; Ray's start-up and the
selection manifests happen once per sweep and are timed apart. The trials report and checkpoint
as often as a ~60 s paper trial does (--reports and --checkpoints per trial; the paper's
cadence: every 100 and 500 steps at ~13 steps/s on an H200), so the overhead is printed as a
share of a 60 s trial (target < 3 %) and as the sweep/baseline ratio of this run.
Tiny networks here: a paper-size checkpoint (~0.35 GB) costs more to persist; its copy time is
printed too, from a file of that size written and copied on this machine.

    python bench/orchestration_overhead.py [--trials 4] [--steps 240] [--reports 12]
                                           [--checkpoints 2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

NOMINAL_TRIAL_S = 60.0          # the reference trial length
PAPER_CHECKPOINT_BYTES = 350e6  # G, F (11.4 M params each), D_X, D_Y (2.8 M) + Adam moments, fp32


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=4, help="trials in each of the two runs")
    p.add_argument("--steps", type=int, default=240, help="training steps per trial")
    p.add_argument("--reports", type=int, default=12, help="tune.report calls per trial")
    p.add_argument("--checkpoints", type=int, default=2, help="checkpoints per trial")
    return p.parse_args()


def bench_plan(args: argparse.Namespace, storage: str):
    """The smoke grid's first trial, at N seeds and the asked cadence, on the small toy set."""
    from sweeps import run_grid
    from trainer.data import toy_root
    data = str(toy_root("toy-streets", "small"))
    cli = run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--storage", storage, "--data-root", data, "--max-concurrent", "1",
         "--gpus-per-trial", "0"])
    plan = run_grid.plan_sweep(cli)
    base = plan.cfgs[0].replace(steps=args.steps, report_every=max(1, args.steps // args.reports),
                                checkpoint_every=max(1, args.steps // args.checkpoints))
    plan.cfgs = plan.todo = [base.replace(seed=s) for s in range(args.trials)]
    plan.columns = ["seed"]
    return plan, cli


def direct_seconds(cfgs) -> float:
    from trainer.train import train
    start = time.perf_counter()
    for cfg in cfgs:
        with tempfile.TemporaryDirectory() as workdir:
            train(cfg, workdir, report=lambda metrics, checkpoint_dir: None)
    return time.perf_counter() - start


def sweep_seconds(plan, cli) -> float:
    from ray import tune
    from sweeps import run_grid
    resources = run_grid.trial_resources(cli.cpus_per_trial, cli.gpus_per_trial)
    trainable = tune.with_resources(run_grid.trainable_for(plan, cli), resources)
    tuner = run_grid.make_tuner(plan, trainable, cli)
    start = time.perf_counter()
    outcome = tuner.fit()
    elapsed = time.perf_counter() - start
    if outcome.errors:
        raise SystemExit(f"error: {len(outcome.errors)} trials failed: {outcome.errors[0]}")
    return elapsed


def copy_seconds(nbytes: float, folder: str) -> float:
    """Seconds to copy a file of `nbytes` within `folder` (Tune's persist of a local checkpoint)."""
    source, target = os.path.join(folder, "ckpt.bin"), os.path.join(folder, "ckpt-copy.bin")
    with open(source, "wb") as out:
        out.write(os.urandom(int(nbytes)))
    start = time.perf_counter()
    shutil.copyfile(source, target)
    return time.perf_counter() - start


def main() -> int:
    args = parse_args()
    work = tempfile.mkdtemp(prefix="fewpair-bench-")
    os.environ.setdefault("FEWPAIR_CACHE", os.path.join(work, "cache"))
    import ray
    from sweeps import run_grid
    from trainer.selection import manifest_for
    try:
        plan, cli = bench_plan(args, os.path.join(work, "results"))
        for cfg in plan.todo:
            manifest_for(cfg)                      # selection is once per sweep: not timed
        direct_seconds(plan.todo[:1])              # warm-up: first-call costs of the trainer
        baseline = direct_seconds(plan.todo)
        start = time.perf_counter()
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
        ray_start = time.perf_counter() - start
        swept = sweep_seconds(plan, cli)
        per_trial = (swept - baseline) / args.trials
        persist = copy_seconds(PAPER_CHECKPOINT_BYTES, work) * args.checkpoints
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    n, nominal = args.trials, NOMINAL_TRIAL_S
    print(f"baseline  train() directly:  {baseline:6.1f} s for {n} trials "
          f"({baseline / n:.1f} s each)")
    print(f"sweep     Tuner.fit + rows:  {swept:6.1f} s for {n} trials ({swept / n:.1f} s each); "
          f"Ray start {ray_start:.1f} s, once per sweep")
    print(f"ratio sweep / baseline:      {swept / baseline:.3f}")
    print(f"overhead per trial:          {per_trial:.2f} s = {100 * per_trial / nominal:.1f} % "
          f"of a {nominal:.0f} s trial (target < 3 %)")
    print(f"+ persisting {args.checkpoints} paper-size checkpoints "
          f"(~{PAPER_CHECKPOINT_BYTES / 1e6:.0f} MB each) on this disk: {persist:.2f} s = "
          f"{100 * persist / nominal:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
