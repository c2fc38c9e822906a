"""Generator and discriminator factories (CycleGAN's and pix2pix's reference architectures), by
registry, and the architectures a trial chooses by `cfg.arch`.

Paper symbols: G: X -> Y and F: Y -> X are the generators; D_Y judges G's outputs, D_X judges
F's. X = domain A (photos / aerials), Y = domain B (label colours / maps).
  arch "resnet"   CycleGAN's ResNet generator (ngf 64, 9 blocks: 11,378,179 parameters) and
                  70x70 PatchGAN (ndf 64, 3 layers: 2,764,737), instance norm — the same as the
                  reference CycleGAN code.
  arch "pix2pix"  pix2pix's U-Net (ngf 64 at 256x256: 54,414,019 parameters) and a 70x70
                  PatchGAN conditioned on the input (concat(x, y), 6 channels: 2,769,601),
                  batch norm — the counts pix2pix's published training log prints.

Images are float `[N, 3, H, W]` in `[-1, 1]` everywhere; H and W multiples of 4 for the ResNet
generator (two stride-2 stages), 2^depth for the U-Net. Instance norm has no running stats, so a
batch of N gives the same per-sample result as N batches of one; batch norm here keeps no
running stats either (pix2pix trains and tests at batch 1 on each image's own statistics).
Which sizes each architecture accepts: trainer.nets.sizes (arithmetic over these layers, no torch).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from trainer.core.registry import Registry
from trainer.core.vocabulary import architecture
from trainer.nets.sizes import N_DOWN, PATCHGAN_LAYERS, UNET_MIN_DEPTH

INIT_STD = 0.02  # N(0, 0.02) weight init, as pix2pix / CycleGAN

# name -> a 3-5 line factory(**kwargs) -> nn.Module; an architecture (cfg.arch) names one of each
GENERATORS = Registry("generator")
DISCRIMINATORS = Registry("discriminator")


def build_generator(name: str = "resnet", generator: torch.Generator | None = None,
                    **kwargs) -> nn.Module:
    """A registered generator, N(0, 0.02)-initialised from `generator` (CPU). kwargs: ngf, n_blocks."""
    return init_weights(GENERATORS[name](**kwargs), generator=generator)


def build_discriminator(name: str = "patchgan", generator: torch.Generator | None = None,
                        **kwargs) -> nn.Module:
    """A registered discriminator, N(0, 0.02)-initialised from `generator`. kwargs: ndf, n_layers."""
    return init_weights(DISCRIMINATORS[name](**kwargs), generator=generator)


def init_weights(net: nn.Module, std: float = INIT_STD,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Conv weights ~ N(0, std), biases 0; batch-norm scales ~ N(1, std), shifts 0 (pix2pix's
    init; instance norm has no affine parameters here)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)):
            mean = 1.0 if isinstance(module, nn.BatchNorm2d) else 0.0
            nn.init.normal_(module.weight, mean, std, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------------------------------------
# ResNet generator (Johnson et al., as in CycleGAN's `resnet_9blocks`)

class ResnetBlock(nn.Module):
    """x + conv3(relu(norm(conv3(x)))) with reflection padding; shape-preserving."""

    def __init__(self, dim: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), nn.InstanceNorm2d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def resnet_generator(ngf: int = 64, n_blocks: int = 9, channels: int = 3) -> nn.Sequential:
    """c7s1-ngf, d(2ngf), d(4ngf), n_blocks x R(4ngf), u(2ngf), u(ngf), c7s1-3, tanh.

    [N, 3, H, W] in [-1, 1] -> [N, 3, H, W] in [-1, 1].
    """
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(channels, ngf, 7),
                               nn.InstanceNorm2d(ngf), nn.ReLU(True)]
    for i in range(N_DOWN):                                   # [N, ngf*2^i, H/2^i, W/2^i] ->
        width = ngf * 2 ** i
        layers += [nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
                   nn.InstanceNorm2d(width * 2), nn.ReLU(True)]
    layers += [ResnetBlock(ngf * 2 ** N_DOWN) for _ in range(n_blocks)]  # [N, 4ngf, H/4, W/4]
    for i in range(N_DOWN, 0, -1):
        width = ngf * 2 ** i
        layers += [nn.ConvTranspose2d(width, width // 2, 3, stride=2, padding=1, output_padding=1),
                   nn.InstanceNorm2d(width // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, channels, 7), nn.Tanh()]
    return nn.Sequential(*layers)


@GENERATORS.register("resnet")
def _resnet(ngf: int = 64, n_blocks: int = 9) -> nn.Module:
    return resnet_generator(ngf=ngf, n_blocks=n_blocks)


# ---------------------------------------------------------------------------------------------
# PatchGAN discriminator (pix2pix's NLayerDiscriminator; n_layers 3 = 70x70 receptive field)

def patchgan(ndf: int = 64, n_layers: int = PATCHGAN_LAYERS, channels: int = 3,
             norm: Callable[[int], nn.Module] = nn.InstanceNorm2d) -> nn.Sequential:
    """4x4 convs, strides 2 (n_layers times) then 1, 1; LeakyReLU 0.2; `norm` after inner convs.

    [N, channels, H, W] -> raw logits C(.) of shape [N, 1, H/8 - 2, W/8 - 2] (n_layers 3).
    """
    layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1),
                               nn.LeakyReLU(0.2, True)]
    width = ndf
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1
        out = ndf * min(2 ** i, 8)
        layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1),
                   norm(out), nn.LeakyReLU(0.2, True)]
        width = out
    layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)


@DISCRIMINATORS.register("patchgan")
def _patchgan(ndf: int = 64, n_layers: int = PATCHGAN_LAYERS) -> nn.Module:
    return patchgan(ndf=ndf, n_layers=n_layers)


def _batch_norm(width: int) -> nn.Module:
    """Batch norm on the batch's own statistics, train and test alike (pix2pix at batch 1)."""
    return nn.BatchNorm2d(width, track_running_stats=False)


