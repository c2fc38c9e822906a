"""The paper's step for K >= 1 trials: their networks fused (trainer.nets.fused), one step for all.
A trial alone is K = 1: this is the one implementation of the paper's step.

One step = one G/F update on the weighted terms of `trainer.step.losses`, then one D_Y/D_X
update on (real, pooled fake). Member k keeps everything it has alone — its TrainState's image
pools, CPU generator and step count, its λs, its own batch — and its networks' parameters
become views of block k of the fused parameters. Per-member λs are [K] vectors in the run's
dtype (float64 in a float64 run); the paired terms are weighted by the [K] paired mask (alone a
member on an unpaired slot computes no paired term). One Adam over the fused parameters equals
K Adams, one per member, because Adam is elementwise and every member steps with the same lr
rule (trainer.step.lr). Loss terms are mapped over the members with `torch.vmap` (K = 1:
called directly).

Images: [N, K*3, S, S], member k at channels [3k, 3k+3) (trainer.nets.fused).
"""
from __future__ import annotations

import functools
import itertools

import torch
from torch import nn

from trainer.nets.fused import fuse, link_members
from trainer.step import losses
from trainer.step.base import Step, Tensor, requires_grad
from trainer.step.checkpoint import NETS, state_payload
from trainer.step.state import ADAM_BETA2, StepRules, TrainState, translate_all

WEIGHT_GROUPS = ("adv", "cycle", "idt", "paired")   # term prefixes (losses.LossWeights.of)
# channels_last for the fused networks on CUDA: off, and unmeasured. InstanceNorm returns NCHW
# for a channels_last input, so every conv/norm boundary transposes; keep it off until a GPU
# measurement (make gpu-check) shows it pays.
CHANNELS_LAST = False


