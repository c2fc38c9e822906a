"""Baseline only: the paper's step of a trial alone as trainer/engine.py wrote it before the
one fused Step (trainer.step.paper, K = 1) replaced it, kept here for bench/pack_throughput.py
to show, in the same run, that a trial alone did not get slower. Not used by the trainer.

One G/F update (six generator forwards batched into four, D_Y/D_X frozen), then one D_Y/D_X
update on pooled fakes, on the TrainState's own (unfused-network) Adams and lr schedules.
"""
from __future__ import annotations

import torch

from trainer.step import losses
from trainer.step.base import requires_grad
from trainer.step.state import StepRules, TrainState, translate_all
from trainer.step.watch import LossWatch

Tensor = torch.Tensor


def solo_step(state: TrainState, x: Tensor, y: Tensor, paired: bool,
              rules: StepRules) -> dict[str, Tensor]:
    """The old engine.train_step for the paper variant; terms detached, as [1] vectors."""
    with rules.autocast():
        out = translate_all(state.g, state.f, x, y, rules.cycle, rules.identity)
    with rules.autocast():
        requires_grad(state.discriminators, False)
        terms = {}
        if rules.adversarial:
            c_real_y, c_fake_y = state.d_y(torch.cat([y, out.fake_y])).chunk(2)
            c_real_x, c_fake_x = state.d_x(torch.cat([x, out.fake_x])).chunk(2)
            terms |= losses.adversarial_terms(rules.gan, c_real_y, c_fake_y, c_real_x, c_fake_x)
        terms |= losses.cycle_terms(x, out.rec_x, y, out.rec_y) if out.rec_x is not None else {}
        terms |= losses.identity_terms(x, out.idt_x, y, out.idt_y) if out.idt_y is not None else {}
        if rules.reconstruction(paired):
            terms |= losses.paired_terms(x, out.fake_x, y, out.fake_y)
        g_total = losses.weighted_total(terms, rules.weights)
    state.opt_gen.zero_grad(set_to_none=True)
    g_total.backward()
    state.opt_gen.step()
    requires_grad(state.discriminators, True)
    state.sched_gen.step()
    terms["g_total"] = g_total
    if rules.adversarial:
        fake_y = state.pool_y.query(out.fake_y.detach(), state.rng)
        fake_x = state.pool_x.query(out.fake_x.detach(), state.rng)
        with rules.autocast():
            d_terms = losses.discriminator_terms(
                rules.gan, *state.d_y(torch.cat([y, fake_y])).chunk(2),
                *state.d_x(torch.cat([x, fake_x])).chunk(2))
        state.opt_disc.zero_grad(set_to_none=True)
        (d_terms["d_y"] + d_terms["d_x"]).backward()
        state.opt_disc.step()
        state.sched_disc.step()
        terms |= d_terms
    state.step += 1
    return {name: value.detach().reshape(1) for name, value in terms.items()}


class SoloTrainer:
    """The old loop of a trial alone: slot -> batch -> solo_step, losses flushed every 25."""

    def __init__(self, feed, plan, state: TrainState, rules: StepRules, watch_every: int):
        self.feed, self.plan, self.state, self.rules = feed, plan, state, rules
        self.watch, self.every = LossWatch(), watch_every

    def step(self) -> None:
        slot = self.plan.slot(self.state.step)
        x, y = self.feed.batch(slot, self.state.rng)
        self.watch.record(self.state.step + 1, solo_step(self.state, x, y, False, self.rules),
                          [False])
        if self.state.step % self.every == 0:
            self.flush()

    def flush(self) -> None:
        self.watch.flush()
