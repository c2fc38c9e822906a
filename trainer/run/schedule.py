"""Which sample each step trains on, how many steps a trial runs, and the learning-rate curve.

An *epoch* is one pass over the step slots the mode asks for:
  paired    the P pairs once each (no unpaired data at all);
  unpaired  the U pool samples once each;
  hybrid    the U pool samples (unpaired steps) plus the pairs: replicated up to U slots when
            `balance` (the paper's default), else once each (the unbalanced ablation).
The mix only orders that fixed set of steps: `interleave` shuffles paired and unpaired slots into
one epoch (default), `alternate` runs each epoch's paired block then its unpaired block (the
released code), `staged` runs every paired slot of the whole schedule first, then every unpaired
one (Tripathy et al.). The order is a pure function of (seed, epoch), so a resumed trial needs
no stored plan; the y side of an unpaired step is drawn uniformly from the Y pool, independently
of x, as in CycleGAN's unaligned loader.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache

import typing

import numpy as np

from trainer.core.config import ALL

if typing.TYPE_CHECKING:
    import torch

DEFAULT_EPOCHS = 200       # CycleGAN's / pix2pix's default (100 constant + 100 decaying); the
                           # paper gives no epoch or step count (~5 hours per model)
MIN_DEFAULT_STEPS = 1000   # floor for tiny paired runs (budget 1 -> epoch of 1 step)
_ORDER_STREAM = 1          # SeedSequence stream id of the step order (0 is left to selection)


@dataclass(frozen=True)
class Slot:
    """One step's samples: `paired` slots use pair `index` (row of manifest.paired) for both
    x and y; unpaired slots use pool sample `index` (row of manifest.unpaired) for x and Y-pool
    sample `y_index` for y."""
    paired: bool
    index: int
    y_index: int


@dataclass(frozen=True)
class StepPlan:
    mode: str           # paired | unpaired | hybrid
    mix: str            # interleave | alternate | staged
    balance: bool
    n_pairs: int        # P, paired samples (0 in mode unpaired)
    n_pool: int         # U, unpaired x samples (ignored in mode paired)
    n_y: int            # unpaired y samples (= U, or the label-only pool size)
    seed: int
    total: int          # steps in the whole schedule (staged needs it to place the switch)

    # --- epoch shape ----------------------------------------------------------------------
    @property
    def paired_per_epoch(self) -> int:
        if self.mode == "unpaired":
            return 0
        if self.mode == "hybrid" and self.balance:
            return max(self.n_pairs, self.n_pool)
        return self.n_pairs

    @property
    def unpaired_per_epoch(self) -> int:
        return 0 if self.mode == "paired" else self.n_pool

    @property
    def epoch_length(self) -> int:
        return self.paired_per_epoch + self.unpaired_per_epoch

    @property
    def staged_switch(self) -> int:
        """First unpaired step of a staged schedule: the paired share of `total`."""
        return round(self.total * self.paired_per_epoch / self.epoch_length)

    # --- the order ------------------------------------------------------------------------
    def slot(self, step: int) -> Slot:
        if self.mix == "staged" and self.mode == "hybrid":
            switch = self.staged_switch
            if step < switch:
                return self._block(True, step // self.paired_per_epoch)[step % self.paired_per_epoch]
            rest = step - switch
            return self._block(False, rest // self.n_pool)[rest % self.n_pool]
        epoch, offset = divmod(step, self.epoch_length)
        return self._epoch(epoch)[offset]

    @lru_cache(maxsize=4)
    def _epoch(self, epoch: int) -> tuple[Slot, ...]:
        slots = self._block(True, epoch) + self._block(False, epoch)
        if self.mix != "interleave":
            return slots
        import torch   # the orders only: total_steps (sweep plans, dry runs) needs no torch
        order = torch.randperm(len(slots), generator=_generator(self.seed, epoch, 2))
        return tuple(slots[i] for i in order.tolist())

    @lru_cache(maxsize=4)
    def _block(self, paired: bool, epoch: int) -> tuple[Slot, ...]:
        """One epoch's paired slots (tiled permutations of the pairs) or unpaired slots."""
        import torch
        gen = _generator(self.seed, epoch, 0 if paired else 1)
        if paired:
            count = self.paired_per_epoch
            reps = math.ceil(count / self.n_pairs) if count else 0
            order = torch.cat([torch.randperm(self.n_pairs, generator=gen) for _ in range(reps)]
                              or [torch.zeros(0, dtype=torch.long)])[:count]
            return tuple(Slot(True, i, i) for i in order.tolist())
        if not self.unpaired_per_epoch:
            return ()
        order = torch.randperm(self.unpaired_per_epoch, generator=gen)
        ys = torch.randint(self.n_y, (len(order),), generator=gen)
        return tuple(Slot(False, i, j) for i, j in zip(order.tolist(), ys.tolist()))


def _generator(seed: int, epoch: int, part: int) -> torch.Generator:
    """An independent CPU generator per (seed, epoch, part) via numpy's SeedSequence."""
    import torch
    state = np.random.SeedSequence([seed, _ORDER_STREAM, epoch, part]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def default_steps(plan_epoch_length: int) -> int:
    """Steps when cfg.steps == 0: DEFAULT_EPOCHS epochs of the mode's epoch, at least
    MIN_DEFAULT_STEPS — fewpair's default, taken from CycleGAN; the paper says only that "the
    total number of epochs varies proportionally with the amount of samples" (here: training
    length proportional to the samples per epoch) and gives no count. Examples of the rule:
    hybrid, 200 pool + balanced pairs -> 400 x 200 = 80,000 steps; 5 pairs alone -> 1,000."""
    return max(MIN_DEFAULT_STEPS, DEFAULT_EPOCHS * plan_epoch_length)


def step_plan(cfg, n_pairs: int, n_pool: int, n_y: int) -> StepPlan:
    """The step order and length of a trial of `cfg` (a TrialConfig) with these sample counts:
    cfg.steps, or (cfg.steps == 0) default_steps of its epoch -- the one step-count rule, for
    the trial (trainer.run.trial) and for the sweeps' plans (total_steps)."""
    plan = StepPlan(cfg.mode, cfg.mix, cfg.balance, n_pairs, n_pool, n_y, cfg.seed, cfg.steps)
    return plan if cfg.steps else dataclasses.replace(plan, total=default_steps(plan.epoch_length))


def total_steps(cfg, n_train: int | None = None) -> int:
    """Steps a trial of `cfg` (a TrialConfig) runs on a train split of `n_train` images
    (None: the dataset registry's train_size): step_plan's total for the pool and budget it
    asks for, which the sweeps use to place ASHA's rungs and estimate GPU-hours."""
    if cfg.steps:
        return cfg.steps
    if n_train is None:
        from trainer.data import dataset_info
        n_train = dataset_info(cfg.dataset).train_size
    pool = n_train if cfg.unpaired == ALL else cfg.unpaired
    pairs = pool if cfg.paired_budget == ALL else cfg.paired_budget
    return step_plan(cfg, pairs, pool, pool).total


def checkpoint_interval(every: int, total: int) -> int:
    """Steps between checkpoints for cfg.checkpoint_every = `every` in a trial of `total`
    steps: at most half the trial (a default 500 in a 300-step trial would save nothing before
    the end, and an interrupted run could not resume); 0 stays 0 (only at the end)."""
    return min(every, max(1, total // 2)) if every > 0 else 0
