"""Generator and discriminator factories (CycleGAN's reference architectures), by registry.

Paper symbols: G: X -> Y and F: Y -> X are ResNet generators; D_Y judges G's outputs, D_X judges
F's. X = domain A (photos / aerials), Y = domain B (label colours / maps). At paper scale
(ngf 64, 9 blocks) a generator has 11,378,179 parameters; a 70x70 PatchGAN (ndf 64, 3 layers)
has 2,764,737 — the same as the reference CycleGAN code.

Images are float `[N, 3, H, W]` in `[-1, 1]` everywhere; H and W multiples of 4 for the
generator (two stride-2 stages). Normalisation is per sample (instance norm, no running stats),
so a batch of N gives the same per-sample result as N batches of one.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

INIT_STD = 0.02  # N(0, 0.02) weight init, as pix2pix / CycleGAN
N_DOWN = 2       # stride-2 stages in the ResNet generator (so H, W must be multiples of 4)

GENERATORS: dict[str, Callable[..., nn.Module]] = {}
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}


def register(table: dict[str, Callable[..., nn.Module]], name: str):
    """Decorator: add a 3-5 line factory to `table` under `name`."""
    def add(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        table[name] = factory
        return factory
    return add


def _lookup(table: dict[str, Callable[..., nn.Module]], kind: str, name: str):
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r} (valid: {', '.join(sorted(table))})")
    return table[name]


def build_generator(name: str = "resnet", generator: torch.Generator | None = None,
                    **kwargs) -> nn.Module:
    """A registered generator, N(0, 0.02)-initialised from `generator` (CPU). kwargs: ngf, n_blocks."""
    return init_weights(_lookup(GENERATORS, "generator", name)(**kwargs), generator=generator)


def build_discriminator(name: str = "patchgan", generator: torch.Generator | None = None,
                        **kwargs) -> nn.Module:
    """A registered discriminator, N(0, 0.02)-initialised from `generator`. kwargs: ndf, n_layers."""
    return init_weights(_lookup(DISCRIMINATORS, "discriminator", name)(**kwargs),
                        generator=generator)


def init_weights(net: nn.Module, std: float = INIT_STD,
                 generator: torch.Generator | None = None) -> nn.Module:
    """Conv weights ~ N(0, std), biases 0 (instance norm has no affine parameters here)."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, std, generator=generator)
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


@register(GENERATORS, "resnet")
def _resnet(ngf: int = 64, n_blocks: int = 9) -> nn.Module:
    return resnet_generator(ngf=ngf, n_blocks=n_blocks)


# ---------------------------------------------------------------------------------------------
# PatchGAN discriminator (pix2pix's NLayerDiscriminator; n_layers 3 = 70x70 receptive field)

def patchgan(ndf: int = 64, n_layers: int = 3, channels: int = 3) -> nn.Sequential:
    """4x4 convs, strides 2 (n_layers times) then 1, 1; LeakyReLU 0.2; instance norm.

    [N, 3, H, W] -> raw logits C(.) of shape [N, 1, H/8 - 2, W/8 - 2] (n_layers 3).
    """
    layers: list[nn.Module] = [nn.Conv2d(channels, ndf, 4, stride=2, padding=1),
                               nn.LeakyReLU(0.2, True)]
    width = ndf
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1
        out = ndf * min(2 ** i, 8)
        layers += [nn.Conv2d(width, out, 4, stride=stride, padding=1),
                   nn.InstanceNorm2d(out), nn.LeakyReLU(0.2, True)]
        width = out
    layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
    return nn.Sequential(*layers)


@register(DISCRIMINATORS, "patchgan")
def _patchgan(ndf: int = 64, n_layers: int = 3) -> nn.Module:
    return patchgan(ndf=ndf, n_layers=n_layers)
