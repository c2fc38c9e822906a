"""The one training loop: K members (K = 1 is a trial alone) stepped together by one Step.

    train(cfg, workdir, report=None) -> TrialResult             a trial alone
    train_pack(cfgs, workdirs, reports) -> [TrialOutcome]       a pack (trainer.core.packing)

Both are this loop. The trial's pieces, each named by what it is: `TrialSetup` (what
`prepare` builds from a config: data feed, step plan, state), `TrialRun` (one trial being
trained: its stops, checkpoints, reports), `ValPass` (one validation pass), `TrialResult` (the
final evaluation, a row's metrics), `TrialOutcome` (a result or a failure), `PackRun` (K
TrialRuns stepped together). Every member is a `TrialRun` (trainer.run.trial) of its own: its own
workdir, selection, image banks, step order, pools, CPU generator, checkpoints, reports and
result, exactly as alone; `trial_key` does not change. A member whose loss goes non-finite
fails alone (its result names the step and term); the others train on. Members write solo
checkpoints, so a pack resumes each member — also in another pack, or alone.

Exactness: on the CPU, float64, a pack equals its members alone to rounding (≤ 3e-14 after one
step), which GAN training then amplifies as it amplifies a 1-ulp nudge of one weight; in float32
a member's numbers depend on the pack size it ran in (a different draw, not a different
method). Bit for bit holds for the same key, pack, threads and machine (CPU; CUDA only with
`deterministic`, docs/contracts.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm import tqdm

from trainer.core.config import TrialConfig
from trainer.run.feed import Feed
from trainer.run.interrupt import interruptible, stop_if_requested, stop_requested
from trainer.core.packing import PackError, check_compatible
from trainer.run.schedule import StepPlan
from trainer.run.trial import Report, TrainError, TrialResult, TrialRun
from trainer.step.base import Step
from trainer.step.build import make_step
from trainer.step.watch import LossWatch, NonFiniteLoss


@dataclass
class TrialOutcome:
    """What became of one member: its result, or the failure (non-finite loss) message."""
    cfg: TrialConfig
    result: TrialResult | None = None
    failure: str | None = None


class PackRun:
    """K TrialRuns at one step, stepped together by one Step (a trial alone: K = 1); each
    keeps its own events, checkpoints and result. graphs: CUDA graphs for the paper step (None: as cfg.cuda_graphs asks, on CUDA
    only; True on the CPU runs the same static-buffer step eagerly)."""

    def __init__(self, members: Sequence[TrialRun], graphs: bool | None = None):
        self.members = list(members)
        try:
            check_compatible([m.cfg for m in self.members])
        except PackError as err:
            raise TrainError(str(err)) from None
        for what, values in (("step counts", {m.total for m in self.members}),
                             ("resume steps", {m.state.step for m in self.members})):
            if len(values) > 1:
                raise TrainError(f"a pack's members need equal {what}, got {sorted(values)}")
        self.step = make_step([m.state for m in self.members],
                              [m.trial.rules for m in self.members], graphs=graphs)
        for k, member in enumerate(self.members):
            member.payload = (lambda k=k: self.step.payload(k))
        self.watch = LossWatch(len(self.members))

    @property
    def failures(self) -> dict[int, str]:
        return self.watch.failures

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
        """Step every member to the earliest member's next stop; check the losses (retiring a
        member whose loss went non-finite); then for each member whose own stop this is, its
        loss means over its own window, its due curve point, its due checkpoint (carrying that
        point), and (once every due checkpoint is written: a report may end the process) its
        validation and report."""
        live = self.alive
        stops = {k: self.members[k].next_stop() for k in live}
        until = min(stops.values())
        started = time.perf_counter()
        self.run_steps(until)
        failed = self.watch.check()
        elapsed = time.perf_counter() - started   # every member trained the whole stretch
        for k in live:
            self.members[k].state.extra["train_s"] += elapsed
            if k in failed:
                self.step.retire(k)
        due = [k for k in self.alive if stops[k] == until]
        losses = {k: self.watch.means(k) for k in due}
        for k in due:
            self.members[k].record_curve_if_due()
        folders = {k: self.members[k].checkpoint_if_due() for k in due}
        for k in due:
            self.members[k].validate_and_report(losses[k], folders[k])

    def run_steps(self, until: int) -> None:
        """Steps up to `until` (steps done), every step's terms into the watch."""
        trials = [m.trial for m in self.members]
        step_through(self.step, [t.feed for t in trials], [t.plan for t in trials], until,
                     self.watch)

    def finish(self) -> list[TrialOutcome]:
        """Evaluate every member that trained to the end; the failed ones keep their message."""
        return [TrialOutcome(m.cfg, failure=self.failures[k]) if k in self.failures
                else TrialOutcome(m.cfg, result=m.finish()) for k, m in enumerate(self.members)]


