"""The paper's step (trainer.step.paper) of a trial alone, K = 1: named finite terms per step
kind, every network learns, the image pool, the lr curve, the loss watch, and bit-exact
checkpoint/resume (random tensors; the real-data loop is in test_train.py)."""
from __future__ import annotations

import pytest
import torch

from trainer.core.config import TrialConfig
from trainer.step.build import make_step
from trainer.step.checkpoint import has_checkpoint, load_checkpoint, write_checkpoint
from trainer.step.image_pool import ImagePool
from trainer.step.paper import PaperStep
from trainer.step.state import StepRules, build_state
from trainer.step.watch import LossWatch, NonFiniteLoss

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


def setup(total: int = 10, checkpoint=None, **changes):
    """(state, step) of a fresh trial, resumed from `checkpoint` when given."""
    cfg = TrialConfig(**(TINY | changes))
    state = build_state(cfg, CPU, total)
    if checkpoint:
        load_checkpoint(state, checkpoint)
    return state, make_step([state], [StepRules.from_config(cfg, CPU)])


def train_step(step, x, y, paired: bool) -> dict[str, torch.Tensor]:
    return step(x, y, [paired])


@pytest.mark.parametrize("mode,paired,expected", [
    ("hybrid", True, ADV | CYCLE_IDT | PAIRED),   # paired steps carry all four terms
    ("hybrid", False, ADV | CYCLE_IDT),           # unpaired steps: adv + cycle + identity
    ("unpaired", False, ADV | CYCLE_IDT),
    ("paired", True, ADV | PAIRED),               # pix2pix-like: adversarial + paired L1
])
def test_each_step_kind_names_its_terms_and_they_are_finite(mode, paired, expected):
    budget = 0 if mode == "unpaired" else 5
    state, step = setup(mode=mode, paired_budget=budget)
    assert isinstance(step, PaperStep) and step.k == 1
    terms = train_step(step, *images(0), paired)
    assert set(terms) == expected
    assert all(torch.isfinite(v).all() and v.shape == (1,) for v in terms.values())
    assert state.step == 1


@pytest.mark.parametrize("gan_loss", ["rsgan", "rasgan", "ralsgan", "lsgan"])
def test_every_network_moves_under_every_gan_loss(gan_loss):
    state, step = setup(gan_loss=gan_loss)
    nets = (state.g, state.f, state.d_y, state.d_x)
    before = [[p.clone() for p in net.parameters()] for net in nets]
    terms = train_step(step, *images(0), True)
    assert all(torch.isfinite(v).all() for v in terms.values())
    for net, old in zip(nets, before):   # (biases feeding instance norm get no gradient)
        assert all(not torch.equal(p, q) for p, q in zip(net.parameters(), old) if p.ndim == 4)
        assert all(p.requires_grad for p in net.parameters())


def test_zero_adversarial_weight_skips_the_discriminators():
    state, step = setup(lambda_adv=0.0)
    before = [p.clone() for p in state.d_y.parameters()]
    terms = train_step(step, *images(0), True)
    assert set(terms) == CYCLE_IDT | PAIRED | {"g_total"}
    assert all(torch.equal(p, q) for p, q in zip(state.d_y.parameters(), before))
    # g_total is exactly 10*cycle + 10*identity + 150*paired
    expected = sum(w * terms[n].item() for n, w in [("cycle_x", 10), ("cycle_y", 10), ("idt_x", 10),
                                                     ("idt_y", 10), ("paired_x", 150), ("paired_y", 150)])
    assert terms["g_total"].item() == pytest.approx(expected, rel=1e-5)


