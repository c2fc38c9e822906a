"""Pure loss functions, each returning a dict of named scalar terms (no state anywhere).

Paper symbols: x ~ X (photos), y ~ Y (labels); G: X -> Y, F: Y -> X; C_Y, C_X are the raw
(pre-sigmoid) outputs of D_Y, D_X, PatchGAN maps of shape [N, 1, h, w]. Term names:

  adv_g, adv_f        adversarial, G against D_Y and F against D_X        (weight lambda_adv)
  cycle_x, cycle_y    ||F(G(x)) - x||_1, ||G(F(y)) - y||_1                 (weight lambda_cycle)
  idt_y, idt_x        ||G(y) - y||_1, ||F(x) - x||_1                       (weight lambda_identity)
  paired_y, paired_x  ||G(x) - y||_1, ||F(y) - x||_1, paired samples only  (weight lambda_paired)
  d_y, d_x            discriminator losses of D_Y and D_X

L1 terms are means over pixels and channels of images in [-1, 1], as in CycleGAN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as nnf

from trainer.core.config import LAMBDA_FIELDS
from trainer.core.vocabulary import GAN_LOSSES   # declared there, filled here

Tensor = torch.Tensor


class GanLoss(NamedTuple):
    """d(real, fake) -> discriminator loss; g(real, fake) -> generator loss. Raw logits in."""
    d: Callable[[Tensor, Tensor], Tensor]
    g: Callable[[Tensor, Tensor], Tensor]


def gan_loss(name: str) -> GanLoss:
    """The registered adversarial loss `name`; an unknown name lists the valid ones."""
    return GAN_LOSSES[name]()


def _bce_ones(logits: Tensor) -> Tensor:
    return nnf.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _bce_zeros(logits: Tensor) -> Tensor:
    return nnf.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


@GAN_LOSSES.register("rsgan")
def _rsgan() -> GanLoss:
    """Relativistic standard GAN, as released: L_D = BCE(C(r) - C(f), 1), L_G = BCE(C(f) - C(r), 1).
    Differences are taken patch by patch."""
    return GanLoss(d=lambda real, fake: _bce_ones(real - fake),
                   g=lambda real, fake: _bce_ones(fake - real))


def _rasgan_loss(real: Tensor, fake: Tensor) -> Tensor:
    """(BCE(C(r) - E[C(f)], 1) + BCE(C(f) - E[C(r)], 0)) / 2; E over every patch of the batch."""
    return 0.5 * (_bce_ones(real - fake.mean()) + _bce_zeros(fake - real.mean()))


@GAN_LOSSES.register("rasgan")
def _rasgan() -> GanLoss:
    """Relativistic average standard GAN (Jolicoeur-Martineau 2018); G swaps real and fake."""
    return GanLoss(d=_rasgan_loss, g=lambda real, fake: _rasgan_loss(fake, real))


def _ralsgan_loss(real: Tensor, fake: Tensor) -> Tensor:
    """(E[(C(r) - E[C(f)] - 1)^2] + E[(C(f) - E[C(r)] + 1)^2]) / 2."""
    return 0.5 * (((real - fake.mean() - 1) ** 2).mean() + ((fake - real.mean() + 1) ** 2).mean())


@GAN_LOSSES.register("ralsgan")
def _ralsgan() -> GanLoss:
    """Relativistic average least-squares GAN; G swaps real and fake."""
    return GanLoss(d=_ralsgan_loss, g=lambda real, fake: _ralsgan_loss(fake, real))


@GAN_LOSSES.register("vanilla")
def _vanilla() -> GanLoss:
    """pix2pix's GAN: L_D = (BCE(C(r), 1) + BCE(C(f), 0)) / 2 (its 0.5 slows D against G),
    L_G = BCE(C(f), 1); C(r) does not enter G's loss."""
    return GanLoss(d=lambda real, fake: 0.5 * (_bce_ones(real) + _bce_zeros(fake)),
                   g=lambda real, fake: _bce_ones(fake))