@DISCRIMINATORS.register("patchgan-conditional")
def _patchgan_conditional(ndf: int = 64, n_layers: int = PATCHGAN_LAYERS) -> nn.Module:
    """pix2pix's D: judges concat(input, output) — [N, 6, H, W] — with batch norm."""
    return patchgan(ndf=ndf, n_layers=n_layers, channels=6, norm=_batch_norm)


# ---------------------------------------------------------------------------------------------
# U-Net generator (pix2pix's `unet_256`: 8 stride-2 stages down to 1x1 at 256x256)

class UnetBlock(nn.Module):
    """One level: down (LeakyReLU, 4x4 stride-2 conv, BN), the inner levels, up (ReLU, 4x4
    stride-2 transposed conv, BN[, dropout 0.5]); its input rides a skip connection around it:
    [N, outer, H, W] -> [N, 2 outer, H, W] (the outermost level: -> [N, 3, H, W], tanh)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None = None, *,
                 in_channels: int | None = None, outermost: bool = False, dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        down_in = in_channels or outer
        up_in = inner if sub is None else 2 * inner
        if outermost:   # the stem conv keeps its bias, as in pix2pix's published parameter count
            layers = [nn.Conv2d(down_in, inner, 4, stride=2, padding=1), sub, nn.ReLU(True),
                      nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1), nn.Tanh()]
        else:           # convs feeding batch norm have no bias
            down = [nn.LeakyReLU(0.2, True), nn.Conv2d(down_in, inner, 4, 2, 1, bias=False)]
            down += [] if sub is None else [_batch_norm(inner), sub]   # innermost: no down-norm
            up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=False),
                  _batch_norm(outer)]
            layers = down + up + ([nn.Dropout(0.5)] if dropout else [])
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet_generator(ngf: int = 64, depth: int = 8, channels: int = 3) -> UnetBlock:
    """`depth` stride-2 stages (H, W multiples of 2^depth; 8 for 256x256): the innermost at
    8 ngf, depth - 5 more at 8 ngf with dropout 0.5 (three at depth 8), then 8 -> 4 -> 2 -> 1 ngf
    and the outermost. [N, 3, H, W] in [-1, 1] -> [N, 3, H, W] in [-1, 1]."""
    if depth < UNET_MIN_DEPTH:
        raise ValueError(f"U-Net depth {depth} < {UNET_MIN_DEPTH}: image sizes from "
                         f"{2 ** UNET_MIN_DEPTH} pixels up")
    block = UnetBlock(8 * ngf, 8 * ngf)
    for _ in range(depth - UNET_MIN_DEPTH):
        block = UnetBlock(8 * ngf, 8 * ngf, block, dropout=True)
    for mult in (4, 2, 1):
        block = UnetBlock(mult * ngf, 2 * mult * ngf, block)
    return UnetBlock(channels, ngf, block, in_channels=channels, outermost=True)


@GENERATORS.register("unet")
def _unet(ngf: int = 64, depth: int = 8) -> nn.Module:
    return unet_generator(ngf=ngf, depth=depth)


def generator_for(cfg, generator: torch.Generator) -> nn.Module:
    """cfg.arch's generator, initialised from `generator` (CPU)."""
    arch = architecture(cfg.arch)
    return build_generator(arch.generator, generator, **arch.generator_kwargs(cfg))


def discriminator_for(cfg, generator: torch.Generator) -> nn.Module:
    """cfg.arch's discriminator, initialised from `generator` (CPU)."""
    return build_discriminator(architecture(cfg.arch).discriminator, generator, ndf=cfg.ndf)
