"""What a trial's own learning curve costs: train() with curve_every against the same trial
without, in one run.

Both sides train the demo grid's hybrid trial shape (toy-streets, 32 px, ngf 8, 2 blocks, a
pool of 40, 5 k-medoids pairs, 24 val images) and end with the same final evaluation; the
curve side also scores, every S steps, the val images and as many holdout images (the curve's
last point is the final evaluation, so it adds only a holdout pass there). Rounds alternate
between the two so a busy machine slows both alike; each side keeps its best round. Prints both
sides' wall and CPU seconds (the process's, every thread), their ratios, and -- steadier on a
shared machine, where two whole runs differ by more than the curve costs -- the CPU seconds of
the evaluate() passes the curve adds, timed one by one inside the curve runs (every pass but
the final evaluation, which both sides run), and the ratio they make against the run without.

    .venv/bin/python bench/curve_cost.py [--device cpu|cuda] [--steps N] [--curve-every S]
        [--eval-limit N] [--image-size PX] [--ngf N] [--n-blocks N] [--rounds R]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from trainer.core.config import TrialConfig
from trainer.run.loop import train
from validation_overhead import add_trial_arguments, toy_trial  # bench/ is this script's folder


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=500, help="training steps per trial")
    p.add_argument("--curve-every", type=int, default=100, help="steps between curve points")
    p.add_argument("--eval-limit", type=int, default=24,
                   help="val images per pass (the demo grid's), and as many holdout images")
    add_trial_arguments(p, rounds=2)
    return p


PASSES: list[float] = []   # CPU seconds of each evaluate() call of the run in progress but
                           # the final evaluation (the one given a samples PNG), which both run


def timing_evaluate() -> None:
    """Wrap trainer.eval.evaluate.evaluate (looked up at each call by the trial) to note the
    passes' CPU seconds in PASSES."""
    from trainer.eval import evaluate as module
    real = module.evaluate

    def evaluate(translate, cfg, device, samples_png=None):
        started = time.process_time()
        try:
            return real(translate, cfg, device, samples_png)
        finally:
            if samples_png is None:
                PASSES.append(time.process_time() - started)
    module.evaluate = evaluate


def timed(cfg: TrialConfig) -> tuple[float, float]:
    """(wall, CPU) seconds of train() in a fresh workdir."""
    with tempfile.TemporaryDirectory(prefix="fewpair-bench-") as workdir:
        wall, cpu = time.perf_counter(), time.process_time()
        train(cfg, workdir)
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)   # tiny convs: one thread is fastest, and the box is shared
    plain = toy_trial(args, unpaired=40, paired_budget=5)   # the demo's hybrid shape
    curved = plain.replace(curve_every=args.curve_every)
    timed(curved)                  # warm-up: toy data, manifest, features, allocator
    timing_evaluate()
    best = {"without": (float("inf"),) * 2, "with": (float("inf"),) * 2}
    added = float("inf")           # CPU s of the passes the curve adds, best round
    for _ in range(args.rounds):
        for side, cfg in (("without", plain), ("with", curved)):
            PASSES.clear()
            best[side] = tuple(map(min, best[side], timed(cfg)))   # (wall, cpu) each at best
        added = min(added, sum(PASSES))
    passes = len(PASSES)
    (wall0, cpu0), (wall1, cpu1) = best["without"], best["with"]
    points = -(-args.steps // args.curve_every)   # multiples of S, and the last step
    print(f"device {args.device}, {args.steps} steps of {args.image_size}px (ngf {args.ngf}, "
          f"{args.n_blocks} blocks), {args.eval_limit} val + {args.eval_limit} holdout images "
          f"per point, best of {args.rounds} alternating rounds")
    print(f"train() without a curve: {wall0:.2f} s wall, {cpu0:.2f} s CPU")
    print(f"train() with a point every {args.curve_every} steps ({points} points): "
          f"{wall1:.2f} s wall, {cpu1:.2f} s CPU")
    print(f"ratio with / without: {wall1 / wall0:.3f} wall, {cpu1 / cpu0:.3f} CPU (whole runs)")
    print(f"the {passes} passes the curve adds: {added:.2f} CPU s, ratio "
          f"{(cpu0 + added) / cpu0:.3f} against the run without; ~{added / points:.3f} CPU s per "
          f"point, ~{added / points / cpu0 * args.steps:.0f} training steps' worth")


if __name__ == "__main__":
    main()
