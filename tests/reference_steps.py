"""Hand transcriptions of three reference training steps, written the way their authors' code
runs them (one forward per image, one discriminator pass per image, PyTorch's BCE / MSE / L1
modules), for the fidelity tests to compare fewpair's step against parameter by parameter.

  cyclegan_step   pytorch-CycleGAN-and-pix2pix `CycleGANModel.optimize_parameters`: G first,
                  then D on pooled fakes; LSGAN; identity weight = lambda_idt * lambda_A.
  released_step   the paper's released `HybridModel.optimize_parameters`: reconstructions
                  under no_grad, D first, rel_bce, C(real) of the generators' term from a pool
                  of past real images, paired L1 on aligned steps.
  pix2pix_step    `Pix2PixModel.optimize_parameters`: D first on concat(A, B) vs concat(A,
                  G(A)), vanilla GAN with the 0.5 factor, L1 x lambda_L1.

Networks are named as the references name them: G_A: A -> B (fewpair's G), G_B: B -> A (F),
D_A judges B-domain images (D_Y), D_B judges A-domain images (D_X). Pools are not modelled:
the tests run fewer steps than any pool holds, so every query returns its input.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

ADAM = dict(lr=2e-4, betas=(0.5, 0.999))


class Reference:
    """The four networks and two Adam optimisers of a reference model."""

    def __init__(self, g_a: nn.Module, g_b: nn.Module, d_a: nn.Module, d_b: nn.Module):
        self.g_a, self.g_b, self.d_a, self.d_b = g_a, g_b, d_a, d_b
        self.opt_g = torch.optim.Adam(itertools.chain(g_a.parameters(), g_b.parameters()), **ADAM)
        self.opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()), **ADAM)

    def set_requires_grad(self, flag: bool) -> None:
        for p in itertools.chain(self.d_a.parameters(), self.d_b.parameters()):
            p.requires_grad_(flag)


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return nn.BCEWithLogitsLoss()(logits, target)


def _mse(pred: torch.Tensor, real: bool) -> torch.Tensor:
    return nn.MSELoss()(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))


def cyclegan_step(ref: Reference, real_a, real_b, lambda_a=10.0, lambda_b=10.0, lambda_idt=0.5):
    """Upstream CycleGAN, LSGAN. Returns loss_G."""
    l1 = nn.L1Loss()
    fake_b = ref.g_a(real_a)
    rec_a = ref.g_b(fake_b)
    fake_a = ref.g_b(real_b)
    rec_b = ref.g_a(fake_a)
    ref.set_requires_grad(False)
    ref.opt_g.zero_grad()
    loss_idt_a = l1(ref.g_a(real_b), real_b) * lambda_b * lambda_idt
    loss_idt_b = l1(ref.g_b(real_a), real_a) * lambda_a * lambda_idt
    loss_g = (_mse(ref.d_a(fake_b), True) + _mse(ref.d_b(fake_a), True)
              + l1(rec_a, real_a) * lambda_a + l1(rec_b, real_b) * lambda_b
              + loss_idt_a + loss_idt_b)
    loss_g.backward()
    ref.opt_g.step()
    ref.set_requires_grad(True)
    ref.opt_d.zero_grad()
    for net, real, fake in ((ref.d_a, real_b, fake_b), (ref.d_b, real_a, fake_a)):
        loss_d = (_mse(net(real), True) + _mse(net(fake.detach()), False)) * 0.5
        loss_d.backward()
    ref.opt_d.step()
    return loss_g


def released_step(ref: Reference, real_a, real_b, aligned: bool, lambda_l1=150.0,
                  lambda_cycle=10.0, lambda_identity=10.0):
    """The released hybrid step (rel_bce). Returns loss_G."""
    l1 = nn.L1Loss()
    fake_b, same_b = ref.g_a(real_a), ref.g_a(real_b)
    fake_a, same_a = ref.g_b(real_b), ref.g_b(real_a)
    with torch.no_grad():
        rec_a, rec_b = ref.g_b(fake_b), ref.g_a(fake_a)
    ref.set_requires_grad(True)
    ref.opt_d.zero_grad()
    for net, real, fake in ((ref.d_a, real_b, fake_b), (ref.d_b, real_a, fake_a)):
        loss_d = _bce(net(real) - net(fake.detach()), True)
        loss_d.backward()
    ref.opt_d.step()
    ref.set_requires_grad(False)
    ref.opt_g.zero_grad()
    pooled_b, pooled_a = real_b, real_a   # the real pools, still filling: the image itself
    loss_g = (_bce(ref.d_a(fake_b) - ref.d_a(pooled_b), True)
              + _bce(ref.d_b(fake_a) - ref.d_b(pooled_a), True)
              + l1(same_a, real_a) * lambda_identity + l1(same_b, real_b) * lambda_identity
              + l1(rec_a, real_a) * lambda_cycle + l1(rec_b, real_b) * lambda_cycle)
    if aligned:
        loss_g = loss_g + l1(fake_b, real_b) * lambda_l1 + l1(fake_a, real_a) * lambda_l1
    loss_g.backward()
    ref.opt_g.step()
    return loss_g


def pix2pix_step(g: nn.Module, d: nn.Module, opt_g, opt_d, real_a, real_b, lambda_l1=100.0):
    """pix2pix A -> B. Returns loss_G."""
    fake_b = g(real_a)
    for p in d.parameters():
        p.requires_grad_(True)
    opt_d.zero_grad()
    fake_ab = torch.cat((real_a, fake_b), 1)
    loss_d_fake = _bce(d(fake_ab.detach()), False)
    loss_d_real = _bce(d(torch.cat((real_a, real_b), 1)), True)
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    opt_d.step()
    for p in d.parameters():
        p.requires_grad_(False)
    opt_g.zero_grad()
    loss_g = _bce(d(fake_ab), True) + nn.L1Loss()(fake_b, real_b) * lambda_l1
    loss_g.backward()
    opt_g.step()
    return loss_g
