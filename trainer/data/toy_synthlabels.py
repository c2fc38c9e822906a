"""Label-only toy sets for the paper's synthetic-labels experiment (Table 3): street label maps
from the toy-streets archetypes with the layout distribution shifted, written like the real sets.

- `toy-synthlabels-close` ("Synscapes-like", Synscapes layout img/class/*.png): shifted a little --
  horizon a bit lower, a few more and larger cars, slightly different archetype shares.
- `toy-synthlabels-far` ("GTA-like", GTA5 layout labels/*.png, GTA's wider 1.83:1 frame): shifted a
  lot -- low horizon, wide roads, big cars, few persons and poles, no night, highways dominate.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .imageio import write_png
from .palette import train_ids_to_label_ids
from .reader import write_archetypes
from .registry import register_toy
from .toy_layout import Archetype, draw_scene
from .toy_streets import ARCHETYPES, SIZE, archetype_sequence

SIZES = {"default": {"train": 300}, "small": {"train": 40}}  # images; label-only sets: one split
GTA_SIZE = (140, 256)  # (H, W): GTA5's 1914x1052 frame (1.82:1) at toy scale


def shifted(a: Archetype, weight: float, *, horizon: float = 0.0, road: float = 1.0,
            car_size: float = 1.0, cars: int = 0, people: float = 1.0, trees: float = 1.0) -> Archetype:
    """A copy of `a` with its layout distribution moved: horizon += horizon (fraction of H), road
    width and car size scaled, `cars` more cars, persons and poles scaled by `people`."""
    scale = lambda lo_hi, f: (int(round(lo_hi[0] * f)), int(round(lo_hi[1] * f)))  # noqa: E731
    return dataclasses.replace(
        a, weight=weight, horizon=(a.horizon[0] + horizon, a.horizon[1] + horizon),
        road=(a.road[0] * road, a.road[1] * road), car_size=a.car_size * car_size,
        cars=(a.cars[0] + cars, a.cars[1] + cars), persons=scale(a.persons, people),
        poles=scale(a.poles, people), trees=scale(a.trees, trees))


DOWNTOWN, SUBURB, HIGHWAY, PARK, NIGHT = ARCHETYPES
CLOSE = tuple(shifted(a, w, horizon=0.03, road=1.1, car_size=1.1, cars=1)
              for a, w in zip(ARCHETYPES, (0.45, 0.28, 0.15, 0.08, 0.04)))
FAR = tuple(shifted(a, w, horizon=0.12, road=1.6, car_size=1.5, cars=1, people=0.4, trees=1.5)
            for a, w in zip((DOWNTOWN, SUBURB, HIGHWAY, PARK), (0.20, 0.30, 0.35, 0.15)))


def write_labels(folder: Path, archetypes, n: int, size: tuple[int, int], seed: int,
                 stem_format: str) -> list[tuple[str, str, str]]:
    """Write n label-id PNGs into folder; return (split, stem, archetype) rows."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = archetype_sequence(archetypes, n, np.random.default_rng([seed, 7]))
    rows = []
    for i, arch in enumerate(plan):
        scene = draw_scene(arch, np.random.default_rng([seed, 7, i]), *size)
        stem = stem_format.format(i + 1)
        write_png(folder / f"{stem}.png", train_ids_to_label_ids(scene.ids))
        rows.append(("train", stem, arch.name))
    return rows


@register_toy("toy-synthlabels-close", layout="synscapes", kind="labels-only", variants=SIZES,
              version=1, classes="cityscapes-19")
def write_close(out: Path, sizes: dict[str, int], seed: int) -> None:
    rows = write_labels(out / "img" / "class", CLOSE, sizes["train"], SIZE, seed + 1, "{}")
    write_archetypes(out, rows)


@register_toy("toy-synthlabels-far", layout="gta5", kind="labels-only", variants=SIZES, version=1,
              classes="cityscapes-19")
def write_far(out: Path, sizes: dict[str, int], seed: int) -> None:
    rows = write_labels(out / "labels", FAR, sizes["train"], GTA_SIZE, seed + 2, "{:05d}")
    write_archetypes(out, rows)
