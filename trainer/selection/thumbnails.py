"""`thumbnails-offline`: tiny downsampled images as features, for toy data and tests.

NOT the paper's features (those are `resnet50-imagenet`). Every image is resized with antialiasing
to an 8x16 RGB thumbnail and flattened: 384 values in [0, 1]. It needs no download, runs on the
CPU in a fraction of a second per hundred images, and is bit-for-bit deterministic, so concurrent
trials compute identical features. On toy-streets, k-medoids with k = 5 on these thumbnails covers
4 of the 5 scene archetypes (larger 16x32 thumbnails: 3, as lighting noise dominates the layout).
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from .registry import EXTRACTORS

THUMB_SIZE = (8, 16)  # (H, W) pixels of each thumbnail: 2:1 like Cityscapes; 384-d features


@EXTRACTORS.register("thumbnails-offline")
class Thumbnails:
    """Downsampled-image features; always on the CPU (cheap, and identical everywhere)."""

    dim = 3 * THUMB_SIZE[0] * THUMB_SIZE[1]
    batch_size = 64   # images decoded and resized per step

    def __init__(self, device: str = "cpu") -> None:
        del device    # thumbnails are computed on the CPU whatever the trial's device

    @classmethod
    def fingerprint(cls) -> str:
        """Changes whenever the features this extractor computes would change."""
        return f"thumbnails-{THUMB_SIZE[0]}x{THUMB_SIZE[1]}-v1"

    def __call__(self, images: list[np.ndarray]) -> np.ndarray:
        """[H, W, 3] uint8 images (sizes may differ) -> [B, 384] float32 in [0, 1]."""
        rows = []
        for image in images:
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
            rows.append(TF.resize(x, list(THUMB_SIZE), antialias=True).flatten())  # [384]
        return torch.stack(rows).clamp_(0, 1).numpy()
