"""What a step reads and changes: `TrainState` (one trial's networks, optimisers, lr schedules,
pools, CPU generator, step count) and `StepRules` (what a step computes, fixed for a trial).

Paper symbols: G: X -> Y (`state.g`), F: Y -> X (`state.f`), D_Y judges G's outputs
(`state.d_y`), D_X judges F's (`state.d_x`). X = domain A (photos), Y = domain B (labels).
The steps themselves are trainer.step.paper (the paper's, fused over K >= 1 members) and
trainer.step.d_first (the released step and pix2pix's); trainer.step.build picks one.
Everything a step reads or changes lives in the state, so a checkpoint of it
(trainer.step.checkpoint) resumes the trial, and several states share one process as a pack.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from trainer.core.config import MODE_TERMS
from trainer.nets.networks import architecture, discriminator_for, generator_for
from trainer.step import losses
from trainer.step.image_pool import ImagePool
from trainer.step.lr import lr_rule

ADAM_BETA2 = 0.999            # Adam's default second-moment decay, as in CycleGAN
RELEASED_PAIRED_POOL = 10     # the released code's pools for paired steps (unpaired: image_pool)

Tensor = torch.Tensor


@dataclass(frozen=True)
class StepRules:
    """What a step computes, fixed for a trial: the mode's terms, the lambdas, the precision."""
    mode: str                      # paired | unpaired | hybrid
    gan: losses.GanLoss
    weights: losses.LossWeights
    device: torch.device
    bf16: bool = False             # autocast the forward passes to bfloat16
    released: bool = False         # the authors' released step (module doc)
    conditional: bool = False      # D judges concat(input, image): pix2pix
    cuda_graphs: bool = False      # replay the paper step from CUDA graphs (cfg.cuda_graphs,
                                   # on a CUDA device only)

    @classmethod
    def from_config(cls, cfg, device: torch.device) -> "StepRules":
        released = cfg.variant == "released"
        conditional = architecture(cfg.arch).conditional
        return cls(mode=cfg.mode, gan=losses.gan_loss(cfg.gan_loss),
                   weights=losses.LossWeights.from_config(cfg), device=torch.device(device),
                   bf16=cfg.precision == "bf16", released=released, conditional=conditional,
                   cuda_graphs=cfg.cuda_graphs and torch.device(device).type == "cuda")

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def adversarial(self) -> bool:
        return self.weights.adv > 0

    @property
    def cycle(self) -> bool:
        """Cycle on unpaired steps and on hybrid paired steps; never in pix2pix-like mode
        (trainer.core.config.MODE_TERMS)."""
        return "cycle" in MODE_TERMS[self.mode] and self.weights.cycle > 0

    @property
    def identity(self) -> bool:
        """Identity likewise: every step of modes unpaired and hybrid."""
        return "identity" in MODE_TERMS[self.mode] and self.weights.identity > 0

    def reconstruction(self, paired: bool) -> bool:
        return paired and self.weights.paired > 0


@dataclass
class TrainState:
    g: nn.Module                 # G: X -> Y
    f: nn.Module                 # F: Y -> X
    d_y: nn.Module               # D_Y, judges y vs G(x)
    d_x: nn.Module               # D_X, judges x vs F(y)
    opt_gen: torch.optim.Optimizer   # Adam over G and F
    opt_disc: torch.optim.Optimizer  # Adam over D_Y and D_X
    sched_gen: torch.optim.lr_scheduler.LambdaLR
    sched_disc: torch.optim.lr_scheduler.LambdaLR
    pool_y: ImagePool            # past G(x) for D_Y
    pool_x: ImagePool            # past F(y) for D_X
    rng: torch.Generator         # CPU; crops, flips, pool draws
    step: int = 0                # steps done
    extra: dict = field(default_factory=dict)  # caller's bookkeeping saved with the state
    pools: dict[str, ImagePool] = field(default_factory=dict)  # the released step's other
                                 # pools: "fake_y@paired", "real_x@unpaired", ... (else empty)

    @property
    def discriminators(self) -> tuple[nn.Module, nn.Module]:
        return self.d_y, self.d_x