def test_lr_is_constant_for_half_then_falls_linearly_to_zero():
    state, step = setup(total=8)
    lrs = []
    for s in range(8):
        lrs.append(step.opt_gen.param_groups[0]["lr"])
        train_step(step, *images(s), False)
    assert lrs == pytest.approx([2e-4] * 5 + [1.5e-4, 1e-4, 0.5e-4])
    assert step.opt_gen.param_groups[0]["lr"] == 0.0
    assert step.opt_disc.param_groups[0]["lr"] == 0.0


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
    watch.record(1, {"adv_g": torch.tensor([1.0]), "cycle_x": torch.tensor([3.0])}, [False])
    watch.record(2, {"adv_g": torch.tensor([2.0]), "cycle_x": torch.tensor([5.0])}, [False])
    assert watch.flush() == {"adv_g": 1.5, "cycle_x": 4.0}
    watch.record(3, {"adv_g": torch.tensor([1.0]), "cycle_x": torch.tensor([float("inf")])},
                 [False])
    watch.record(4, {"adv_g": torch.tensor([float("nan")]), "cycle_x": torch.tensor([1.0])},
                 [False])
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 3: cycle_x = inf"):
        watch.flush()


def test_a_nan_input_is_caught_at_its_step():
    state, step = setup()
    watch = LossWatch()
    for s in range(3):
        x, y = images(s)
        if s == 2:
            y[..., 0, 0] = float("nan")
        watch.record(s + 1, train_step(step, x, y, False), [False])
    with pytest.raises(NonFiniteLoss, match="at step 3: adv_g = nan"):
        watch.flush()


def run(state, step, steps):
    for s in range(state.step, steps):
        train_step(step, *images(s), s % 3 == 0)


@pytest.mark.numerics
def test_resume_from_a_checkpoint_is_bit_exact(tmp_path):
    total = 8
    straight, straight_step = setup(total=total, image_pool=2)   # the pool fills and swaps
    run(straight, straight_step, total)                          # within 8 steps

    first, first_step = setup(total=total, image_pool=2)
    run(first, first_step, total // 2)
    first.extra["train_s"] = 1.5
    write_checkpoint(first_step.payload(0), tmp_path / "checkpoint")
    assert has_checkpoint(tmp_path / "checkpoint")
    assert [p.name for p in (tmp_path / "checkpoint").iterdir()] == ["state.pt"]  # no temp left

    resumed, resumed_step = setup(total=total, image_pool=2, checkpoint=tmp_path / "checkpoint")
    assert resumed.step == total // 2 and resumed.extra == {"train_s": 1.5}
    run(resumed, resumed_step, total)
    for name in ("g", "f", "d_y", "d_x"):
        for p, q in zip(getattr(straight, name).parameters(), getattr(resumed, name).parameters()):
            assert torch.equal(p, q), name
    assert torch.equal(straight.pool_y.images, resumed.pool_y.images)
    assert torch.equal(straight.rng.get_state(), resumed.rng.get_state())
    assert straight_step.opt_disc.param_groups[0]["lr"] == \
        resumed_step.opt_disc.param_groups[0]["lr"]
    for a, b in zip(straight_step.opt_gen.state.values(), resumed_step.opt_gen.state.values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_a_fresh_state_is_a_function_of_the_seed():
    a, _ = setup(seed=7)
    b, _ = setup(seed=7)
    c, _ = setup(seed=8)
    assert torch.equal(a.g[1].weight, b.g[1].weight)
    assert not torch.equal(a.g[1].weight, c.g[1].weight)
    assert not torch.equal(a.g[1].weight, a.f[1].weight)      # G and F start differently


def test_bf16_autocast_keeps_terms_finite_and_float32():
    state, step = setup(precision="bf16")
    terms = train_step(step, *images(0), True)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in terms.values())
    assert state.pool_y.images.dtype == torch.bfloat16        # fakes are kept as produced
    assert all(p.dtype == torch.float32 for p in state.g.parameters())   # master weights


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_step_with_fused_adam(precision):
    cuda = torch.device("cuda")
    cfg = TrialConfig(**(TINY | {"precision": precision}))
    state = build_state(cfg, cuda, 10)
    step = make_step([state], [StepRules.from_config(cfg, cuda)], graphs=False)
    assert step.opt_gen.param_groups[0]["fused"] and step.opt_disc.param_groups[0]["fused"]
    watch = LossWatch()
    for s in range(3):
        x, y = (t.to(cuda) for t in images(s))
        watch.record(s + 1, train_step(step, x, y, s == 0), [s == 0])
    means = watch.flush()
    assert {"paired_x", "cycle_x", "d_y"} <= set(means)
    assert all(v == v and abs(v) < 1e4 for v in means.values())
