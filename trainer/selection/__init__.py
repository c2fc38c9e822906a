"""Which training samples get pairs: feature extractors, selection strategies and manifests.

Public API (docs/contracts.md):
- `manifest_for(cfg) -> Manifest`: the trial's unpaired pool and paired samples, cached on disk.
- `manifest_request(cfg) -> dict`: what that manifest depends on (equal requests, one manifest).
- `build_manifest(dataset, ...)`: the same from plain arguments (the CLI uses it).
- `select(features [N, D], strategy, budget, seed) -> list[int]`: one selection.
- `features_for(dataset, split, extractor, root=None) -> [N, D] float32`: cached features.
- `STRATEGIES`, `EXTRACTORS`: registries; `SelectionError`: every bad input, one line.

    python -m trainer.selection --dataset toy-streets --strategy kmedoids --budget 5 --pool 200
"""
from __future__ import annotations

from . import resnet, strategies, thumbnails  # noqa: F401  (register strategies and extractors)
from .features import features_for
from .manifest import Manifest, build_manifest, manifest_for, manifest_request
from .registry import EXTRACTORS, STRATEGIES, SelectionError
from .strategies import select

__all__ = ["EXTRACTORS", "STRATEGIES", "Manifest", "SelectionError", "build_manifest",
           "features_for", "manifest_for", "manifest_request", "select"]
