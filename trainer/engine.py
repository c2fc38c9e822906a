"""The training step as a function of an explicit state, the loss watch, and exact checkpoints.

Paper symbols: G: X -> Y (`state.g`), F: Y -> X (`state.f`), D_Y judges G's outputs
(`state.d_y`), D_X judges F's (`state.d_x`). X = domain A (photos), Y = domain B (labels).
One step (batch 1 in the paper) = one generator update of G and F on the weighted terms of
`trainer.losses`, then one discriminator update of D_Y and D_X on (real, pooled fake). Two other
orders exist (docs/fidelity.md): the authors' released step (`variant="released"`) and pix2pix's
(`arch="pix2pix"`) update the discriminators first, then the generators against the updated
discriminators; the released step also takes its cycle reconstructions without gradient, draws
C(real) of the generators' term from pools of past real images, and keeps its pools apart for
paired (RELEASED_PAIRED_POOL) and unpaired steps.

Everything a step reads or changes lives in `TrainState`: networks, optimisers, lr schedules,
image pools, one CPU `torch.Generator` for crops, flips and pool draws, and the step count. So a
checkpoint of the state resumes bit for bit, and several states can later share one process.
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from trainer import losses
from trainer.image_pool import ImagePool
from trainer.networks import architecture, discriminator_for, generator_for
from trainer.schedule import epoch_lr_factor, lr_factor
from trainer.step import checkpoint
from trainer.step.checkpoint import CHECKPOINT_FILE, CHECKPOINT_FORMAT  # noqa: F401 (re-exported)

ADAM_BETA2 = 0.999            # Adam's default second-moment decay, as in CycleGAN
RELEASED_PAIRED_POOL = 10     # the released code's pools for paired steps (unpaired: image_pool)

Tensor = torch.Tensor


class NonFiniteLoss(RuntimeError):
    """A loss term became NaN or infinite; the message names the step and the term."""


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
    d_first: bool = False          # D update before G's (released code, pix2pix)

    @classmethod
    def from_config(cls, cfg, device: torch.device) -> "StepRules":
        released = cfg.variant == "released"
        conditional = architecture(cfg.arch).conditional
        return cls(mode=cfg.mode, gan=losses.gan_loss(cfg.gan_loss),
                   weights=losses.LossWeights.from_config(cfg), device=torch.device(device),
                   bf16=cfg.precision == "bf16", released=released, conditional=conditional,
                   d_first=released or conditional)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @property
    def adversarial(self) -> bool:
        return self.weights.adv > 0

    @property
    def cycle(self) -> bool:
        """Cycle on unpaired steps and on hybrid paired steps; never in pix2pix-like mode."""
        return self.mode != "paired" and self.weights.cycle > 0

    @property
    def identity(self) -> bool:
        """Identity likewise: every step of modes unpaired and hybrid."""
        return self.mode != "paired" and self.weights.identity > 0

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
    """Fresh cfg.arch networks (N(0, 0.02) from cfg.seed), Adam(lr, (beta1, 0.999)), the step
    schedule: per step, or per epoch of `epoch_length` steps for the released code and pix2pix
    (whose lr changes once an epoch)."""
    device = torch.device(device)
    init = torch.Generator().manual_seed(cfg.seed)
    g, f = (generator_for(cfg, init).to(device) for _ in range(2))
    d_y, d_x = (discriminator_for(cfg, init).to(device) for _ in range(2))
    fused = device.type == "cuda"  # one kernel per parameter group on the GPU
    per_epoch = epoch_length and (cfg.variant == "released" or cfg.arch == "pix2pix")

    def adam(nets):
        params = itertools.chain(*(n.parameters() for n in nets))
        return torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, ADAM_BETA2), fused=fused)

    def factor(s: int) -> float:
        if per_epoch:
            return epoch_lr_factor(s, total_steps, epoch_length)
        return lr_factor(s, total_steps)

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


# ---------------------------------------------------------------------------------------------
# One step

class Translations(NamedTuple):
    """All [N, 3, S, S] in [-1, 1]; None where the step does not need them."""
    fake_y: Tensor               # G(x)
    fake_x: Tensor               # F(y)
    rec_x: Tensor | None         # F(G(x))
    rec_y: Tensor | None         # G(F(y))
    idt_y: Tensor | None         # G(y)
    idt_x: Tensor | None         # F(x)


def translate_all(state: TrainState, x: Tensor, y: Tensor, cycle: bool,
                  identity: bool) -> Translations:
    """Generator forwards; identity images ride in the same batch as the translations."""
    if identity:
        fake_y, idt_y = state.g(torch.cat([x, y])).chunk(2)
        fake_x, idt_x = state.f(torch.cat([y, x])).chunk(2)
    else:
        fake_y, fake_x, idt_y, idt_x = state.g(x), state.f(y), None, None
    rec_x, rec_y = (state.f(fake_y), state.g(fake_x)) if cycle else (None, None)
    return Translations(fake_y, fake_x, rec_x, rec_y, idt_y, idt_x)


def _logits(rules: StepRules, disc: nn.Module, given: Tensor, real: Tensor,
            fake: Tensor) -> tuple[Tensor, Tensor]:
    """C(real), C(fake). A conditional D (pix2pix) judges concat(given, image), real and fake in
    passes of their own as pix2pix does (batch norm takes each pass's statistics); otherwise one
    pass over both stacked on the batch (instance norm: per sample, the same numbers)."""
    if rules.conditional:
        return disc(torch.cat([given, real], 1)), disc(torch.cat([given, fake], 1))
    return disc(torch.cat([real, fake])).chunk(2)


def generator_terms(state: TrainState, rules: StepRules, x: Tensor, y: Tensor,
                    out: Translations, paired: bool, real_y: Tensor | None = None,
                    real_x: Tensor | None = None) -> dict[str, Tensor]:
    """G's and F's named terms. C(real) of the adversarial terms is taken on `real_y` /
    `real_x` (the released step: drawn from pools of past real images), by default y / x."""
    terms: dict[str, Tensor] = {}
    if rules.adversarial:
        c_real_y, c_fake_y = _logits(rules, state.d_y, x, y if real_y is None else real_y,
                                     out.fake_y)
        c_real_x, c_fake_x = _logits(rules, state.d_x, y, x if real_x is None else real_x,
                                     out.fake_x)
        terms |= losses.adversarial_terms(rules.gan, c_real_y, c_fake_y, c_real_x, c_fake_x)
    if out.rec_x is not None:
        terms |= losses.cycle_terms(x, out.rec_x, y, out.rec_y)
    if out.idt_y is not None:
        terms |= losses.identity_terms(x, out.idt_x, y, out.idt_y)
    if rules.reconstruction(paired):
        terms |= losses.paired_terms(x, out.fake_x, y, out.fake_y)
    return terms


def _requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def train_step(state: TrainState, x: Tensor, y: Tensor, paired: bool,
               rules: StepRules) -> dict[str, Tensor]:
    """One G/F update then one D_Y/D_X update (D first for the released step and pix2pix).
    x, y: [N, 3, S, S] in [-1, 1] on the device (an aligned pair when `paired`). Returns every
    named loss term, detached (no sync)."""
    if rules.d_first:
        return _d_first_step(state, x, y, paired, rules)
    with rules.autocast():
        out = translate_all(state, x, y, rules.cycle, rules.identity)
    terms = _generator_update(state, rules, x, y, out, paired)
    if rules.adversarial:   # (no D update, no D schedule step: lambda_adv = 0 trains no D)
        terms |= discriminator_step(state, rules, x, y, out)
        state.sched_disc.step()
    state.step += 1
    return {name: value.detach() for name, value in terms.items()}


def _generator_update(state: TrainState, rules: StepRules, x: Tensor, y: Tensor,
                      out: Translations, paired: bool, real_y: Tensor | None = None,
                      real_x: Tensor | None = None) -> dict[str, Tensor]:
    """One Adam step of G and F on the weighted terms; returns the terms and g_total."""
    with rules.autocast():
        _requires_grad(state.discriminators, False)  # G's loss must not build D's weight grads
        terms = generator_terms(state, rules, x, y, out, paired, real_y, real_x)
        g_total = losses.weighted_total(terms, rules.weights)
    state.opt_gen.zero_grad(set_to_none=True)
    if g_total.requires_grad:   # (released, only cycle terms weighted: nothing to learn from)
        g_total.backward()
        state.opt_gen.step()
    _requires_grad(state.discriminators, True)
    state.sched_gen.step()
    terms["g_total"] = g_total                 # named in the order they are computed
    return terms


def _d_first_step(state: TrainState, x: Tensor, y: Tensor, paired: bool,
                  rules: StepRules) -> dict[str, Tensor]:
    """The released code's and pix2pix's order: D on this step's (pooled) fakes, then G and F
    against the updated D. Released: reconstructions without gradient (its cycle terms are
    reported and summed into g_total but move nothing), C(real) from pools of past reals,
    separate pools for paired and unpaired steps."""
    released, steps = rules.released, "paired" if paired else "unpaired"
    with rules.autocast():
        out = translate_all(state, x, y, rules.cycle and not released, rules.identity)
        if released and rules.cycle:
            with torch.no_grad():
                out = out._replace(rec_x=state.f(out.fake_y), rec_y=state.g(out.fake_x))
    terms: dict[str, Tensor] = {}
    if rules.adversarial:
        fakes = ((state.pools["fake_y@paired"], state.pools["fake_x@paired"])
                 if released and paired else (state.pool_y, state.pool_x))
        terms |= discriminator_step(state, rules, x, y, out, fakes)
        state.sched_disc.step()
    real_y, real_x = y, x
    if released and rules.adversarial:   # C(real) in G's term: a past real image, or this one
        real_y = state.pools[f"real_y@{steps}"].query(y, state.rng)
        real_x = state.pools[f"real_x@{steps}"].query(x, state.rng)
    terms |= _generator_update(state, rules, x, y, out, paired, real_y, real_x)
    state.step += 1
    return {name: value.detach() for name, value in terms.items()}


def discriminator_step(state: TrainState, rules: StepRules, x: Tensor, y: Tensor,
                       out: Translations,
                       pools: tuple[ImagePool, ImagePool] | None = None) -> dict[str, Tensor]:
    """D_Y on (y, pooled G(x)), D_X on (x, pooled F(y)); one Adam step over both. `pools`:
    the (G(x), F(y)) histories to draw from, by default state.pool_y, state.pool_x."""
    pool_y, pool_x = pools or (state.pool_y, state.pool_x)
    fake_y = pool_y.query(out.fake_y.detach(), state.rng)
    fake_x = pool_x.query(out.fake_x.detach(), state.rng)
    with rules.autocast():
        terms = losses.discriminator_terms(rules.gan, *_logits(rules, state.d_y, x, y, fake_y),
                                           *_logits(rules, state.d_x, y, x, fake_x))
    state.opt_disc.zero_grad(set_to_none=True)
    (terms["d_y"] + terms["d_x"]).backward()
    state.opt_disc.step()
    return terms


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


# ---------------------------------------------------------------------------------------------
# Watching the losses without a GPU sync per step

class LossWatch:
    """Collects each step's detached terms; `flush()` moves them to the CPU in one transfer,
    raises NonFiniteLoss naming the first bad step (1-based) and term, and returns the means."""

    def __init__(self):
        self._rows: list[tuple[int, tuple[str, ...], Tensor]] = []

    def record(self, step: int, terms: dict[str, Tensor]) -> None:
        """`step`: 1-based number of the step that produced `terms`."""
        names = tuple(terms)
        self._rows.append((step, names, torch.stack([terms[n].float() for n in names])))

    def flush(self) -> dict[str, float]:
        if not self._rows:
            return {}
        values = torch.cat([row[2] for row in self._rows]).cpu().tolist()
        sums: dict[str, list[float]] = {}
        at = 0
        for step, names, _ in self._rows:
            for name, value in zip(names, values[at:at + len(names)]):
                if value != value or value in (float("inf"), float("-inf")):
                    self._rows.clear()
                    raise NonFiniteLoss(f"non-finite loss at step {step}: {name} = {value}")
                sums.setdefault(name, []).append(value)
            at += len(names)
        self._rows.clear()
        return {name: sum(vals) / len(vals) for name, vals in sums.items()}


# ---------------------------------------------------------------------------------------------
# Checkpoints

def state_payload(state: TrainState) -> dict:
    return {"format": CHECKPOINT_FORMAT, "step": state.step, "extra": dict(state.extra),
            "nets": {k: getattr(state, k).state_dict() for k in ("g", "f", "d_y", "d_x")},
            "opt_gen": state.opt_gen.state_dict(), "opt_disc": state.opt_disc.state_dict(),
            "sched_gen": state.sched_gen.state_dict(),
            "sched_disc": state.sched_disc.state_dict(),
            "pool_y": state.pool_y.state_dict(), "pool_x": state.pool_x.state_dict(),
            "rng": state.rng.get_state(),
            "pools": {name: pool.state_dict() for name, pool in state.pools.items()}}


def save_checkpoint(state: TrainState, folder: str | os.PathLike) -> Path:
    """Write the state into `folder` (trainer.step.checkpoint: atomic, the previous one kept)."""
    return write_checkpoint(state_payload(state), folder)


def write_checkpoint(payload: dict, folder: str | os.PathLike) -> Path:
    """Write a `state_payload`-shaped dict into `folder` (a pack writes its members')."""
    return checkpoint.write(payload, folder)


def has_checkpoint(folder: str | os.PathLike) -> bool:
    return checkpoint.exists(folder)


def load_checkpoint(state: TrainState, folder: str | os.PathLike) -> TrainState:
    """Restore the newest readable checkpoint in `folder` into a state built with the same
    config; a state left as built (a fresh start) when none is readable (one warning line)."""
    payload = checkpoint.read(folder, next(state.g.parameters()).device)
    return state if payload is None else checkpoint.restore(state, payload)
