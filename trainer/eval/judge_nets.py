"""Judge segmenter architectures for the labels->photos "FCN score", registered by decorator.

The paper scores generated photos with pix2pix's pretrained Cityscapes FCN-8s, which cannot be
downloaded here; fewpair trains its own judge once per dataset (trainer/eval/judge.py). A factory
returns a module mapping a normalised photo batch to class logits:
    [B, 3, h, w] float (ImageNet mean/std normalised) -> [B, num_classes, h', w'] logits
with h', w' any size (the judge wrapper upsamples to the input size).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision.models.segmentation import lraspp_mobilenet_v3_large

_JUDGE_NETS: dict[str, Callable[[int], nn.Module]] = {}


def register_judge_net(name: str):
    """Register factory(num_classes) -> nn.Module under `name`."""
    def decorate(factory: Callable[[int], nn.Module]):
        _JUDGE_NETS[name] = factory
        return factory
    return decorate


def judge_net_names() -> list[str]:
    return sorted(_JUDGE_NETS)


def build_judge_net(name: str, num_classes: int) -> nn.Module:
    """A fresh judge network; an unknown name raises ValueError listing the valid ones."""
    if name not in _JUDGE_NETS:
        raise ValueError(f"unknown judge network {name!r} (valid: {', '.join(judge_net_names())})")
    return _JUDGE_NETS[name](num_classes)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv -> batch norm -> ReLU; padding keeps the size (divided by stride)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(nn.Module):
    """Two-level U-Net with a dilated bottleneck: ~0.1 M parameters at width 16, receptive field
    ~60 px -- enough for toy scenes at 256x128 and quick to train on a CPU.

    [B, 3, h, w] -> [B, C, h, w] (h, w multiples of 4 are kept exactly; others are resized back).
    """

    def __init__(self, num_classes: int, width: int = 16):  # width: channels at full resolution
        super().__init__()
        w = width
        self.enc1 = nn.Sequential(_conv(3, w), _conv(w, w))                          # [B, w, h, w]
        self.enc2 = nn.Sequential(_conv(w, 2 * w, stride=2), _conv(2 * w, 2 * w))     # h/2
        self.enc4 = nn.Sequential(_conv(2 * w, 4 * w, stride=2),                   # h/4
                                     _conv(4 * w, 4 * w, dilation=2),
                                     _conv(4 * w, 4 * w, dilation=4))
        self.dec2 = _conv(4 * w + 2 * w, 2 * w)
        self.dec1 = _conv(2 * w + w, w)
        self.head = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.enc1(x)
        f2 = self.enc2(f1)
        f4 = self.enc4(f2)
        u2 = self.dec2(torch.cat([_resize_to(f4, f2), f2], dim=1))
        u1 = self.dec1(torch.cat([_resize_to(u2, f1), f1], dim=1))
        return self.head(u1)


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class OutOnly(nn.Module):
    """torchvision segmentation models return {"out": logits}; the judge wants the tensor."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


@register_judge_net("tiny-unet")
def _tiny_unet(num_classes: int) -> nn.Module:
    return TinyUNet(num_classes)


@register_judge_net("lraspp-mobilenetv3")
def _lraspp(num_classes: int) -> nn.Module:
    # torchvision's LR-ASPP MobileNetV3-Large (3.2 M parameters), trained from scratch: ImageNet
    # weights cannot be downloaded on these machines, and a silent substitute is not allowed.
    return OutOnly(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                             num_classes=num_classes))
