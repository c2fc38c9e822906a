"""Orchestration overhead per trial: what Ray Tune + the Parquet row add to a trial.

Runs the same N trials twice, one at a time, in this run:
  baseline  trainer.run.loop.train called directly, in this process (torch already imported);
  sweep     sweeps.tune.grid_sweep's Tuner: each trial runs in a Ray actor (reused across trials),
            every report goes through tune.report, every checkpoint is persisted to the storage
            path by Tune, and each trial writes its Parquet row.
Steady-state overhead per trial = (time between the rows of trials 1 and N) / (N - 1) minus the
mean baseline trial 2..N; the first trial's extra time (Tune's start and the actor's start,
which imports torch: once per concurrent trial slot, not per trial) is printed apart, and so is
Ray's start-up (once per sweep). The trials report and checkpoint as often as a ~60 s paper
trial (--reports and --checkpoints; the paper's cadence: every 100 and 500 steps at ~13
steps/s on an H200), so the overhead is printed as a share of a 60 s trial (target < 3 %).
Tiny networks here: persisting a paper-size checkpoint (~0.35 GB) costs more; that copy is
timed on this disk and printed too.

    python bench/orchestration_overhead.py [--trials 5] [--steps 240] [--reports 12]
                                           [--checkpoints 2]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time

# bench/ is this script's folder, first on sys.path
from checkpoint_size import paper_checkpoint_bytes

NOMINAL_TRIAL_S = 60.0          # a reference trial length: overhead is reported against it


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=5, help="trials in each of the two runs")
    p.add_argument("--steps", type=int, default=240, help="training steps per trial")
    p.add_argument("--reports", type=int, default=12, help="tune.report calls per trial")
    p.add_argument("--checkpoints", type=int, default=2, help="checkpoints per trial")
    return p.parse_args()


def bench_plan(args: argparse.Namespace, storage: str):
    """The smoke grid's first trial, at N seeds and the asked cadence, on the small toy set."""
    from sweeps import run_grid
    from sweeps.plan import sweep as sweep_plan
    from trainer.data import toy_root
    data = str(toy_root("toy-streets", "small"))
    cli = run_grid.build_parser().parse_args(
        ["--grid", "smoke", "--storage", storage, "--data-root", data, "--max-concurrent", "1",
         "--gpus-per-trial", "0"])
    plan = sweep_plan.plan_sweep(cli)
    base = plan.cfgs[0].replace(steps=args.steps, report_every=max(1, args.steps // args.reports),
                                checkpoint_every=max(1, args.steps // args.checkpoints))
    cfgs = [base.replace(seed=s) for s in range(args.trials)]
    plan = dataclasses.replace(plan, cfgs=cfgs, todo=cfgs, columns=["seed"])
    return plan, cli


def direct_seconds(cfgs, threads: int) -> list[float]:
    """Wall seconds of each trial, trained directly one after the other, on as many torch
    threads as a trial's actor gets (Ray sets OMP_NUM_THREADS to its CPUs)."""
    import torch
    from trainer.run.loop import train
    torch.set_num_threads(threads)
    seconds = []
    for cfg in cfgs:
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            train(cfg, workdir, report=lambda metrics, checkpoint_dir: None)
            seconds.append(time.perf_counter() - start)
    return seconds


def sweep_seconds(plan, cli) -> tuple[float, list[float]]:
    """(Tuner.fit wall seconds, each trial's row time in seconds after fit started)."""
    from ray import tune
    from sweeps.tune import grid_sweep, launch
    from sweeps.store import results
    resources = launch.trial_resources(cli.cpus_per_trial, cli.gpus_per_trial)
    trainable = tune.with_resources(grid_sweep.trainable_for(plan, cli), resources)
    tuner = grid_sweep.make_tuner(plan, trainable, cli)
    started = results.utc_now()
    start = time.perf_counter()
    outcome = tuner.fit()
    elapsed = time.perf_counter() - start
    if outcome.errors:
        raise SystemExit(f"error: {len(outcome.errors)} trials failed: {outcome.errors[0]}")
    rows = results.read_rows(plan.results, plan.grid)
    finished = sorted((t - started).total_seconds() for t in rows["finished_at"])
    return elapsed, finished


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
    if args.trials < 2:
        print("error: --trials must be >= 2 (the steady state is trials 2..N)", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="fewpair-bench-")
    os.environ.setdefault("FEWPAIR_CACHE", os.path.join(work, "cache"))
    import ray
    from trainer.selection import manifest_for
    try:
        plan, cli = bench_plan(args, os.path.join(work, "results"))
        for cfg in plan.todo:
            manifest_for(cfg)                      # selection is once per sweep: not timed
        threads = max(1, int(cli.cpus_per_trial))
        direct_seconds(plan.todo[:1], threads)     # warm-up: first-call costs of the trainer
        baseline = direct_seconds(plan.todo, threads)
        start = time.perf_counter()
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
        ray_start = time.perf_counter() - start
        swept, finished = sweep_seconds(plan, cli)
        checkpoint_bytes = paper_checkpoint_bytes()
        persist = copy_seconds(checkpoint_bytes, work) * args.checkpoints
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    report(args, baseline, swept, finished, ray_start, persist, checkpoint_bytes)
    return 0


def report(args, baseline: list[float], swept: float, finished: list[float], ray_start: float,
           persist: float, checkpoint_bytes: float) -> None:
    n, nominal = args.trials, NOMINAL_TRIAL_S
    steady_base = sum(baseline[1:]) / (n - 1)
    steady_sweep = (finished[-1] - finished[0]) / (n - 1)
    per_trial = steady_sweep - steady_base
    first_extra = finished[0] - baseline[0]
    print(f"baseline  train() directly:   {sum(baseline):6.1f} s for {n} trials; trials 2..{n}: "
          f"{steady_base:.2f} s each")
    print(f"sweep     Tuner.fit + rows:   {swept:6.1f} s for {n} trials; trials 2..{n}: "
          f"{steady_sweep:.2f} s each (row to row)")
    print(f"ratio sweep / baseline:       {swept / sum(baseline):.3f} (all {n} trials), "
          f"{steady_sweep / steady_base:.3f} (trials 2..{n})")
    print(f"overhead per trial:           {per_trial:.2f} s = {100 * per_trial / nominal:.1f} % "
          f"of a {nominal:.0f} s trial (target < 3 %)")
    print(f"first trial's extra:          {first_extra:.1f} s (Tune start + actor start with "
          f"its torch import: once per concurrent slot); Ray start {ray_start:.1f} s, once per "
          f"sweep")
    print(f"+ persisting {args.checkpoints} paper-size checkpoints "
          f"(~{checkpoint_bytes / 1e6:.0f} MB each) on this disk: {persist:.2f} s = "
          f"{100 * persist / nominal:.1f} %")


if __name__ == "__main__":
    sys.exit(main())
