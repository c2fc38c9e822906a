"""Networks: paper-scale parameter counts, shapes and ranges, the 70x70 receptive field, init."""
from __future__ import annotations

import pytest
import torch

from trainer.nets.networks import (DISCRIMINATORS, GENERATORS, build_discriminator, build_generator,
                              count_parameters)

# CycleGAN's reference `resnet_9blocks` (ngf 64, instance norm) and `basic` PatchGAN (ndf 64,
# n_layers 3) have exactly these many parameters.
REFERENCE_GENERATOR_PARAMS = 11_378_179
REFERENCE_PATCHGAN_PARAMS = 2_764_737


def test_paper_scale_parameter_counts():
    assert count_parameters(build_generator("resnet", ngf=64, n_blocks=9)) == REFERENCE_GENERATOR_PARAMS
    assert count_parameters(build_discriminator("patchgan", ndf=64)) == REFERENCE_PATCHGAN_PARAMS


TINY_KWARGS = {"resnet": dict(ngf=8, n_blocks=2), "unet": dict(ngf=8, depth=5)}
INPUT_CHANNELS = {"patchgan": 3, "patchgan-conditional": 6}   # conditional: concat(x, y)


def test_tiny_settings_cover_every_registered_network():
    assert set(TINY_KWARGS) == set(GENERATORS) and set(INPUT_CHANNELS) == set(DISCRIMINATORS)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_keeps_shape_and_range(name):
    net = build_generator(name, torch.Generator().manual_seed(0), **TINY_KWARGS[name])
    x = torch.rand(2, 3, 32, 64) * 2 - 1
    out = net(x)
    assert out.shape == (2, 3, 32, 64)
    assert out.min() >= -1 and out.max() <= 1
    assert out.std() > 0  # not a constant image


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_every_discriminator_gives_a_patch_map(name):
    net = build_discriminator(name, torch.Generator().manual_seed(0), ndf=8)
    channels = INPUT_CHANNELS[name]
    assert net(torch.rand(2, channels, 32, 32)).shape == (2, 1, 2, 2)
    assert net(torch.rand(2, channels, 64, 32)).shape == (2, 1, 6, 2)


def test_patchgan_receptive_field_is_70_pixels():
    net = build_discriminator("patchgan", torch.Generator().manual_seed(0), ndf=4)
    for i, layer in enumerate(net):   # instance norm mixes the whole image; measure the convs
        if isinstance(layer, torch.nn.InstanceNorm2d):
            net[i] = torch.nn.Identity()
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    out = net(x)                              # [1, 1, 30, 30]
    out[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert int(rows.max() - rows.min()) + 1 == 70
    assert int(cols.max() - cols.min()) + 1 == 70


def test_init_is_normal_002_with_zero_bias_and_seeded():
    net = build_generator("resnet", torch.Generator().manual_seed(3), ngf=16, n_blocks=2)
    conv = net[1]                                                   # 7x7 stem, 16*3*49 weights
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert abs(conv.weight.mean().item()) < 0.003
    assert torch.count_nonzero(conv.bias) == 0
    again = build_generator("resnet", torch.Generator().manual_seed(3), ngf=16, n_blocks=2)
    other = build_generator("resnet", torch.Generator().manual_seed(4), ngf=16, n_blocks=2)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))
    assert not torch.equal(net[1].weight, other[1].weight)


def test_instance_norm_makes_a_batch_equal_its_samples():
    net = build_generator("resnet", torch.Generator().manual_seed(0), ngf=8, n_blocks=2)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    together = net(x)
    alone = torch.cat([net(x[:1]), net(x[1:])])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_unknown_network_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown generator 'vgg' \(valid: resnet, unet\)"):
        build_generator("vgg")
    with pytest.raises(ValueError, match=r"unknown discriminator 'pixel' \(valid: patchgan, "
                                         r"patchgan-conditional\)"):
        build_discriminator("pixel")
