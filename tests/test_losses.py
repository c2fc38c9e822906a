"""Losses: hand-computed values of every GAN loss, gradient flow of the cycle term, weights."""
from __future__ import annotations

import math

import pytest
import torch

from trainer.step import losses
from trainer.core.config import TrialConfig
from trainer.nets.networks import build_generator


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))  # BCE(z, 1) = softplus(-z); BCE(z, 0) = softplus(z)


def patch(*values: float) -> torch.Tensor:
    return torch.tensor(values).reshape(1, 1, 1, len(values))


def test_rsgan_matches_the_released_formula():
    gan = losses.gan_loss("rsgan")
    real, fake = patch(2.0, 1.0), patch(0.0, 1.0)
    # L_D = mean BCE(C(r) - C(f), 1) = mean softplus(-(r - f)); differences 2 and 0
    assert gan.d(real, fake).item() == pytest.approx((softplus(-2) + softplus(0)) / 2, abs=1e-6)
    assert gan.g(real, fake).item() == pytest.approx((softplus(2) + softplus(0)) / 2, abs=1e-6)


def test_rasgan_compares_against_the_other_side_mean():
    gan = losses.gan_loss("rasgan")
    real, fake = patch(1.0, 3.0), patch(0.0, 0.0)  # E[C(r)] = 2, E[C(f)] = 0
    d = 0.5 * ((softplus(-1) + softplus(-3)) / 2 + softplus(0 - 2))
    g = 0.5 * (softplus(-(0 - 2)) + (softplus(1) + softplus(3)) / 2)
    assert gan.d(real, fake).item() == pytest.approx(d, abs=1e-6)
    assert gan.g(real, fake).item() == pytest.approx(g, abs=1e-6)


def test_ralsgan_and_lsgan_values():
    ral = losses.gan_loss("ralsgan")
    real, fake = patch(1.0, 3.0), patch(0.0, 0.0)
    # D: ((1-0-1)^2 + (3-0-1)^2)/2 = 2 and (0-2+1)^2 = 1  -> (2 + 1) / 2
    assert ral.d(real, fake).item() == pytest.approx(1.5)
    # G: (0-2-1)^2 = 9 and ((1+1)^2 + (3+1)^2)/2 = 10 -> (9 + 10) / 2
    assert ral.g(real, fake).item() == pytest.approx(9.5)
    ls = losses.gan_loss("lsgan")
    assert ls.d(patch(1.0), patch(0.0)).item() == 0.0
    assert ls.g(patch(1.0), patch(0.0)).item() == 1.0
    assert ls.d(patch(0.0), patch(1.0)).item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["rsgan", "rasgan", "ralsgan"])
def test_relativistic_losses_ignore_a_common_shift(name):
    gan = losses.gan_loss(name)
    real, fake = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    for side in (gan.d, gan.g):
        assert side(real + 5, fake + 5).item() == pytest.approx(side(real, fake).item(), abs=1e-5)


@pytest.mark.parametrize("name", sorted(losses.GAN_LOSSES))
def test_discriminator_loss_falls_as_it_separates(name):
    gan = losses.gan_loss(name)
    confused = gan.d(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    real, fake = torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)
    assert gan.d(real, fake) < confused
    assert gan.g(real, fake - 1) > gan.g(torch.zeros_like(real), torch.zeros_like(fake))


def test_unknown_gan_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown gan_loss 'wgan' .did you mean 'rsgan'.. .valid: lsgan, ralsgan, "
                                         "rasgan, rsgan, vanilla"):
        losses.gan_loss("wgan")


def test_cycle_loss_sends_gradients_into_both_generators():
    init = torch.Generator().manual_seed(0)
    g, f = (build_generator("resnet", init, ngf=8, n_blocks=2) for _ in range(2))
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    terms = losses.cycle_terms(x, f(g(x)), y, g(f(y)))
    terms["cycle_x"].backward()                     # F(G(x)) alone reaches G and F
    for net in (g, f):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_l1_terms_are_mean_absolute_differences():
    x, y = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    half = torch.full((1, 3, 4, 4), 0.5)
    assert losses.paired_terms(x, half, y, half) == {"paired_y": 0.5, "paired_x": 0.5}
    assert losses.identity_terms(x, y, y, x) == {"idt_y": 1.0, "idt_x": 1.0}
    assert losses.cycle_terms(x, x, y, half) == {"cycle_x": 0.0, "cycle_y": 0.5}


def test_weighted_total_uses_the_papers_lambdas():
    weights = losses.LossWeights.from_config(TrialConfig())
    assert (weights.adv, weights.cycle, weights.identity, weights.paired) == (1, 10, 10, 150)
    one = torch.tensor(1.0)
    terms = {"adv_g": one, "adv_f": one, "cycle_x": one, "idt_y": one, "paired_x": one * 2}
    assert losses.weighted_total(terms, weights).item() == 1 + 1 + 10 + 10 + 300
    with pytest.raises(ValueError, match="loss term 'style_x' has no weight"):
        losses.weighted_total({"style_x": one}, weights)
