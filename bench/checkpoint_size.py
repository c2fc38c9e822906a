"""How large a trial's checkpoint is, and what writing it costs, at the paper's scale -- built on
the CPU, no training needed: both generators and discriminators (256² crops, ngf/ndf 64, 9
blocks), Adam's two moments (they appear at the first step: one zero-gradient step makes them),
both image pools full (`image_pool` fakes each). Prints the parts and the file written by
trainer.step.checkpoint.write_checkpoint, against the bare networks' size as the baseline.

    .venv/bin/python bench/checkpoint_size.py [--image-size 256] [--ngf 64] [--n-blocks 9]

Measured (2-core CPU box): 28.3 M parameters; checkpoint 418 MB (networks 113 MB, Adam 226 MB,
pools 79 MB) written in 0.65-0.9 s -- 3.7x the networks alone.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from trainer.core.config import TrialConfig
from trainer.step.checkpoint import CHECKPOINT_FILE, state_payload, write_checkpoint
from trainer.step.state import build_state

NETS = ("g", "f", "d_y", "d_x")
MB = 1e6


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image-size", type=int, default=256, help="training crop, px")
    p.add_argument("--ngf", type=int, default=64, help="generator / discriminator width")
    p.add_argument("--n-blocks", type=int, default=9, help="residual blocks per generator")
    p.add_argument("--image-pool", type=int, default=50, help="fakes kept per discriminator")
    return p


def full_state(cfg: TrialConfig):
    """A state as it is after its pools have filled: Adam's moments and every pool slot."""
    state = build_state(cfg, torch.device("cpu"), 80000)
    for opt in (state.opt_gen, state.opt_disc):
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = torch.zeros_like(p)
        opt.step()
    gen = torch.Generator().manual_seed(0)
    for pool in (state.pool_x, state.pool_y):
        for _ in range(cfg.image_pool):
            pool.query(torch.rand(1, 3, cfg.image_size, cfg.image_size), gen)
    return state


def paper_config(**sizes) -> TrialConfig:
    """The trial whose checkpoint is measured: the paper's sizes unless `sizes` says otherwise."""
    size, ngf = sizes.get("image_size", 256), sizes.get("ngf", 64)
    return TrialConfig(image_size=size, load_size=size, ngf=ngf, ndf=ngf,
                       n_blocks=sizes.get("n_blocks", 9),
                       image_pool=sizes.get("image_pool", 50), device="cpu")


def checkpoint_mb(cfg: TrialConfig, params: int) -> tuple[float, float, float]:
    """(networks, Adam's two moments, full image pools) in MB, float32."""
    nets = params * 4 / MB
    pools = 2 * cfg.image_pool * 3 * cfg.image_size ** 2 * 4 / MB
    return nets, 2 * nets, pools


def paper_checkpoint_bytes() -> float:
    """What a paper-size checkpoint holds, from the networks' parameter count (the measured
    file is this plus a few kB of pickling)."""
    cfg = paper_config()
    state = build_state(cfg, torch.device("cpu"), 1)
    params = sum(p.numel() for k in NETS for p in getattr(state, k).parameters())
    return sum(checkpoint_mb(cfg, params)) * MB


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cfg = paper_config(image_size=args.image_size, ngf=args.ngf, n_blocks=args.n_blocks,
                       image_pool=args.image_pool)
    state = full_state(cfg)
    params = sum(p.numel() for k in NETS for p in getattr(state, k).parameters())
    nets_mb, _, pools_mb = checkpoint_mb(cfg, params)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_checkpoint(state_payload(state), folder)
        seconds = time.perf_counter() - started
        size_mb = os.path.getsize(os.path.join(folder, CHECKPOINT_FILE)) / MB
    print(f"parameters {params / 1e6:.2f} M: networks {nets_mb:.0f} MB, Adam {2 * nets_mb:.0f} MB, "
          f"pools {pools_mb:.0f} MB")
    print(f"checkpoint {size_mb:.1f} MB written in {seconds:.2f} s "
          f"({size_mb / nets_mb:.1f}x the networks alone)")


if __name__ == "__main__":
    main()
