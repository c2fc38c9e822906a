"""The selection strategy and feature extractor registries, and selection's one error.

Both registries are filled by decorators in their modules (`strategies.py`, `thumbnails.py`,
`resnet.py`); importing `trainer.selection` imports them all. An unknown name raises a
`SelectionError` that lists the valid names (timm-style).
"""
from __future__ import annotations

from trainer.core.registry import Registry


class SelectionError(ValueError):
    """Bad selection input (unknown name, budget out of range, missing weights); one line."""


# name -> fn(features [N, D], budget, seed) -> indices
STRATEGIES = Registry("selection strategy", SelectionError)
# name -> factory(device) -> Extractor
EXTRACTORS = Registry("feature extractor", SelectionError)
