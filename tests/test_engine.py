"""The step over an explicit state: named finite terms per step kind, every network learns,
the image pool, the lr curve, the loss watch, and bit-exact checkpoint/resume (random tensors;
the real-data loop is in test_train.py)."""
from __future__ import annotations

import pytest
import torch

from trainer.core.config import TrialConfig
from trainer.engine import (LossWatch, NonFiniteLoss, StepRules, build_state, has_checkpoint,
                            load_checkpoint, save_checkpoint, train_step)
from trainer.image_pool import ImagePool

CPU = torch.device("cpu")
TINY = dict(image_size=32, load_size=32, ngf=8, ndf=8, n_blocks=2)
ADV = {"adv_g", "adv_f", "d_y", "d_x", "g_total"}
CYCLE_IDT = {"cycle_x", "cycle_y", "idt_x", "idt_y"}
PAIRED = {"paired_x", "paired_y"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def images(step: int, n: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed (x, y) per step index: [n, 3, 32, 32] in [-1, 1]."""
    gen = torch.Generator().manual_seed(1000 + step)
    return tuple(torch.rand(n, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(2))


def setup(total: int = 10, **changes):
    cfg = TrialConfig(**(TINY | changes))
    return build_state(cfg, CPU, total), StepRules.from_config(cfg, CPU)


@pytest.mark.parametrize("mode,paired,expected", [
    ("hybrid", True, ADV | CYCLE_IDT | PAIRED),   # paired steps carry all four terms
    ("hybrid", False, ADV | CYCLE_IDT),           # unpaired steps: adv + cycle + identity
    ("unpaired", False, ADV | CYCLE_IDT),
    ("paired", True, ADV | PAIRED),               # pix2pix-like: adversarial + paired L1
])
def test_each_step_kind_names_its_terms_and_they_are_finite(mode, paired, expected):
    budget = 0 if mode == "unpaired" else 5
    state, rules = setup(mode=mode, paired_budget=budget)
    terms = train_step(state, *images(0), paired, rules)
    assert set(terms) == expected
    assert all(torch.isfinite(v) and v.ndim == 0 for v in terms.values())
    assert state.step == 1


@pytest.mark.parametrize("gan_loss", ["rsgan", "rasgan", "ralsgan", "lsgan"])
def test_every_network_moves_under_every_gan_loss(gan_loss):
    state, rules = setup(gan_loss=gan_loss)
    nets = (state.g, state.f, state.d_y, state.d_x)
    before = [[p.clone() for p in net.parameters()] for net in nets]
    terms = train_step(state, *images(0), True, rules)
    assert all(torch.isfinite(v) for v in terms.values())
    for net, old in zip(nets, before):   # (biases feeding instance norm get no gradient)
        assert all(not torch.equal(p, q) for p, q in zip(net.parameters(), old) if p.ndim == 4)
        assert all(p.requires_grad for p in net.parameters())


def test_zero_adversarial_weight_skips_the_discriminators():
    state, rules = setup(lambda_adv=0.0)
    before = [p.clone() for p in state.d_y.parameters()]
    terms = train_step(state, *images(0), True, rules)
    assert set(terms) == CYCLE_IDT | PAIRED | {"g_total"}
    assert all(torch.equal(p, q) for p, q in zip(state.d_y.parameters(), before))
    # g_total is exactly 10*cycle + 10*identity + 150*paired
    expected = sum(w * terms[n].item() for n, w in [("cycle_x", 10), ("cycle_y", 10), ("idt_x", 10),
                                                     ("idt_y", 10), ("paired_x", 150), ("paired_y", 150)])
    assert terms["g_total"].item() == pytest.approx(expected, rel=1e-5)


def test_lr_is_constant_for_half_then_falls_linearly_to_zero():
    state, rules = setup(total=8)
    lrs = []
    for step in range(8):
        lrs.append(state.opt_gen.param_groups[0]["lr"])
        train_step(state, *images(step), False, rules)
    assert lrs == pytest.approx([2e-4] * 5 + [1.5e-4, 1e-4, 0.5e-4])
    assert state.opt_gen.param_groups[0]["lr"] == 0.0
    assert state.opt_disc.param_groups[0]["lr"] == 0.0


def test_image_pool_fills_then_swaps_half_the_time():
    pool, rng = ImagePool(2), torch.Generator().manual_seed(0)
    first, second = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    assert torch.equal(pool.query(first, rng), first) and torch.equal(pool.query(second, rng), second)
    swapped = 0
    for i in range(200):
        new = torch.full((1, 3, 4, 4), float(i + 2))
        out = pool.query(new, rng)
        if not torch.equal(out, new):
            swapped += 1
            assert any(torch.equal(new[0], img) for img in pool.images)  # new fake took a slot
    assert 70 < swapped < 130                              # p = 1/2 over 200 draws
    copy = ImagePool(2)
    copy.load_state_dict(pool.state_dict())
    assert copy.count == 2 and torch.equal(copy.images, pool.images)
    assert ImagePool(0).query(first, rng) is first           # size 0 disables it


def test_loss_watch_names_the_first_non_finite_step_and_term():
    watch = LossWatch()
    watch.record(1, {"adv_g": torch.tensor(1.0), "cycle_x": torch.tensor(3.0)})
    watch.record(2, {"adv_g": torch.tensor(2.0), "cycle_x": torch.tensor(5.0)})
    assert watch.flush() == {"adv_g": 1.5, "cycle_x": 4.0}
    watch.record(3, {"adv_g": torch.tensor(1.0), "cycle_x": torch.tensor(float("inf"))})
    watch.record(4, {"adv_g": torch.tensor(float("nan")), "cycle_x": torch.tensor(1.0)})
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 3: cycle_x = inf"):
        watch.flush()


def test_a_nan_input_is_caught_at_its_step():
    state, rules = setup()
    watch = LossWatch()
    for step in range(3):
        x, y = images(step)
        if step == 2:
            y[..., 0, 0] = float("nan")
        watch.record(step + 1, train_step(state, x, y, False, rules))
    with pytest.raises(NonFiniteLoss, match="at step 3: adv_g = nan"):
        watch.flush()


def run(state, rules, steps):
    for step in range(state.step, steps):
        train_step(state, *images(step), step % 3 == 0, rules)


@pytest.mark.numerics
def test_resume_from_a_checkpoint_is_bit_exact(tmp_path):
    total = 8
    straight, rules = setup(total=total, image_pool=2)   # the pool fills and swaps within 8 steps
    run(straight, rules, total)

    first, _ = setup(total=total, image_pool=2)
    run(first, rules, total // 2)
    first.extra["train_s"] = 1.5
    save_checkpoint(first, tmp_path / "checkpoint")
    assert has_checkpoint(tmp_path / "checkpoint")
    assert [p.name for p in (tmp_path / "checkpoint").iterdir()] == ["state.pt"]  # no temp left

    resumed, _ = setup(total=total, image_pool=2)
    load_checkpoint(resumed, tmp_path / "checkpoint")
    assert resumed.step == total // 2 and resumed.extra == {"train_s": 1.5}
    run(resumed, rules, total)
    for name in ("g", "f", "d_y", "d_x"):
        for p, q in zip(getattr(straight, name).parameters(), getattr(resumed, name).parameters()):
            assert torch.equal(p, q), name
    assert torch.equal(straight.pool_y.images, resumed.pool_y.images)
    assert torch.equal(straight.rng.get_state(), resumed.rng.get_state())
    assert straight.opt_disc.param_groups[0]["lr"] == resumed.opt_disc.param_groups[0]["lr"]


def test_a_fresh_state_is_a_function_of_the_seed():
    a, _ = setup(seed=7)
    b, _ = setup(seed=7)
    c, _ = setup(seed=8)
    assert torch.equal(a.g[1].weight, b.g[1].weight)
    assert not torch.equal(a.g[1].weight, c.g[1].weight)
    assert not torch.equal(a.g[1].weight, a.f[1].weight)      # G and F start differently


def test_bf16_autocast_keeps_terms_finite_and_float32():
    state, rules = setup(precision="bf16")
    terms = train_step(state, *images(0), True, rules)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in terms.values())
    assert state.pool_y.images.dtype == torch.bfloat16        # fakes are kept as produced
    assert all(p.dtype == torch.float32 for p in state.g.parameters())   # master weights


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_step_with_fused_adam(precision):
    cuda = torch.device("cuda")
    cfg = TrialConfig(**(TINY | {"precision": precision}))
    state, rules = build_state(cfg, cuda, 10), StepRules.from_config(cfg, cuda)
    assert state.opt_gen.param_groups[0]["fused"] and state.opt_disc.param_groups[0]["fused"]
    watch = LossWatch()
    for step in range(3):
        x, y = (t.to(cuda) for t in images(step))
        watch.record(step + 1, train_step(state, x, y, step == 0, rules))
    means = watch.flush()
    assert {"paired_x", "cycle_x", "d_y"} <= set(means)
    assert all(v == v and abs(v) < 1e4 for v in means.values())
