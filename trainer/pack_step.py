"""The training step of a pack: K trials' networks fused (trainer.nets.fused), one step for all.

Member k keeps everything it has alone — its TrainState's image pools, CPU generator and step
count, its λs, its own batch — and its networks' parameters become views of block k of the
fused parameters. Per-member λs are [K] vectors; the paired terms are weighted by a [K] mask of
the members whose slot is paired this step (alone a member on an unpaired slot computes no
paired term). One Adam over the fused parameters equals K Adams, one per member, because
Adam is elementwise and every member steps with the same lr schedule. Loss terms come from
`trainer.losses`, mapped over the members with `torch.vmap`.

Images of the pack: [N, K*3, S, S], member k at channels [3k, 3k+3) (trainer.nets.fused).
"""
from __future__ import annotations

import functools
import itertools

import torch
from torch import nn

from trainer import losses
from trainer.engine import ADAM_BETA2, StepRules, TrainState
from trainer.nets.fused import fuse, link_members
from trainer.schedule import lr_factor

Tensor = torch.Tensor
NETS = ("g", "f", "d_y", "d_x")   # G, F, D_Y, D_X (trainer.engine)
WEIGHT_GROUPS = ("adv", "cycle", "idt", "paired")   # term prefixes (losses.LossWeights.of)


