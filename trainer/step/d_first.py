"""The two steps that update the discriminators first (K = 1 each; docs/fidelity.md):

  ReleasedStep  the authors' released `HybridModel`: D_Y/D_X on this step's (pooled) fakes,
                then G and F against the updated D; cycle reconstructions without gradient
                (its cycle terms are reported and summed into g_total but move nothing);
                C(real) of the generators' term drawn from pools of past real images; pools
                kept apart for paired (RELEASED_PAIRED_POOL) and unpaired steps.
  Pix2PixStep   pix2pix's `Pix2PixModel`: D first on concat(A, B) vs concat(A, G(A)), real and
                fake in passes of their own (batch norm takes each pass's statistics).

Both step one TrainState with its own Adams and lr schedules (trainer.step.lr's per-epoch
rule); their terms come back as [1] vectors like every Step's.
"""
from __future__ import annotations

import torch
from torch import nn

from trainer.step import losses
from trainer.step.base import Step, Tensor, requires_grad
from trainer.step.image_pool import ImagePool
from trainer.step.state import StepRules, TrainState, Translations, translate_all


class DFirstStep(Step):
    """D update, then G/F update, of one trial."""

    released = False

    def __init__(self, states: list[TrainState], rules: list[StepRules]):
        if len(states) != 1:
            raise ValueError(f"{type(self).__name__} steps one trial, got {len(states)}")
        super().__init__(states, rules)
        self.state = states[0]

    def __call__(self, x: Tensor, y: Tensor, paired: list[bool],
                 mask: Tensor | None = None) -> dict[str, Tensor]:
        """x, y: [1, 3, S, S] in [-1, 1] (an aligned pair when paired[0])."""
        state, rules, pair = self.state, self.rules, paired[0]
        released, steps = self.released, "paired" if pair else "unpaired"
        with rules.autocast():
            out = translate_all(state.g, state.f, x, y, rules.cycle and not released,
                                rules.identity)
            if released and rules.cycle:
                with torch.no_grad():
                    out = out._replace(rec_x=state.f(out.fake_y), rec_y=state.g(out.fake_x))
        terms: dict[str, Tensor] = {}
        if rules.adversarial:
            fakes = ((state.pools["fake_y@paired"], state.pools["fake_x@paired"])
                     if released and pair else (state.pool_y, state.pool_x))
            terms |= self.discriminator_update(x, y, out, fakes)
            state.sched_disc.step()
        real_y, real_x = y, x
        if released and rules.adversarial:   # C(real) in G's term: a past real, or this one
            real_y = state.pools[f"real_y@{steps}"].query(y, state.rng)
            real_x = state.pools[f"real_x@{steps}"].query(x, state.rng)
        terms |= self.generator_update(x, y, out, pair, real_y, real_x)
        self.count_step()
        return {name: value.detach().reshape(1) for name, value in terms.items()}

    def generator_update(self, x: Tensor, y: Tensor, out: Translations, paired: bool,
                         real_y: Tensor, real_x: Tensor) -> dict[str, Tensor]:
        """One Adam step of G and F on the weighted terms; returns the terms and g_total."""
        state, rules = self.state, self.rules
        with rules.autocast():
            requires_grad(state.discriminators, False)   # G's loss builds no D weight grads
            terms = self.generator_terms(x, y, out, paired, real_y, real_x)
            g_total = losses.weighted_total(terms, rules.weights)
        state.opt_gen.zero_grad(set_to_none=True)
        if g_total.requires_grad:   # (released, only cycle terms weighted: nothing to learn)
            g_total.backward()
            state.opt_gen.step()
        requires_grad(state.discriminators, True)
        state.sched_gen.step()
        terms["g_total"] = g_total                 # named in the order they are computed
        return terms

    def generator_terms(self, x: Tensor, y: Tensor, out: Translations, paired: bool,
                        real_y: Tensor, real_x: Tensor) -> dict[str, Tensor]:
        """G's and F's named terms; C(real) of the adversarial terms on real_y / real_x."""
        state, rules, terms = self.state, self.rules, {}
        if rules.adversarial:
            c_real_y, c_fake_y = _logits(rules, state.d_y, x, real_y, out.fake_y)
            c_real_x, c_fake_x = _logits(rules, state.d_x, y, real_x, out.fake_x)
            terms |= losses.adversarial_terms(rules.gan, c_real_y, c_fake_y, c_real_x, c_fake_x)
        if out.rec_x is not None:
            terms |= losses.cycle_terms(x, out.rec_x, y, out.rec_y)
        if out.idt_y is not None:
            terms |= losses.identity_terms(x, out.idt_x, y, out.idt_y)
        if rules.reconstruction(paired):
            terms |= losses.paired_terms(x, out.fake_x, y, out.fake_y)
        return terms

    def discriminator_update(self, x: Tensor, y: Tensor, out: Translations,
                             pools: tuple[ImagePool, ImagePool]) -> dict[str, Tensor]:
        """D_Y on (y, pooled G(x)), D_X on (x, pooled F(y)); one Adam step over both."""
        state, rules = self.state, self.rules
        fake_y = pools[0].query(out.fake_y.detach(), state.rng)
        fake_x = pools[1].query(out.fake_x.detach(), state.rng)
        with rules.autocast():
            terms = losses.discriminator_terms(rules.gan, *_logits(rules, state.d_y, x, y, fake_y),
                                               *_logits(rules, state.d_x, y, x, fake_x))
        state.opt_disc.zero_grad(set_to_none=True)
        (terms["d_y"] + terms["d_x"]).backward()
        state.opt_disc.step()
        return terms


class ReleasedStep(DFirstStep):
    """The authors' released step (module doc)."""

    released = True


class Pix2PixStep(DFirstStep):
    """pix2pix's step: conditional D (rules.conditional), D first (module doc)."""


def _logits(rules: StepRules, disc: nn.Module, given: Tensor, real: Tensor,
            fake: Tensor) -> tuple[Tensor, Tensor]:
    """C(real), C(fake). A conditional D (pix2pix) judges concat(given, image), real and fake in
    passes of their own as pix2pix does; otherwise one pass over both stacked on the batch
    (instance norm: per sample, the same numbers)."""
    if rules.conditional:
        return disc(torch.cat([given, real], 1)), disc(torch.cat([given, fake], 1))
    return disc(torch.cat([real, fake])).chunk(2)
