"""`toy-streets`: street scenes in the official Cityscapes layout, generated from a seed.

Five archetypes with deliberately unequal shares (50/25/13/8/4 %), so which samples get pairs
matters: a small budget drawn at random can miss the parks or land on a night scene. Label maps
come from toy_layout.py, photos from toy_render.py. Written at 256x128 (Cityscapes' 2:1), with
`archetypes.csv` in the root recording each image's archetype.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .cityscapes import COLOR_SUFFIX, INSTANCE_SUFFIX, label_path, photo_path
from .imageio import write_png
from .palette import colorize, train_ids_to_label_ids
from .reader import write_archetypes
from .registry import register_toy
from .toy_layout import BUILDING, TERRAIN, Archetype, draw_scene
from .toy_render import render_photo

SIZE = (128, 256)  # (H, W) original resolution: Cityscapes' 2:1 at 1/8 scale
CITIES = {"train": ("northtown", "southtown", "easttown"), "val": ("westtown",)}

ARCHETYPES = (
    Archetype("downtown", 0.50, horizon=(0.40, 0.50), building_top=(0.5, 1.0), building_gap=0.05,
              trees=(0, 2), road=(0.20, 0.32), sidewalk=0.45, roadside=BUILDING,
              cars=(2, 5), persons=(2, 6), poles=(2, 4)),
    Archetype("suburb", 0.25, horizon=(0.42, 0.52), building_top=(0.15, 0.45), building_gap=0.35,
              trees=(2, 6), road=(0.15, 0.24), sidewalk=0.35, roadside=TERRAIN,
              cars=(1, 3), persons=(0, 2), poles=(1, 3)),
    Archetype("highway", 0.13, horizon=(0.45, 0.55), building_top=(0.05, 0.25), building_gap=0.8,
              trees=(0, 3), road=(0.35, 0.55), sidewalk=0.0, roadside=TERRAIN,
              cars=(3, 6), persons=(0, 0), poles=(2, 5), ego=0.8),
    Archetype("park", 0.08, horizon=(0.38, 0.48), building_top=(0.05, 0.2), building_gap=0.85,
              trees=(6, 12), road=(0.05, 0.10), sidewalk=0.6, roadside=TERRAIN,
              cars=(0, 1), persons=(1, 4), poles=(0, 1), ego=0.3),
    Archetype("night", 0.04, horizon=(0.40, 0.50), building_top=(0.4, 0.9), building_gap=0.1,
              trees=(0, 2), road=(0.20, 0.32), sidewalk=0.45, roadside=BUILDING,
              cars=(2, 5), persons=(0, 3), poles=(3, 5), night=True),
)


def archetype_sequence(archetypes: tuple[Archetype, ...], n: int, rng) -> list[Archetype]:
    """n archetypes in exact proportion to their weights (largest remainder), shuffled."""
    weights = np.array([a.weight for a in archetypes]) / sum(a.weight for a in archetypes)
    counts = np.floor(weights * n).astype(int)
    order = np.argsort(-(weights * n - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    seq = [a for a, c in zip(archetypes, counts) for _ in range(c)]
    return [seq[i] for i in rng.permutation(n)]


def stem_of(split: str, i: int) -> str:
    """Cityscapes-style stem `<city>_<sequence>_<frame>`."""
    cities = CITIES.get(split, (split,))
    return f"{cities[i % len(cities)]}_{i:06d}_000019"


def write_split(out: Path, split: str, n: int, seed: int) -> list[tuple[str, str, str]]:
    """Write n photo / labelIds / color / instanceIds files; return (split, stem, archetype)
    rows."""
    split_seed = [seed, sum(map(ord, split))]
    plan = archetype_sequence(ARCHETYPES, n, np.random.default_rng(split_seed))
    rows = []
    for i, arch in enumerate(plan):
        rng = np.random.default_rng(split_seed + [i])  # per image: independent of the others
        scene = draw_scene(arch, rng, *SIZE)
        stem = stem_of(split, i)
        for path in (photo_path(out, split, stem), label_path(out, split, stem)):
            path.parent.mkdir(parents=True, exist_ok=True)
        write_png(photo_path(out, split, stem), render_photo(scene, arch, rng))
        write_png(label_path(out, split, stem), train_ids_to_label_ids(scene.ids))
        write_png(label_path(out, split, stem, COLOR_SUFFIX), colorize(scene.ids))
        # Cityscapes' instance map: ids < 1000 are label ids (no instance told apart); the
        # official pixel-level evaluator reads it beside the label ids
        write_png(label_path(out, split, stem, INSTANCE_SUFFIX), train_ids_to_label_ids(scene.ids))
        rows.append((split, stem, arch.name))
    return rows


@register_toy("toy-streets", layout="cityscapes", kind="segmentation", version=3,
              variants={"default": {"train": 300, "val": 100}, "small": {"train": 40, "val": 16}},
              classes="cityscapes-19",
              synthetic_labels={"far": "toy-synthlabels-far", "close": "toy-synthlabels-close"})
def write_toy_streets(out: Path, sizes: dict[str, int], seed: int) -> None:
    rows = []
    for split, n in sizes.items():
        rows += write_split(out, split, n, seed)
    write_archetypes(out, rows)