class PackStep:
    """One G/F update and one D_Y/D_X update of every member, as `engine.train_step` alone."""

    capturable = False   # GraphedPackStep: Adam state and lr on the device, graph-safe

    def __init__(self, states: list[TrainState], rules: list[StepRules], total: int,
                 lr: float, beta1: float):
        self.states, self.rules, self.k = states, rules[0], len(states)
        self.device = self.rules.device
        cuda = self.device.type == "cuda"
        fmt = torch.channels_last if cuda else torch.contiguous_format  # no NCHW<->NHWC
        self.nets = {}
        for name in NETS:
            members = [getattr(s, name) for s in states]
            self.nets[name] = fuse(members).to(memory_format=fmt)
            link_members(self.nets[name], members)
        self.memory_format = fmt
        adam = functools.partial(torch.optim.Adam, lr=lr, betas=(beta1, ADAM_BETA2), fused=cuda,
                                 capturable=self.capturable)
        self.opt_gen = adam(self._params("g", "f"))
        self.opt_disc = adam(self._params("d_y", "d_x"))
        self.sched_gen, self.sched_disc = (torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_factor(s, total)) for opt in (self.opt_gen, self.opt_disc))
        self._load_optimizers()
        # [K] float32 λ per term group, as `losses.weighted_total` weighs a float32 term alone
        self.weights = {g: torch.tensor([r.weights.of(g + "_") for r in rules],
                                        dtype=torch.float32, device=self.device)
                        for g in WEIGHT_GROUPS}
        self.alive = torch.ones(self.k, dtype=torch.float32, device=self.device)
        # whether any member ever has a paired slot (modes hybrid / unpaired may share a pack)
        self.has_paired = any(r.mode != "unpaired" and r.weights.paired > 0 for r in rules)

    def _params(self, *names: str):
        return list(itertools.chain(*(self.nets[n].parameters() for n in names)))

    # --- optimiser state: the members' own (solo-shaped) state, stacked and split ------------
    def _load_optimizers(self) -> None:
        for opt, sched, attr in ((self.opt_gen, self.sched_gen, "gen"),
                                 (self.opt_disc, self.sched_disc, "disc")):
            members = [getattr(s, "opt_" + attr) for s in self.states]
            opt.load_state_dict(stack_adam_states([m.state_dict() for m in members]))
            for member in members:
                member.state.clear()      # stacked into the pack's: free the members' copies
            for param, entry in opt.state.items():   # fused kernels read moments as flat
                for name in ("exp_avg", "exp_avg_sq"):   # memory: give them param's layout
                    entry[name] = torch.empty_like(param).copy_(entry[name])
            sched.load_state_dict(getattr(self.states[0], "sched_" + attr).state_dict())
            for group in opt.param_groups:   # (the members' groups are not capturable)
                group["capturable"] = self.capturable
                if self.capturable:       # a device lr the schedule fills in place
                    group["lr"] = torch.tensor(float(group["lr"]), device=self.device)

    def member_optimizers(self, k: int) -> dict[str, dict]:
        """Member k's optimiser and schedule state in the shape `engine.state_payload` writes."""
        return {"opt_gen": split_adam_state(self.opt_gen.state_dict(), k, self.k),
                "opt_disc": split_adam_state(self.opt_disc.state_dict(), k, self.k),
                "sched_gen": self.sched_gen.state_dict(),
                "sched_disc": self.sched_disc.state_dict()}

    # --- one step ----------------------------------------------------------------------------
    def __call__(self, x: Tensor, y: Tensor, paired: list[bool]) -> dict[str, Tensor]:
        """x, y: [1, K*3, S, S] (member k's batch at channels 3k..3k+3); paired: each member's
        slot kind. Returns every named term as a [K] vector, detached (no sync)."""
        x, y = (t.contiguous(memory_format=self.memory_format) for t in (x, y))
        mask = torch.tensor(paired, device=self.device)
        terms, fake_y, fake_x = self.generator_update(x, y, mask, any(paired))
        self.sched_gen.step()
        if self.rules.adversarial:   # (lambda_adv = 0 for all: no D update, as alone)
            pooled = self.pooled(fake_y, "pool_y"), self.pooled(fake_x, "pool_x")
            terms |= self.discriminator_update(x, y, *pooled)
            self.sched_disc.step()
        self.count_step()
        return terms

    def count_step(self) -> None:
        for state in self.states:
            state.step += 1

    def autocast(self):
        """The rules' autocast; without its weight cache when replayed from a CUDA graph."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.rules.bf16,
                              cache_enabled=not self.capturable)

    def generator_update(self, x: Tensor, y: Tensor, mask: Tensor, with_paired: bool):
        """One Adam step of every G and F; returns ({term: [K]}, G(x), F(y)), all detached.
        mask: [K] bool, the members on a paired slot."""
        discriminators = (self.nets["d_y"], self.nets["d_x"])
        with self.autocast():
            out = self._translate(x, y)
            _requires_grad(discriminators, False)   # G's loss builds no D weight gradients
            terms = self._generator_terms(x, y, out, with_paired)
            totals = torch.stack([self._weight(n, mask) * v.float() for n, v in terms.items()])
            totals = totals.sum(0)                                     # [K] g_total per member
        self.opt_gen.zero_grad(set_to_none=True)
        (totals * self.alive).sum().backward()   # members' parameters are disjoint
        self.opt_gen.step()
        _requires_grad(discriminators, True)
        terms["g_total"] = totals
        return ({name: value.detach() for name, value in terms.items()},
                out[0].detach(), out[1].detach())

    def _weight(self, name: str, paired_mask: Tensor) -> Tensor:
        group = name.split("_", 1)[0]
        weight = self.weights[group]   # where, not *: an inf λ must not make 0 * inf = nan
        return torch.where(paired_mask, weight, 0.0) if group == "paired" else weight

    def _translate(self, x: Tensor, y: Tensor):
        """(G(x), F(y), F(G(x)), G(F(y)), G(y), F(x)) as engine.translate_all, fused."""
        g, f, rules = self.nets["g"], self.nets["f"], self.rules
        if rules.identity:
            fake_y, idt_y = g(torch.cat([x, y])).chunk(2)
            fake_x, idt_x = f(torch.cat([y, x])).chunk(2)
        else:
            fake_y, fake_x, idt_y, idt_x = g(x), f(y), None, None
        rec_x, rec_y = (f(fake_y), g(fake_x)) if rules.cycle else (None, None)
        return fake_y, fake_x, rec_x, rec_y, idt_y, idt_x

    def _generator_terms(self, x, y, out, any_paired: bool) -> dict[str, Tensor]:
        fake_y, fake_x, rec_x, rec_y, idt_y, idt_x = out
        rules, terms = self.rules, {}
        vm = functools.partial(_vmap_terms, self.k)
        if rules.adversarial:
            real_y, fake_y_logits = _logits(self.nets["d_y"], y, fake_y)
            real_x, fake_x_logits = _logits(self.nets["d_x"], x, fake_x)
            terms |= vm(functools.partial(losses.adversarial_terms, rules.gan),
                        real_y, fake_y_logits, real_x, fake_x_logits)
        if rec_x is not None:
            terms |= vm(losses.cycle_terms, x, rec_x, y, rec_y)
        if idt_y is not None:
            terms |= vm(losses.identity_terms, x, idt_x, y, idt_y)
        if self.has_paired and any_paired:
            terms |= vm(losses.paired_terms, x, fake_x, y, fake_y)
        return terms

    def discriminator_update(self, x: Tensor, y: Tensor, pooled_y: Tensor,
                             pooled_x: Tensor) -> dict[str, Tensor]:
        """One Adam step of every D_Y and D_X on (real, pooled fake); terms detached."""
        with self.autocast():
            terms = _vmap_terms(self.k, functools.partial(losses.discriminator_terms,
                                                          self.rules.gan),
                                *_logits(self.nets["d_y"], y, pooled_y),
                                *_logits(self.nets["d_x"], x, pooled_x))
        self.opt_disc.zero_grad(set_to_none=True)
        ((terms["d_y"] + terms["d_x"]) * self.alive).sum().backward()
        self.opt_disc.step()
        return {name: value.detach() for name, value in terms.items()}

    def pooled(self, fakes: Tensor, pool: str) -> Tensor:
        """Member k's fakes through member k's pool (its own CPU generator draws), in member
        order; [N, K*3, S, S]."""
        per_member = fakes.chunk(self.k, dim=1)
        drawn = [getattr(s, pool).query(f, s.rng) for s, f in zip(self.states, per_member)]
        return torch.cat(drawn, dim=1).contiguous(memory_format=self.memory_format)

    # --- a member that failed ----------------------------------------------------------------
    @torch.no_grad()
    def retire(self, k: int) -> None:
        """Member k's loss went non-finite: zero its weights, λs and Adam moments, so it stays
        finite and frozen (zero gradient, zero moments: Adam moves nothing) while the others
        train on; its pools start empty."""
        self.alive[k] = 0
        for weight in self.weights.values():
            weight[k] = 0
        for opt in (self.opt_gen, self.opt_disc):
            for group in opt.param_groups:
                for p in group["params"]:
                    p.chunk(self.k)[k].zero_()
                    for name in ("exp_avg", "exp_avg_sq"):
                        if name in opt.state.get(p, {}):
                            opt.state[p][name].chunk(self.k)[k].zero_()
        state = self.states[k]
        for pool in (state.pool_y, state.pool_x):
            pool.images, pool.count = None, 0


def _vmap_terms(k: int, fn, *tensors: Tensor) -> dict[str, Tensor]:
    """`fn(*member tensors)` for each member; tensors [N, K*C, ...] -> {name: [K]}."""
    return torch.vmap(fn, in_dims=1)(*(t.unflatten(1, (k, t.shape[1] // k)) for t in tensors))


def _logits(disc: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """C(real), C(fake) from one fused pass; each [N, K, h, w] (member k's map at channel k)."""
    return disc(torch.cat([real, fake])).chunk(2)


def _requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


# ---------------------------------------------------------------------------------------------
# Adam state: members' solo state dicts <-> the fused optimiser's (member k = block k of dim 0)

def stack_adam_states(members: list[dict]) -> dict:
    """One fused Adam state dict from K solo ones (same param order; moments concatenated)."""
    first = members[0]
    state = {}
    for index, entry in first["state"].items():
        state[index] = {"step": entry["step"]}
        for name in ("exp_avg", "exp_avg_sq"):
            state[index][name] = torch.cat([m["state"][index][name] for m in members])
    return {"state": state, "param_groups": first["param_groups"]}


def split_adam_state(fused: dict, k: int, count: int) -> dict:
    """Member k's solo Adam state dict out of the fused one (cloned: a checkpoint of its own,
    with the plain float lr and non-capturable groups a trial alone has)."""
    state = {}
    for index, entry in fused["state"].items():
        state[index] = {"step": entry["step"].clone()}
        for name in ("exp_avg", "exp_avg_sq"):
            state[index][name] = entry[name].chunk(count)[k].clone(
                memory_format=torch.contiguous_format)   # a solo trial's layout
    groups = [{**g, "lr": float(g["lr"]), "capturable": False} for g in fused["param_groups"]]
    return {"state": state, "param_groups": groups}
