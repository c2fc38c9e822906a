"""Shared pieces of the evaluation tests: a constant-colour translator, the hand-derived scores of
a prediction that says "road" everywhere, a user-style TorchScript judge that always answers
"road", and tiny pix2pix AB folders written to disk in the real layout."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from trainer.data.palette import IGNORE, PALETTE, TRAIN_ID


def constant_translate(rgb) -> callable:
    """A translator that paints every output pixel one 0-255 colour (exact after rounding)."""
    colour = torch.tensor(rgb, dtype=torch.float32) / 127.5 - 1                # [3] in [-1, 1]

    def translate(x: torch.Tensor) -> torch.Tensor:                          # [B, 3, S, S]
        return colour.to(x.device).view(1, 3, 1, 1).expand_as(x).clone()
    return translate


ROAD_RGB = tuple(int(v) for v in PALETTE[TRAIN_ID["road"]])


def all_road_scores(masks: list[np.ndarray]) -> dict[str, float]:
    """Scores of predicting road on every pixel, worked out by hand from the truth:
    pixel acc = road / valid; class acc: road 1, every other class present 0 -> 1 / K;
    IoU road = road / (road + valid - road) = road / valid, other present classes 0 -> (road/valid)/K
    (K = classes present in the truth; road must be one of them)."""
    ids = np.concatenate([m.reshape(-1) for m in masks])
    valid = ids[ids != IGNORE]
    road = np.count_nonzero(valid == TRAIN_ID["road"])
    k = len(np.unique(valid))
    assert road > 0
    return {"pixel_acc": road / valid.size, "mean_class_acc": 1 / k,
            "mean_iou": road / valid.size / k}


class AlwaysRoad(nn.Module):
    """A user segmenter by fewpair's judge interface: [B, 3, H, W] in [0, 1] -> {"out": logits},
    here at quarter resolution (the evaluator must upsample) and always preferring road."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = torch.zeros(x.shape[0], 19, x.shape[2] // 4 + 1, x.shape[3] // 4 + 1)  # 19 classes
        logits[:, 0] = 1.0
        return {"out": logits}


class ThreeChannels(nn.Module):
    """A segmenter with the wrong number of classes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def save_scripted(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():  # TorchScript's deprecation notice; it is still the format
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(module).save(str(path))
    return path



def write_ab(root: Path, split: str, pairs: list[tuple[np.ndarray, np.ndarray]]) -> Path:
    """pix2pix layout: <root>/<split>/<i>.png holding A|B side by side."""
    (root / split).mkdir(parents=True, exist_ok=True)
    for i, (a, b) in enumerate(pairs):
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / split / f"{i}.png")
    return root