@GAN_LOSSES.register("lsgan")
def _lsgan() -> GanLoss:
    """Least squares (CycleGAN's default): L_D = (E[(C(r)-1)^2] + E[C(f)^2]) / 2, L_G = E[(C(f)-1)^2]."""
    return GanLoss(d=lambda real, fake: 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean()),
                   g=lambda real, fake: ((fake - 1) ** 2).mean())


# ---------------------------------------------------------------------------------------------
# Generator-side terms. All images [N, 3, H, W] in [-1, 1]; logits [N, 1, h, w].

def adversarial_terms(gan: GanLoss, real_y: Tensor, fake_y: Tensor,
                      real_x: Tensor, fake_x: Tensor) -> dict[str, Tensor]:
    """G against D_Y (logits of y and G(x)), F against D_X (logits of x and F(y))."""
    return {"adv_g": gan.g(real_y, fake_y), "adv_f": gan.g(real_x, fake_x)}


def cycle_terms(x: Tensor, rec_x: Tensor, y: Tensor, rec_y: Tensor) -> dict[str, Tensor]:
    """rec_x = F(G(x)), rec_y = G(F(y)); gradients flow into both generators."""
    return {"cycle_x": nnf.l1_loss(rec_x, x), "cycle_y": nnf.l1_loss(rec_y, y)}


def identity_terms(x: Tensor, idt_x: Tensor, y: Tensor, idt_y: Tensor) -> dict[str, Tensor]:
    """idt_y = G(y), idt_x = F(x)."""
    return {"idt_y": nnf.l1_loss(idt_y, y), "idt_x": nnf.l1_loss(idt_x, x)}


def paired_terms(x: Tensor, fake_x: Tensor, y: Tensor, fake_y: Tensor) -> dict[str, Tensor]:
    """Only for an aligned pair (x, y): fake_y = G(x) against y, fake_x = F(y) against x."""
    return {"paired_y": nnf.l1_loss(fake_y, y), "paired_x": nnf.l1_loss(fake_x, x)}


def discriminator_terms(gan: GanLoss, real_y: Tensor, fake_y: Tensor,
                        real_x: Tensor, fake_x: Tensor) -> dict[str, Tensor]:
    """D_Y on (y, pooled G(x)) logits and D_X on (x, pooled F(y)) logits; fakes are detached."""
    return {"d_y": gan.d(real_y, fake_y), "d_x": gan.d(real_x, fake_x)}


# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LossWeights:
    """The lambdas of the total objective: the paper's values 1 / 10 / 10 / 150, assigned to the
    terms as the released code's defaults do (the text lost the symbols)."""
    adv: float = 1.0
    cycle: float = 10.0
    identity: float = 10.0
    paired: float = 150.0

    @classmethod
    def from_config(cls, cfg) -> "LossWeights":
        return cls(**{term: getattr(cfg, name) for term, name in LAMBDA_FIELDS.items()})

    def of(self, term: str) -> float:
        """The weight of a named generator term, by its prefix (adv_, cycle_, idt_, paired_)."""
        prefix = term.split("_", 1)[0]
        weight = {"adv": self.adv, "cycle": self.cycle, "idt": self.identity,
                  "paired": self.paired}.get(prefix)
        if weight is None:
            raise ValueError(f"loss term {term!r} has no weight (prefixes: adv, cycle, idt, paired)")
        return weight


def weighted_total(terms: dict[str, Tensor], weights: LossWeights) -> Tensor:
    """sum_term lambda(term) * term — the paper's total generator objective (6)."""
    # at least float32 (bf16 terms sum in fp32), float64 stays float64 (exactness tests)
    return torch.stack([weights.of(name) * value.to(torch.promote_types(value.dtype, torch.float32))
                        for name, value in terms.items()]).sum()
