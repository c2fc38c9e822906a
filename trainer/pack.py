"""Packs: K compatible trials trained in one process by one fused step (trainer.pack_step).

Compatible = equal in every TrialConfig field except `MEMBER_FIELDS` (what a member may choose
for itself: seed, selection, budget, balance, mix, λs, pools, reporting, and the mode within
unpaired / hybrid), with the same λs switched on (a λ of 0 removes a term, and for λ_adv the
discriminator update, from the step), and — when the step count comes from the data
(`steps == 0`) — the same sample counts.
Every member is a `TrialRun` (trainer.train) of its own: its own workdir, selection, image
banks, step order, pools, CPU generator, checkpoints, reports and result, exactly as alone;
`trial_key` does not change. A member whose loss goes non-finite fails alone (its result names
the step and term); the others train on. Members write solo checkpoints, so a pack resumes
each member exactly — also in another pack, or alone.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

import torch

from trainer.config import TrialConfig
from trainer.engine import NonFiniteLoss, state_payload
from trainer.pack_graph import GraphedPackStep
from trainer.pack_step import PackStep
from trainer.run.interrupt import interruptible, stop_if_requested, stop_requested
from trainer.train import Report, TrainError, TrialResult, TrialRun

# Fields a member may choose for itself; every other field shapes the fused computation.
MEMBER_FIELDS = frozenset({
    "mode", "seed", "selection", "pool_selection", "features", "paired_budget", "unpaired",
    "balance", "mix", "lambda_adv", "lambda_cycle", "lambda_identity", "lambda_paired", "image_pool",
    "unpaired_labels", "unpaired_labels_root", "report_every", "checkpoint_every", "eval_every"})
LAMBDAS = ("lambda_adv", "lambda_cycle", "lambda_identity", "lambda_paired")
STEP_COUNT_FIELDS = ("mode", "paired_budget", "unpaired", "balance")  # default step count


def packable(cfg: TrialConfig) -> bool:
    """Whether the fused step computes this trial (else it runs as a pack of one): the
    paper's step on the ResNet generator and PatchGAN (fields that may not exist yet read
    as their defaults)."""
    return (getattr(cfg, "variant", "paper") == "paper"
            and getattr(cfg, "arch", "resnet") == "resnet")


def pack_key(cfg: TrialConfig) -> tuple:
    """Configs with equal keys may share a pack (see the module docstring)."""
    shared = tuple((f.name, getattr(cfg, f.name)) for f in fields(cfg)
                   if f.name not in MEMBER_FIELDS)
    switched_on = tuple(getattr(cfg, name) > 0 for name in LAMBDAS)
    counts = tuple(getattr(cfg, n) for n in STEP_COUNT_FIELDS) if cfg.steps == 0 else ()
    # modes unpaired and hybrid share the step's terms (an unpaired member's slots are never
    # paired); mode paired has no cycle or identity terms
    return shared + (("paired_only", cfg.mode == "paired"), ("lambdas_on", switched_on),
                     ("step_counts", counts))


def group_packs(cfgs: Sequence[TrialConfig], size: int) -> list[list[TrialConfig]]:
    """Compatible configs in packs of at most `size`, in first-seen order; a config the fused
    step does not support is a pack of one."""
    if size < 1:
        raise ValueError(f"pack size {size} must be >= 1")
    groups: dict[tuple, list[TrialConfig]] = {}
    packs: list[list[TrialConfig]] = []
    for cfg in cfgs:
        if not packable(cfg) or size == 1:
            packs.append([cfg])
            continue
        group = groups.setdefault(pack_key(cfg), [])
        if not group:
            packs.append(group)
        group.append(cfg)
        if len(group) == size:
            del groups[pack_key(cfg)]
    return packs


def check_compatible(cfgs: Sequence[TrialConfig]) -> None:
    """TrainError naming the first field on which a member differs from the first member."""
    first = cfgs[0]
    for cfg in cfgs:
        if not packable(cfg) and len(cfgs) > 1:
            raise TrainError(f"trial {cfg.key()} cannot be packed (variant / arch)")
        for (name, a), (_, b) in zip(pack_key(first), pack_key(cfg)):
            if a != b:
                raise TrainError(f"trials {first.key()} and {cfg.key()} cannot share a pack: "
                                 f"{name} {a!r} != {b!r}")


@dataclass
class MemberOutcome:
    """What became of one member: its result, or the failure (non-finite loss) message."""
    cfg: TrialConfig
    result: TrialResult | None = None
    failure: str | None = None


class PackWatch:
    """Each step's [K] terms, moved to the CPU in one transfer per stop; per member the means,
    or the first non-finite (step, term) as `LossWatch` names it alone. A paired term counts
    only for members whose slot was paired (alone, no other slot computes one)."""

    def __init__(self):
        self._rows: list[tuple[int, tuple[str, ...], list[bool], torch.Tensor]] = []

    def record(self, step: int, terms: dict[str, torch.Tensor], paired: list[bool]) -> None:
        names = tuple(terms)
        self._rows.append((step, names, paired, torch.stack([terms[n].float() for n in names])))

    def flush(self, members: list[int]) -> dict[int, dict[str, float] | str]:
        """member -> its loss means, or a 'non-finite loss at step s: term = v' message."""
        # one transfer: every row's [terms, K] block, flattened and concatenated
        flat = torch.cat([r[3].flatten() for r in self._rows]).cpu() if self._rows else None
        blocks = flat.split([r[3].numel() for r in self._rows]) if self._rows else []
        values = [b.view(len(r[1]), -1).tolist() for b, r in zip(blocks, self._rows)]
        out: dict[int, dict[str, float] | str] = {}
        for k in members:
            sums: dict[str, list[float]] = {}
            for (step, names, paired, _), rows in zip(self._rows, values):
                bad = _record_member(sums, names, [row[k] for row in rows], paired[k])
                if bad:
                    out[k] = f"non-finite loss at step {step}: {bad}"
                    break
            else:
                out[k] = {name: sum(v) / len(v) for name, v in sums.items()}
        self._rows.clear()
        return out


def _record_member(sums: dict, names, values, paired: bool) -> str | None:
    for name, value in zip(names, values):
        if name.startswith("paired_") and not paired:
            continue
        if value != value or value in (float("inf"), float("-inf")):
            return f"{name} = {value}"
        sums.setdefault(name, []).append(value)
    return None


class PackRun:
    """Compatible TrialRuns at one step, stepped together; each keeps its own events,
    checkpoints and result."""

    def __init__(self, members: Sequence[TrialRun], graphs: bool = False):
        """graphs: step through trainer.pack_graph (CUDA graphs on a GPU; on the CPU the same
        static-buffer step, eagerly)."""
        self.members = list(members)
        check_compatible([m.cfg for m in self.members])
        for what, values in (("step counts", {m.total for m in self.members}),
                             ("resume steps", {m.state.step for m in self.members})):
            if len(values) > 1:
                raise TrainError(f"a pack's members need equal {what}, got {sorted(values)}")
        cfg = self.members[0].cfg
        step_class = GraphedPackStep if graphs else PackStep
        self.step = step_class([m.state for m in self.members], [m.trial.rules for m in
                               self.members], self.members[0].total, cfg.lr, cfg.beta1)
        for k, member in enumerate(self.members):
            member.payload = (lambda k=k: self.member_payload(k))
        self.failures: dict[int, str] = {}
        self.watch = PackWatch()

    @property
    def alive(self) -> list[int]:
        return [k for k in range(len(self.members)) if k not in self.failures]

    @property
    def done(self) -> bool:
        return not self.alive or self.members[0].done

    @property
    def steps_done(self) -> int:
        return self.members[0].state.step

    def advance(self) -> None:
        """Step every member to the earliest member's next stop, flush each member's losses
        (retiring one whose loss went non-finite), write every due checkpoint, then validate
        and report (a report may end the process: the checkpoints are all written by then)."""
        live = self.alive
        until = min(self.members[k].next_stop() for k in live)
        started = time.perf_counter()
        while self.steps_done < until and not stop_requested():   # a signal: stop here
            self._one_step()
        outcome = self.watch.flush(live)
        elapsed = time.perf_counter() - started   # every member trained the whole stretch
        for k in live:
            self.members[k].state.extra["train_s"] += elapsed
            if isinstance(outcome[k], str):
                self.failures[k] = outcome[k]
                self.step.retire(k)
        folders = {k: self.members[k].checkpoint_if_due() for k in self.alive}
        for k, folder in folders.items():
            self.members[k].validate_and_report(outcome[k], folder)

    def _one_step(self) -> None:
        xs, ys, paired = [], [], []
        for member in self.members:            # each member's own slot, crop, flip (its rng)
            slot = member.trial.plan.slot(member.state.step)
            x, y = member.trial.feed.batch(slot, member.state.rng)
            xs.append(x)
            ys.append(y)
            paired.append(slot.paired)
        terms = self.step(torch.cat(xs, dim=1), torch.cat(ys, dim=1), paired)
        self.watch.record(self.steps_done, terms, paired)

    def member_payload(self, k: int) -> dict:
        """Member k's checkpoint in the solo format (its weights copied out of the pack)."""
        payload = state_payload(self.members[k].state)
        payload["nets"] = {net: {name: t.clone() for name, t in weights.items()}
                           for net, weights in payload["nets"].items()}
        return payload | self.step.member_optimizers(k)

    def finish(self) -> list[MemberOutcome]:
        """Evaluate every member that trained to the end; the failed ones keep their message."""
        return [MemberOutcome(m.cfg, failure=self.failures[k]) if k in self.failures
                else MemberOutcome(m.cfg, result=m.finish()) for k, m in enumerate(self.members)]


