"""What tuning's validation passes cost: train() with eval_every against the same trial without.

Both runs train the same TrialConfig (eval_split="holdout": toy-streets training images outside
the unpaired pool) and end with the same final evaluation; the `eval_every` run also evaluates
every S steps (the passes ASHA's early stopping reads). Rounds alternate between the two so a
busy machine slows both alike; each side keeps its best round. Prints both wall times, their
ratio, and the seconds of one validation pass.

    .venv/bin/python bench/validation_overhead.py [--device cpu|cuda] [--steps N]
        [--eval-every S] [--eval-limit N] [--image-size PX] [--ngf N] [--n-blocks N] [--rounds R]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch

from trainer.core.config import TrialConfig
from trainer.data import toy_root
from trainer.run.loop import train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=80, help="training steps per trial")
    p.add_argument("--eval-every", type=int, default=10, help="steps between validation passes")
    p.add_argument("--eval-limit", type=int, default=24, help="holdout images per pass")
    add_trial_arguments(p, rounds=3)
    return p


def add_trial_arguments(p: argparse.ArgumentParser, rounds: int) -> None:
    """The flags both overhead benches share: device, sizes, rounds (bench/curve_cost.py)."""
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--image-size", type=int, default=32, help="training crop, px (CPU default)")
    p.add_argument("--ngf", type=int, default=8, help="generator / discriminator width")
    p.add_argument("--n-blocks", type=int, default=2, help="residual blocks per generator")
    p.add_argument("--rounds", type=int, default=rounds, help="alternating rounds per side")


def toy_trial(args: argparse.Namespace, **fields) -> TrialConfig:
    """A trial on the default toy-streets set (300 training images) at the flags' sizes,
    `steps` and `eval_limit`, reporting and checkpointing only at the end."""
    return TrialConfig(dataset="toy-streets", data_root=str(toy_root("toy-streets")),
                       eval_limit=args.eval_limit, steps=args.steps, image_size=args.image_size,
                       load_size=round(args.image_size * 286 / 256), ngf=args.ngf, ndf=args.ngf,
                       n_blocks=args.n_blocks, device=args.device, report_every=0,
                       checkpoint_every=0, **fields)


def config(args: argparse.Namespace) -> TrialConfig:
    """A hybrid trial on the default toy-streets set (a pool of 100), scored on the holdout."""
    return toy_trial(args, unpaired=100, paired_budget=5, eval_split="holdout")


def timed(cfg: TrialConfig) -> tuple[float, float]:
    """(wall seconds of train(), seconds of its final evaluation) in a fresh workdir."""
    with tempfile.TemporaryDirectory(prefix="fewpair-bench-") as workdir:
        started = time.perf_counter()
        result = train(cfg, workdir)
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - started, result.eval_s


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)   # tiny convs: one thread is fastest, and the box is shared
    plain = config(args)
    checked = plain.replace(eval_every=args.eval_every)
    timed(plain)                   # warm-up: toy data, manifest, features, allocator
    best = {"without": float("inf"), "with": float("inf")}
    eval_s = float("inf")
    for _ in range(args.rounds):
        best["without"] = min(best["without"], timed(plain)[0])
        wall, final_eval = timed(checked)
        best["with"] = min(best["with"], wall)
        eval_s = min(eval_s, final_eval)
    passes = args.steps // args.eval_every    # the last one doubles as the final evaluation
    print(f"device {args.device}, {args.steps} steps of {args.image_size}px (ngf {args.ngf}, "
          f"{args.n_blocks} blocks), {args.eval_limit} holdout images per pass, best of "
          f"{args.rounds} alternating rounds")
    print(f"train() without validation passes: {best['without']:.2f} s")
    print(f"train() with a pass every {args.eval_every} steps ({passes} passes): "
          f"{best['with']:.2f} s")
    print(f"ratio with / without: {best['with'] / best['without']:.3f}; one pass ~{eval_s:.3f} s")


if __name__ == "__main__":
    main()