def build_state(cfg, device: torch.device, total_steps: int,
                epoch_length: int = 0) -> TrainState:
    """Fresh cfg.arch networks (N(0, 0.02) from cfg.seed), Adam(lr, (beta1, 0.999)) and the lr
    schedule of `trainer.step.lr.lr_rule` (per epoch of `epoch_length` steps for the released
    code and pix2pix, else per step)."""
    device = torch.device(device)
    init = torch.Generator().manual_seed(cfg.seed)
    g, f = (generator_for(cfg, init).to(device) for _ in range(2))
    d_y, d_x = (discriminator_for(cfg, init).to(device) for _ in range(2))
    fused = device.type == "cuda"  # one kernel per parameter group on the GPU
    factor = lr_rule(cfg, total_steps, epoch_length)

    def adam(nets):
        params = itertools.chain(*(n.parameters() for n in nets))
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, ADAM_BETA2), fused=fused)

    def schedule(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    opt_gen, opt_disc = adam((g, f)), adam((d_y, d_x))
    state = TrainState(g, f, d_y, d_x, opt_gen, opt_disc, schedule(opt_gen), schedule(opt_disc),
                       ImagePool(cfg.image_pool), ImagePool(cfg.image_pool),
                       torch.Generator().manual_seed(cfg.seed + 1))
    if cfg.variant == "released":   # pool_y / pool_x serve its unpaired steps' fakes
        sizes = {"paired": RELEASED_PAIRED_POOL, "unpaired": cfg.image_pool}
        state.pools = {f"{kind}_{side}@{steps}": ImagePool(size) for steps, size in sizes.items()
                       for kind in ("fake", "real") for side in ("y", "x")
                       if (kind, steps) != ("fake", "unpaired")}
    return state


class Translations(NamedTuple):
    """All [N, 3, S, S] in [-1, 1]; None where the step does not need them."""
    fake_y: Tensor               # G(x)
    fake_x: Tensor               # F(y)
    rec_x: Tensor | None         # F(G(x))
    rec_y: Tensor | None         # G(F(y))
    idt_y: Tensor | None         # G(y)
    idt_x: Tensor | None         # F(x)


def translate_all(g: nn.Module, f: nn.Module, x: Tensor, y: Tensor, cycle: bool,
                  identity: bool) -> Translations:
    """The generator forwards of every step (G and F, alone or fused); identity images ride in
    the same batch as the translations."""
    if identity:
        fake_y, idt_y = g(torch.cat([x, y])).chunk(2)
        fake_x, idt_x = f(torch.cat([y, x])).chunk(2)
    else:
        fake_y, fake_x, idt_y, idt_x = g(x), f(y), None, None
    rec_x, rec_y = (f(fake_y), g(fake_x)) if cycle else (None, None)
    return Translations(fake_y, fake_x, rec_x, rec_y, idt_y, idt_x)


def translator(state: TrainState, rules: StepRules, direction: str):
    """The evaluated translation as a function: AtoB -> G, BtoA -> F; [B, 3, S, S] in [-1, 1].
    pix2pix's U-Net (rules.conditional) translates one image at a time, batch norm on that
    image's statistics as in pix2pix's tests at batch 1, with dropout off (pix2pix keeps it on
    at test time; fewpair's evaluation stays deterministic)."""
    net = state.g if direction == "AtoB" else state.f
    dtype = next(net.parameters()).dtype      # float32, or float64 in exactness tests

    @torch.no_grad()
    def translate(images: Tensor) -> Tensor:
        images = images.to(rules.device, dtype)
        if not rules.conditional:
            with rules.autocast():
                return net(images).float()
        net.eval()   # dropout off; batch norm without running stats still normalises per pass
        try:
            with rules.autocast():
                return torch.cat([net(image[None]) for image in images]).float()
        finally:
            net.train()
    return translate


