"""The image sizes each architecture's networks accept, by arithmetic over their layers (no
torch, so a config check or a dry run never imports it).

The layer shapes here are the ones trainer.nets.networks builds (it takes N_DOWN, UNET_MIN_DEPTH
and PATCHGAN_LAYERS from this module); tests/test_trial_checks.py builds the real networks at a
range of sizes, accepted and rejected, and checks this rule agrees, so the two cannot drift.
A generator must return its input's size (L1, cycle and the U-Net's skip connections compare
them) and a discriminator's patch map must keep at least 1².
"""
from __future__ import annotations

import functools
from typing import Callable

from trainer.core.vocabulary import architecture

N_DOWN = 2            # stride-2 stages in the ResNet generator (so H, W must be multiples of 4)
UNET_MIN_DEPTH = 5    # the U-Net's four outer stages widen ngf -> 8 ngf; deeper ones stay at 8 ngf
PATCHGAN_LAYERS = 3   # the 70x70 PatchGAN: 3 stride-2 convs, then two stride-1
SIZE_SEARCH = 4       # look for accepted sizes up to SIZE_SEARCH x the asked one


def conv(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Spatial size after an nn.Conv2d (dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


def deconv(size: int, kernel: int, stride: int, padding: int, output_padding: int = 0) -> int:
    """Spatial size after an nn.ConvTranspose2d (dilation 1)."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def resnet_out(size: int, **_) -> int | str:
    """c7s1 (reflection pad 3), N_DOWN 3x3 stride-2 convs, shape-keeping blocks, N_DOWN 3x3
    stride-2 transposed convs (output padding 1), c7s1: the output size."""
    size = conv(size + 6, 7)
    for _ in range(N_DOWN):
        size = conv(size, 3, 2, 1)
    for _ in range(N_DOWN):
        size = deconv(size, 3, 2, 1, 1)
    return conv(size + 6, 7)


def unet_out(size: int, depth: int = 8, **_) -> int | str:
    """`depth` 4x4 stride-2 convs down, as many 4x4 stride-2 transposed convs up; every level
    but the outermost concatenates its up output with its input, so an odd map on the way down
    is a refusal; returns the output size or why not."""
    if depth < UNET_MIN_DEPTH:
        return (f"U-Net depth {depth} < {UNET_MIN_DEPTH}: image sizes from "
                f"{2 ** UNET_MIN_DEPTH} pixels up")
    levels = [size]                       # levels[k]: the map after k stride-2 convs
    for _ in range(depth):
        levels.append(conv(levels[-1], 4, 2, 1))
    if levels[-1] < 1:
        return 0
    up = levels[-1]
    for k in range(depth, 0, -1):         # innermost level first
        up = deconv(up, 4, 2, 1)
        if k > 1 and up != levels[k - 1]:
            return (f"its unet generator's skip connection joins a {levels[k - 1]}² map "
                    f"with a {up}² one")
    return up


def patchgan_out(size: int, n_layers: int = PATCHGAN_LAYERS) -> int:
    """4x4 convs with padding 1: stride 2 for the first n_layers, then two of stride 1; the
    patch map's size (< 1: it vanished; a norm on a 1² map is always followed by a vanished
    one, so this is the only test needed)."""
    size = conv(size, 4, 2, 1)
    for i in range(1, n_layers + 1):
        size = conv(size, 4, 2 if i < n_layers else 1, 1)
    return conv(size, 4, 1, 1)


# generator / discriminator name (trainer.nets.networks' registries) -> size rule; a test
# checks these keys equal the registries' names, so a new network needs its rule here.
GENERATOR_SIZES: dict[str, Callable[..., int | str]] = {"resnet": resnet_out, "unet": unet_out}
DISCRIMINATOR_SIZES: dict[str, Callable[[int], int]] = {
    "patchgan": patchgan_out, "patchgan-conditional": patchgan_out}


def size_problem(arch_name: str, image_size: int) -> str | None:
    """Why `arch_name`'s networks cannot train on image_size² crops (e.g. the ResNet generator
    returns 32² for 31², the PatchGAN's patch map shrinks to 0), with the nearest sizes they
    accept; None when they can."""
    why = size_rule(arch_name, image_size)
    if why is None:
        return None
    near = [s for s in (_nearest(arch_name, image_size, -1), _nearest(arch_name, image_size, 1))
            if s]
    hint = f"; nearest sizes it accepts: {' or '.join(map(str, near))}" if near else ""
    return f"image_size={image_size}: arch {arch_name!r}: {why}{hint}"


def _nearest(arch_name: str, size: int, step: int) -> int | None:
    candidates = range(size + step, 0 if step < 0 else SIZE_SEARCH * size + 1, step)
    return next((s for s in candidates if size_rule(arch_name, s) is None), None)


@functools.lru_cache(maxsize=None)
def size_rule(arch_name: str, size: int) -> str | None:
    """Why cfg.arch's generator or discriminator refuses size² crops, or None."""
    arch = architecture(arch_name)
    shape = _Shape(size)
    out = GENERATOR_SIZES[arch.generator](size, **arch.generator_kwargs(shape))
    if isinstance(out, str):   # e.g. a U-Net too shallow for this size
        return out
    if out != size:
        return f"its {arch.generator} generator turns {size}² into {max(out, 0)}²"
    if DISCRIMINATOR_SIZES[arch.discriminator](size) < 1:
        return f"its {arch.discriminator} discriminator's patch map shrinks to nothing"
    return None


class _Shape:
    """What Architecture.generator_kwargs reads, at unit width (only strides and sizes matter)."""

    def __init__(self, image_size: int) -> None:
        self.image_size, self.ngf, self.n_blocks = image_size, 1, 1