class PaperStep(Step):
    """One G/F update and one D_Y/D_X update of every member."""

    capturable = False   # GraphedPaperStep: Adam state and lr on the device, graph-safe

    def __init__(self, states: list[TrainState], rules: list[StepRules],
                 channels_last: bool = CHANNELS_LAST):
        super().__init__(states, rules)
        cuda = self.device.type == "cuda"
        fmt = torch.channels_last if cuda and channels_last else torch.contiguous_format
        self.nets = {}
        for name in NETS:
            members = [getattr(s, name) for s in states]
            self.nets[name] = fuse(members).to(memory_format=fmt)
            link_members(self.nets[name], members)
        self.memory_format = fmt
        self.dtype = next(self.nets["g"].parameters()).dtype   # float32, float64 in tests
        group = states[0].opt_gen.param_groups[0]
        adam = functools.partial(torch.optim.Adam, lr=group["initial_lr"],
                                 betas=(group["betas"][0], ADAM_BETA2), fused=cuda,
                                 capturable=self.capturable)
        self.opt_gen = adam(self._params("g", "f"))
        self.opt_disc = adam(self._params("d_y", "d_x"))
        rule = states[0].sched_gen.lr_lambdas[0]   # trainer.step.lr.lr_rule, as alone
        self.sched_gen, self.sched_disc = (torch.optim.lr_scheduler.LambdaLR(opt, rule)
                                           for opt in (self.opt_gen, self.opt_disc))
        self._load_optimizers()
        # [K] λ per term group in the run's dtype, as `losses.weighted_total` weighs a term
        self.weights = {g: torch.tensor([r.weights.of(g + "_") for r in rules],
                                        dtype=self.dtype, device=self.device)
                        for g in WEIGHT_GROUPS}
        self.alive = torch.ones(self.k, dtype=self.dtype, device=self.device)
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

    def payload(self, k: int) -> dict:
        """Member k's checkpoint in a trial alone's format: its weights copied out of the
        fused networks, its optimiser and schedule state split out of the fused ones."""
        payload = state_payload(self.states[k])
        payload["nets"] = {net: {name: t.clone(memory_format=torch.contiguous_format)
                                 for name, t in weights.items()}
                           for net, weights in payload["nets"].items()}
        return payload | {"opt_gen": split_adam_state(self.opt_gen.state_dict(), k, self.k),
                          "opt_disc": split_adam_state(self.opt_disc.state_dict(), k, self.k),
                          "sched_gen": self.sched_gen.state_dict(),
                          "sched_disc": self.sched_disc.state_dict()}

    # --- one step ----------------------------------------------------------------------------
    def __call__(self, x: Tensor, y: Tensor, paired: list[bool],
                 mask: Tensor | None = None) -> dict[str, Tensor]:
        """x, y: [1, K*3, S, S]; paired: each member's slot kind (host), mask: the same on the
        device. Returns every named term as a [K] vector, detached (no sync)."""
        x, y = (t.contiguous(memory_format=self.memory_format) for t in (x, y))
        terms, fake_y, fake_x = self.generator_update(x, y, self.device_mask(paired, mask),
                                                      any(paired))
        self.sched_gen.step()
        if self.rules.adversarial:   # (lambda_adv = 0 for all: no D update)
            pooled = self.pooled(fake_y, "pool_y"), self.pooled(fake_x, "pool_x")
            terms |= self.discriminator_update(x, y, *pooled)
            self.sched_disc.step()
        self.count_step()
        return terms

    def autocast(self):
        """The rules' autocast; without its weight cache when replayed from a CUDA graph."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.rules.bf16,
                              cache_enabled=not self.capturable)

    def generator_update(self, x: Tensor, y: Tensor, mask: Tensor, with_paired: bool):
        """One Adam step of every G and F; returns ({term: [K]}, G(x), F(y)), all detached.
        mask: [K] bool, the members on a paired slot."""
        discriminators = (self.nets["d_y"], self.nets["d_x"])
        rules = self.rules
        with self.autocast():
            out = translate_all(self.nets["g"], self.nets["f"], x, y, rules.cycle,
                                rules.identity)
            requires_grad(discriminators, False)   # G's loss builds no D weight gradients
            terms = self._generator_terms(x, y, out, with_paired)
            totals = torch.stack([self._weight(n, mask) * v.to(self.dtype)
                                  for n, v in terms.items()]).sum(0)   # [K] g_total
        self.opt_gen.zero_grad(set_to_none=True)
        (totals * self.alive).sum().backward()   # members' parameters are disjoint
        self.opt_gen.step()
        requires_grad(discriminators, True)
        terms["g_total"] = totals
        return (_reported(terms),
                out.fake_y.detach(), out.fake_x.detach())

    def _weight(self, name: str, paired_mask: Tensor) -> Tensor:
        group = name.split("_", 1)[0]
        weight = self.weights[group]   # where, not *: an inf λ must not make 0 * inf = nan
        return torch.where(paired_mask, weight, 0.0) if group == "paired" else weight

    def _generator_terms(self, x, y, out, any_paired: bool) -> dict[str, Tensor]:
        rules, terms = self.rules, {}
        vm = functools.partial(_vmap_terms, self.k)
        if rules.adversarial:
            real_y, fake_y_logits = _logits(self.nets["d_y"], y, out.fake_y)
            real_x, fake_x_logits = _logits(self.nets["d_x"], x, out.fake_x)
            terms |= vm(functools.partial(losses.adversarial_terms, rules.gan),
                        real_y, fake_y_logits, real_x, fake_x_logits)
        if out.rec_x is not None:
            terms |= vm(losses.cycle_terms, x, out.rec_x, y, out.rec_y)
        if out.idt_y is not None:
            terms |= vm(losses.identity_terms, x, out.idt_x, y, out.idt_y)
        if self.has_paired and any_paired:
            terms |= vm(losses.paired_terms, x, out.fake_x, y, out.fake_y)
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
        return _reported(terms)

    def pooled(self, fakes: Tensor, pool: str) -> Tensor:
        """Member k's fakes through member k's pool (its own CPU generator draws), in member
        order; [N, K*3, S, S]."""
        per_member = fakes.chunk(self.k, dim=1)
        drawn = [getattr(s, pool).query(f, s.rng) for s, f in zip(self.states, per_member)]
        fused = drawn[0] if self.k == 1 else torch.cat(drawn, dim=1)   # (alone: no copy)
        return fused.contiguous(memory_format=self.memory_format)

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


def _reported(terms: dict[str, Tensor]) -> dict[str, Tensor]:
    """Detached, at least float32 (bf16 terms as float32, float64 stays float64)."""
    return {name: value.detach().to(torch.promote_types(value.dtype, torch.float32))
            for name, value in terms.items()}


def _vmap_terms(k: int, fn, *tensors: Tensor) -> dict[str, Tensor]:
    """`fn(*member tensors)` for each member; tensors [N, K*C, ...] -> {name: [K]}. A trial
    alone (K = 1) calls `fn` directly: vmap's dispatch over the dozen small loss ops took
    ~1.5 ms a step against ~0.5 ms direct at the demo's size, most of the 3-4 % by which K=1
    trailed the old solo step (bench/pack_throughput.py)."""
    if k == 1:
        return {name: value.reshape(1) for name, value in fn(*tensors).items()}
    return torch.vmap(fn, in_dims=1)(*(t.unflatten(1, (k, t.shape[1] // k)) for t in tensors))


def _logits(disc: nn.Module, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """C(real), C(fake) from one fused pass; each [N, K, h, w] (member k's map at channel k)."""
    return disc(torch.cat([real, fake])).chunk(2)


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
