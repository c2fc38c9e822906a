"""The names TrialConfig's fields choose from where the entries need torch: what `cfg.arch`,
`cfg.gan_loss`, `cfg.selection` / `cfg.pool_selection` and `cfg.features` may be, without
importing torch (so a config, a grid or a dry run never does).

`ARCHITECTURES` is whole here (an architecture only names its networks); the generator and
discriminator factories it names live in trainer.nets.networks. `GAN_LOSSES` is declared here
by name and filled by trainer.step.losses, whose import registers each loss's torch implementation;
`STRATEGIES` and `EXTRACTORS` are declared here the same way and filled by trainer.selection
(strategies.py, thumbnails.py, resnet.py). tests/test_registries.py checks that no declared name
is left without its entry and that the modules register no name undeclared here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from trainer.core.errors import ConfigError, SelectionError
from trainer.core.registry import Registry


# name -> factory() -> trainer.step.losses.GanLoss; TrialConfig.gan_loss is validated against these.
GAN_LOSSES = Registry("gan_loss", declared=("rsgan", "rasgan", "ralsgan", "vanilla", "lsgan"),
                      home="trainer.step.losses")
# name -> fn(features [N, D], budget, seed) -> indices (cfg.selection, cfg.pool_selection)
STRATEGIES = Registry("selection strategy", SelectionError,
                      declared=("kcenter", "kmedoids", "random", "typiclust"),
                      home="trainer.selection")
# name -> factory(device) -> Extractor (cfg.features, besides "auto")
EXTRACTORS = Registry("feature extractor", SelectionError,
                      declared=("resnet50-imagenet", "thumbnails-offline"), home="trainer.selection")


@dataclass(frozen=True)
class Architecture:
    generator: str                 # trainer.nets.networks.GENERATORS entry
    discriminator: str             # trainer.nets.networks.DISCRIMINATORS entry
    conditional: bool              # D judges concat(input, image) instead of the image alone
    generator_kwargs: Callable[[object], dict]   # cfg -> the generator factory's kwargs


def unet_depth(image_size: int) -> int:
    """log2(image_size): the U-Net halves a power-of-two image down to 1x1 (8 at 256)."""
    return max(0, image_size.bit_length() - 1)


ARCHITECTURES = Registry("arch", ConfigError)   # cfg.arch -> Architecture
ARCHITECTURES.register("resnet")(Architecture(
    "resnet", "patchgan", False, lambda cfg: {"ngf": cfg.ngf, "n_blocks": cfg.n_blocks}))
ARCHITECTURES.register("pix2pix")(Architecture(
    "unet", "patchgan-conditional", True,
    lambda cfg: {"ngf": cfg.ngf, "depth": unet_depth(cfg.image_size)}))


def architecture(name: str) -> Architecture:
    return ARCHITECTURES[name]
