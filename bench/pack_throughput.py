"""Trial-steps per second of the paper's step at K = 1, 4, 8, 16 (trainer.step.paper: K trials
fused, one step for all; K = 1 is a trial alone) against the old solo step and the reference.

reference     bench/step_throughput.py's reference-style step (the released code's way)
solo (old)    the paper step of a trial alone as trainer/engine.py wrote it before the fused
              step replaced it (a copy kept in bench/solo_step.py as this baseline only)
K=k           the trainer's loop (trainer.run.loop.step_through) and fused step, eager; on
              CUDA also in bf16, replayed from CUDA graphs, and both ("bf16 graph")

All train unpaired steps (adversarial rsgan + cycle + identity, batch 1 per trial) on the same
toy-streets pool; a pack's rate counts K trial-steps per step. On the CPU the variants are built
first and timed in alternating rounds (a busy machine slows all alike); on CUDA one at a time
(they would not all fit), each after its warm-up, with its peak GPU memory per member.
Defaults: the CPU at the demo's size (32^2, ngf 8, 2 blocks), K = 1, 4, 8, 16; CUDA at the
paper's (256^2, ngf 64, 9 blocks).

    python3 bench/pack_throughput.py [--device cpu|cuda] [--packs 1 4 8 16]
        [--steps N] [--rounds R] [--threads T] [--fusion] [--json PATH]

--fusion also times the fused networks' forward + backward alone, grouped convolutions against
`torch.func.stack_module_state` + `vmap` and against K separate networks (the choice
trainer/fused.py made). --json writes one record per variant (label, k, precision, graphs,
trial_steps_per_s, gb_per_member) for make gpu-check.
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import torch
from solo_step import SoloTrainer
from step_throughput import (POOL_INDICES, WATCH_EVERY, FewpairTrainer, ReferenceTrainer,
                             add_size_arguments, bench_setup, timed)

from trainer.core.config import TrialConfig
from trainer.nets.fused import fuse
from trainer.nets.networks import build_discriminator, build_generator
from trainer.run.feed import build_feed
from trainer.run.schedule import StepPlan
from trainer.step.state import StepRules, build_state

CPU_SIZES = (32, 8, 2)   # the demo's size: (image size, width, blocks)
TOTAL = 10 ** 6   # the lr schedule's length: constant lr throughout the bench
BASELINE = "solo (old)"


def solo_trainer(cfg: TrialConfig, device: torch.device) -> SoloTrainer:
    feed = build_feed(cfg, [], POOL_INDICES, device)
    plan = StepPlan("unpaired", "interleave", True, 0, feed.n_pool, feed.n_y, cfg.seed,
                    total=TOTAL)
    return SoloTrainer(feed, plan, build_state(cfg, device, TOTAL),
                       StepRules.from_config(cfg, device), WATCH_EVERY)


def variants(cfg: TrialConfig, device: torch.device, packs: list[int]) -> dict:
    """label -> (k, precision, graphs, factory): built lazily so CUDA can hold one at a time."""
    out = {"reference": (1, "fp32", False, lambda: ReferenceTrainer(cfg, device)),
           BASELINE: (1, "fp32", False, lambda: solo_trainer(cfg, device))}
    precisions = ("fp32", "bf16") if device.type == "cuda" else ("fp32",)
    for k in packs:
        for precision in precisions:
            for graphs in ((False, True) if device.type == "cuda" else (False,)):
                c = cfg.replace(precision=precision)
                label = f"K={k}" + (" bf16" if precision == "bf16" else "") + \
                    (" graph" if graphs else "")
                out[label] = (k, precision, graphs,
                              lambda c=c, k=k, g=graphs: FewpairTrainer(c, device, k, g))
    return out


def run_alternating(table: dict, steps: int, rounds: int, device) -> dict[str, float]:
    """CPU: every variant built, then timed in alternating rounds. label -> trial-steps/s."""
    built = {label: spec[-1]() for label, spec in table.items()}
    for trainer in built.values():
        timed(trainer, 3, device)                              # warm-up
    seconds = dict.fromkeys(built, 0.0)
    for _ in range(rounds):
        for label, trainer in built.items():
            seconds[label] += timed(trainer, steps, device)
    return {label: table[label][0] * rounds * steps / s for label, s in seconds.items()}


def run_one_at_a_time(table: dict, steps: int, rounds: int, device) -> tuple[dict, dict]:
    """CUDA: each variant alone on the card. (label -> trial-steps/s, label -> GB per trial)."""
    rates, memory = {}, {}
    for label, (k, _, _, factory) in table.items():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        trainer = factory()
        timed(trainer, 10, device)                 # cuDNN autotune, graph capture, self-check
        seconds = sum(timed(trainer, steps, device) for _ in range(rounds))
        rates[label] = k * rounds * steps / seconds
        memory[label] = (torch.cuda.max_memory_allocated(device) - base) / k / 2 ** 30
        del trainer
    return rates, memory


# ---------------------------------------------------------------------------------------------
# --fusion: the fused networks alone, grouped convolutions against vmap

def fusion_rates(cfg: TrialConfig, k: int, steps: int) -> dict[str, float]:
    """G forward on (x, y) + D forward, backward: trial-passes/s for K separate networks,
    one grouped-convolution network, and stack_module_state + vmap (CPU)."""
    from torch.func import functional_call, stack_module_state
    init = torch.Generator().manual_seed(0)
    gens = [build_generator("resnet", init, ngf=cfg.ngf, n_blocks=cfg.n_blocks) for _ in range(k)]
    discs = [build_discriminator("patchgan", init, ndf=cfg.ndf) for _ in range(k)]
    size = cfg.image_size
    x = torch.rand(2, 3 * k, size, size) * 2 - 1          # [N, K*3, S, S], N = 2 (x and y)

    def separate():
        for m in range(k):
            out = gens[m](x[:, 3 * m:3 * m + 3])
            (discs[m](out).mean() + out.abs().mean()).backward()
    fused_g, fused_d = fuse(gens), fuse(discs)

    def grouped():
        out = fused_g(x)
        (fused_d(out).mean() + out.abs().mean()).backward()
    params_g, buffers_g = stack_module_state(gens)
    params_d, buffers_d = stack_module_state(discs)
    base_g, base_d = copy.deepcopy(gens[0]).to("meta"), copy.deepcopy(discs[0]).to("meta")
    xv = x.unflatten(1, (k, 3)).transpose(0, 1)            # [K, N, 3, S, S]

    def vmapped():
        out = torch.vmap(lambda p, b, t: functional_call(base_g, (p, b), (t,)))(
            params_g, buffers_g, xv)
        logits = torch.vmap(lambda p, b, t: functional_call(base_d, (p, b), (t,)))(
            params_d, buffers_d, out)
        (logits.mean() + out.abs().mean()).backward()
    return alternate({"separate": separate, "grouped conv": grouped, "vmap": vmapped}, k, steps)


def alternate(fns: dict, k: int, steps: int, rounds: int = 3) -> dict[str, float]:
    """Trial-passes/s of each function (one call = k trials), timed in alternating rounds."""
    seconds = dict.fromkeys(fns, 0.0)
    for fn in fns.values():
        fn()                                               # warm-up
    for _ in range(rounds):
        for label, fn in fns.items():
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            seconds[label] += time.perf_counter() - start
    return {label: rounds * steps * k / s for label, s in seconds.items()}


def print_rates(rates: dict[str, float], memory: dict[str, float]) -> None:
    base, single = rates["reference"], rates[BASELINE]
    for label, rate in rates.items():
        gb = f"   {memory[label]:6.2f} GB/member" if label in memory else ""
        print(f"{label:>20}: {rate:8.2f} trial-steps/s   {rate / base:5.2f}x reference   "
              f"{rate / single:5.2f}x {BASELINE}{gb}")


def records(table: dict, rates: dict, memory: dict, cfg: TrialConfig, device_name: str):
    """One dict per variant, for --json."""
    return [{"label": label, "k": k, "precision": precision, "graphs": graphs,
             "image_size": cfg.image_size, "ngf": cfg.ngf, "n_blocks": cfg.n_blocks,
             "device": device_name, "trial_steps_per_s": rates[label],
             "gb_per_member": memory.get(label)}
            for label, (k, precision, graphs, _) in table.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, nargs="+", default=[1, 4, 8, 16], help="pack sizes")
    parser.add_argument("--json", default=None, help="also write the rates to this JSON file")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument("--fusion", action="store_true", help="also: grouped conv vs vmap")
    add_size_arguments(parser, CPU_SIZES)
    args = parser.parse_args()
    device, cfg = bench_setup(args, CPU_SIZES)
    gpu, size = device.type == "cuda", cfg.image_size
    steps = args.steps or (30 if gpu else 10)
    name = torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}   {size}x{size}, ngf {cfg.ngf}, {cfg.n_blocks} blocks, batch 1 per "
          f"trial, unpaired steps; {args.rounds} rounds x {steps} steps")
    table = variants(cfg, device, args.packs)
    if gpu:
        rates, memory = run_one_at_a_time(table, steps, args.rounds, device)
    else:
        rates, memory = run_alternating(table, steps, args.rounds, device), {}
    print_rates(rates, memory)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(records(table, rates, memory, cfg, name), out, indent=1)
    if args.fusion:
        for k in args.packs:
            fused = fusion_rates(cfg, k, steps)
            print(f"fusion K={k}: " + "   ".join(
                f"{label} {rate:.1f}/s ({rate / fused['separate']:.2f}x)"
                for label, rate in fused.items()))


if __name__ == "__main__":
    main()