def step_through(step: Step, feeds: Sequence[Feed], plans: Sequence[StepPlan], until: int,
                 watch: LossWatch) -> None:
    """The one slot -> batch -> step loop: step's members (member k on feeds[k] in the order of
    plans[k], its crops and flips from its own generator) up to `until` steps done. The
    stretch's paired flags go to the device in one non-blocking copy (pinned memory on CUDA),
    so no step waits on the host."""
    states = step.states
    start = states[0].step
    slots = [[plan.slot(s) for plan in plans] for s in range(start, until)]
    table = torch.tensor([[slot.paired for slot in row] for row in slots], dtype=torch.bool)
    if step.device.type == "cuda":
        table = table.pin_memory()
    masks = table.to(step.device, non_blocking=True)   # [steps, K]
    for i, row in enumerate(slots):
        if stop_requested():   # SIGINT / SIGTERM (trainer.run.interrupt): stop after a whole step
            break
        xs, ys = [], []
        for feed, state, slot in zip(feeds, states, row):
            x, y = feed.batch(slot, state.rng)
            xs.append(x)
            ys.append(y)
        paired = [slot.paired for slot in row]
        x, y = (t[0] if len(t) == 1 else torch.cat(t, dim=1) for t in (xs, ys))   # (alone: no copy)
        terms = step(x, y, paired, masks[i])
        watch.record(states[0].step, terms, paired)


def train_pack(cfgs: Sequence[TrialConfig], workdirs: Sequence[str | Path],
               reports: Sequence[Report | None] | None = None, *, graphs: bool | None = None,
               on_stop: Callable[[], None] | None = None,
               progress: bool = False) -> list[TrialOutcome]:
    """Train trials as one run (each in its own workdir, resuming from its own checkpoint) and
    evaluate each; outcomes in the order of `cfgs`. Members whose checkpoints stand at
    different steps (a process killed while writing them) train as one run per step.
    `on_stop()` runs after every stop, once the members' events (their reports) are done."""
    reports = list(reports) if reports is not None else [None] * len(cfgs)
    members = [TrialRun(c, w, r) for c, w, r in zip(cfgs, workdirs, reports)]
    outcomes: dict[int, TrialOutcome] = {}
    with interruptible():
        for resumed_at in sorted({m.state.step for m in members}):   # steps done already
            ids = [i for i, m in enumerate(members) if m.state.step == resumed_at]
            run = PackRun([members[i] for i in ids], graphs)
            with tqdm(total=run.members[0].total, initial=resumed_at, disable=not progress,
                      unit="step", dynamic_ncols=True) as bar:
                while not run.done:
                    first = run.steps_done
                    run.advance()
                    bar.update(run.steps_done - first)
                    if on_stop:
                        on_stop()
                    _stop_if_requested([run.members[k] for k in run.alive], on_stop)
            outcomes |= dict(zip(ids, run.finish()))
    return [outcomes[i] for i in range(len(cfgs))]


def _stop_if_requested(runs: list[TrialRun], on_stop: Callable[[], None] | None) -> None:
    """On SIGINT / SIGTERM: every live member checkpoints and reports, then Interrupted (its
    one line and exit code: trainer.run.interrupt)."""
    def checkpoint() -> None:
        for run in runs:
            run.save_and_report()
        if on_stop:
            on_stop()
    stop_if_requested(runs[0].state.step if runs else 0, checkpoint)


def train(cfg: TrialConfig, workdir: str | Path, report: Report | None = None, *,
          progress: bool = False, graphs: bool | None = None) -> TrialResult:
    """Train one trial in `workdir` (resuming from workdir/checkpoint/), evaluate it: a run of
    one member. Raises NonFiniteLoss naming the first bad step and term."""
    (outcome,) = train_pack([cfg], [workdir], [report], graphs=graphs, progress=progress)
    if outcome.failure is not None:
        raise NonFiniteLoss(outcome.failure)
    return outcome.result
