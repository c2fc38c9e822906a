"""The step plan (modes x mixes x balance), the default length rule and the lr factor."""
from __future__ import annotations

from collections import Counter

import pytest

from trainer.core.config import TrialConfig
from trainer.run.schedule import StepPlan, default_steps, total_steps
from trainer.step.lr import epoch_lr_factor, lr_factor, lr_rule


def plan(mode="hybrid", mix="interleave", balance=True, n_pairs=5, n_pool=20, n_y=20, total=400):
    return StepPlan(mode=mode, mix=mix, balance=balance, n_pairs=n_pairs, n_pool=n_pool, n_y=n_y,
                    seed=0, total=total)


def slots(p: StepPlan, start: int, stop: int):
    return [p.slot(s) for s in range(start, stop)]


@pytest.mark.parametrize("mix", ["interleave", "alternate", "staged"])
@pytest.mark.parametrize("balance", [True, False])
def test_every_mix_orders_the_same_steps(mix, balance):
    p = plan(mix=mix, balance=balance, total=0)
    length = p.epoch_length
    assert length == (40 if balance else 25)
    p = plan(mix=mix, balance=balance, total=4 * length)
    epochs = slots(p, 0, 4 * length)
    paired = Counter(s.index for s in epochs if s.paired)
    unpaired = Counter(s.index for s in epochs if not s.paired)
    per_pair = 4 * (4 if balance else 1)             # balanced: 5 pairs replicated to 20 slots
    assert paired == {i: per_pair for i in range(5)}
    assert unpaired == {i: 4 for i in range(20)}
    assert all(s.y_index == s.index for s in epochs if s.paired)
    assert {s.y_index for s in epochs if not s.paired} <= set(range(20))


def test_mixes_differ_only_in_order():
    inter, alt, staged = (slots(plan(mix=m, total=80), 0, 80)
                          for m in ("interleave", "alternate", "staged"))
    assert [s.paired for s in alt[:40]] == [True] * 20 + [False] * 20   # paired pass, unpaired pass
    assert [s.paired for s in staged] == [True] * 40 + [False] * 40     # all paired first
    flags = [s.paired for s in inter[:40]]
    assert sum(flags) == 20 and flags != sorted(flags, reverse=True)    # shuffled together


def test_unbalanced_sees_pairs_at_their_natural_rate():
    steps = slots(plan(balance=False, n_pairs=5, n_pool=100, n_y=100, total=1050), 0, 1050)
    assert sum(s.paired for s in steps) == 50                           # 5 of every 105
    balanced = slots(plan(balance=True, n_pairs=5, n_pool=100, n_y=100, total=1000), 0, 1000)
    assert sum(s.paired for s in balanced) == 500


def test_paired_mode_uses_only_pairs_and_unpaired_only_the_pool():
    steps = slots(plan(mode="paired", n_pairs=3), 0, 30)
    assert all(s.paired for s in steps)
    assert Counter(s.index for s in steps) == {0: 10, 1: 10, 2: 10}
    steps = slots(plan(mode="unpaired", n_pairs=0, n_pool=7, n_y=3), 0, 70)
    assert not any(s.paired for s in steps)
    assert Counter(s.index for s in steps) == {i: 10 for i in range(7)}
    assert {s.y_index for s in steps} == {0, 1, 2}                       # own Y pool size


def test_the_order_is_a_function_of_seed_and_epoch():
    a, b = plan(), plan()
    assert slots(a, 35, 85) == slots(b, 35, 85)
    other = StepPlan("hybrid", "interleave", True, 5, 20, 20, seed=1, total=400)
    assert slots(a, 0, 40) != slots(other, 0, 40)
    assert slots(a, 0, 40) != slots(a, 40, 80)                           # epochs reshuffle


def test_default_steps_rule():
    assert default_steps(plan(n_pairs=5, n_pool=200, n_y=200).epoch_length) == 80_000
    assert default_steps(plan(mode="paired", n_pairs=5).epoch_length) == 1_000   # the floor
    assert default_steps(plan(balance=False, n_pairs=20, n_pool=200, n_y=200).epoch_length) == 44_000


def test_total_steps_reads_the_config_and_the_split_size():
    hybrid = TrialConfig(mode="hybrid", paired_budget=5, unpaired=200, steps=0)
    assert total_steps(hybrid, n_train=2975) == 80_000                   # pool 200 + 200 slots
    everything = hybrid.replace(paired_budget=-1, unpaired=-1)
    assert total_steps(everything, n_train=1000) == 200 * 2000
    paired = TrialConfig(mode="paired", paired_budget=5, steps=0)
    assert total_steps(paired, n_train=2975) == 1_000                    # the floor
    assert total_steps(hybrid.replace(steps=123), n_train=2975) == 123   # cfg.steps wins
    assert total_steps(everything.replace(dataset="cityscapes")) == 200 * 2 * 2975   # registry


def test_lr_factor_is_flat_then_linear_to_zero():
    assert [lr_factor(s, 10) for s in range(11)] == pytest.approx(
        [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0])
    assert lr_factor(0, 1) == 1.0 and lr_factor(1, 1) == 0.0


def test_one_lr_rule_per_step_for_the_paper_per_epoch_for_released_and_pix2pix():
    paper, released = TrialConfig(), TrialConfig(variant="released")
    pix2pix = TrialConfig(arch="pix2pix", mode="paired", paired_budget=1, image_size=64)
    assert [lr_rule(paper, 12, 3)(s) for s in range(12)] == [lr_factor(s, 12) for s in range(12)]
    for cfg in (released, pix2pix):
        assert [lr_rule(cfg, 12, 3)(s) for s in range(12)] == [
            epoch_lr_factor(s, 12, 3) for s in range(12)]
        assert lr_rule(cfg, 12)(7) == lr_factor(7, 12)   # no epoch known: per step