def train_pack(cfgs: Sequence[TrialConfig], workdirs: Sequence[str | Path],
               reports: Sequence[Report | None] | None = None, *, graphs: bool = False,
               on_stop: Callable[[], None] | None = None) -> list[MemberOutcome]:
    """Train compatible trials as one pack (each in its own workdir, resuming from its own
    checkpoint) and evaluate each; outcomes in the order of `cfgs`. Members whose checkpoints
    stand at different steps (a process killed while writing them) train as one pack per step.
    `on_stop()` runs after every stop, once the members' events (their reports) are done."""
    reports = list(reports) if reports is not None else [None] * len(cfgs)
    if len(cfgs) == 1 and not packable(cfgs[0]):    # the fused step does not compute it
        return [_train_alone(TrialRun(cfgs[0], workdirs[0], reports[0]), on_stop)]
    members = [TrialRun(c, w, r) for c, w, r in zip(cfgs, workdirs, reports)]
    outcomes: dict[int, MemberOutcome] = {}
    with interruptible():
        for step in sorted({m.state.step for m in members}):
            ids = [i for i, m in enumerate(members) if m.state.step == step]
            run = PackRun([members[i] for i in ids], graphs)
            while not run.done:
                run.advance()
                if on_stop:
                    on_stop()
                _stop_if_requested([run.members[k] for k in run.alive], on_stop)
            outcomes |= dict(zip(ids, run.finish()))
    return [outcomes[i] for i in range(len(cfgs))]


def _stop_if_requested(runs: list[TrialRun], on_stop: Callable[[], None] | None) -> None:
    """On SIGINT / SIGTERM: every live member checkpoints and reports, then Interrupted."""
    def checkpoint() -> None:
        for run in runs:
            run.save_and_report()
        if on_stop:
            on_stop()
    stop_if_requested(runs[0].state.step if runs else 0, checkpoint)


def _train_alone(run: TrialRun, on_stop: Callable[[], None] | None) -> MemberOutcome:
    """A trial of its own (trainer.train's loop) with a pack member's outcome."""
    try:
        with interruptible():
            while not run.done:
                run.advance()
                if on_stop:
                    on_stop()
                _stop_if_requested([run], on_stop)
    except NonFiniteLoss as err:
        return MemberOutcome(run.cfg, failure=str(err))
    return MemberOutcome(run.cfg, result=run.finish())
