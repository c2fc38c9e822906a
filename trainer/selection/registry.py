"""The selection strategy and feature extractor registries, and selection's one error.

The registries are declared by name in trainer.core.vocabulary (so a config check validates
`cfg.selection` / `cfg.features` without torch) and filled by decorators in their modules
(`strategies.py`, `thumbnails.py`, `resnet.py`); importing `trainer.selection` imports them all.
An unknown name raises a `SelectionError` that lists the valid names (timm-style).
"""
from __future__ import annotations

from trainer.core.errors import SelectionError
from trainer.core.vocabulary import EXTRACTORS, STRATEGIES

__all__ = ["EXTRACTORS", "STRATEGIES", "SelectionError"]
