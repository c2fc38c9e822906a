"""`toy-maps`: aerial photos (A) and flat map tiles (B) in the pix2pix AB layout, from a seed.

    <root>/<split>/<n>.jpg   256x128 JPEG, A | B halves of 128x128 (the Maps set: 1200x600)

Layout classes on a rotated street grid: land, road, highway, water, park and buildings. A is
textured (canopy noise, water ripples, roofs of varied colours with cast shadows, light and colour
casts); B is the map style: one flat colour per class, as the maps pixel-accuracy protocol assumes.
Four archetypes at 50/27/15/8 %: urban, suburban, rural, waterfront.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .imageio import write_jpeg
from .reader import write_archetypes
from .registry import register_toy
from .toy_render import smooth_noise
from .toy_streets import archetype_sequence

HALF = 128  # side of A and of B, pixels
LAND, ROAD, HIGHWAY, WATER, PARK, BUILDING = range(6)
MAP_COLOURS = np.array([(236, 232, 224), (255, 255, 255), (248, 196, 98), (166, 204, 244),
                        (196, 226, 180), (208, 202, 194)], np.uint8)  # B: one colour per class
AERIAL = np.array([(118, 112, 92), (96, 96, 100), (78, 80, 86), (44, 68, 78), (58, 86, 44),
                   (150, 145, 140)], np.float32)                         # A: base colours
ROOFS = np.array([(150, 148, 145), (95, 95, 98), (200, 198, 192), (150, 85, 65), (120, 100, 80)],
                 np.float32)                                             # A: roof colours
TEXTURE = np.array([(14, 12), (4, 6), (4, 5), (6, 4), (18, 22), (6, 5)], np.float32)  # coarse, fine


@dataclass(frozen=True)
class MapArchetype:
    name: str
    weight: float
    block: tuple[float, float]   # street spacing, pixels
    road: float                  # street width, pixels
    density: float               # probability that a building lot is built
    parks: tuple[int, int]       # number of parks / woods
    water: float                 # probability of a river (waterfront: always a coast)
    highway: float               # probability of a highway


ARCHETYPES = (
    MapArchetype("urban", 0.50, (14, 22), 2.5, 0.85, (0, 1), 0.25, 0.4),
    MapArchetype("suburban", 0.27, (24, 40), 2.0, 0.45, (1, 3), 0.2, 0.3),
    MapArchetype("rural", 0.15, (60, 110), 2.0, 0.1, (3, 6), 0.3, 0.5),
    MapArchetype("waterfront", 0.08, (16, 26), 2.5, 0.7, (0, 1), 1.0, 0.2),
)


def draw_map(a: MapArchetype, rng: np.random.Generator, n: int = HALF):
    """[n, n] uint8 class map and [n, n] int32 building lot ids (-1 elsewhere)."""
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    theta = rng.uniform(-0.4, 0.4)
    u = xx * np.cos(theta) + yy * np.sin(theta) + rng.uniform(0, 100)   # street-grid coordinates
    v = -xx * np.sin(theta) + yy * np.cos(theta) + rng.uniform(0, 100)
    block = rng.uniform(*a.block)
    cls = np.full((n, n), LAND, np.uint8)
    for _ in range(rng.integers(a.parks[0], a.parks[1] + 1)):
        cy, cx, ry, rx = rng.uniform(0, n, 2).tolist() + rng.uniform(8, 40, 2).tolist()
        cls[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1] = PARK
    lot = np.floor(u / (block / 2)).astype(np.int32) * 997 + np.floor(v / (block / 2)).astype(np.int32)
    inner = ((u % (block / 2)) > 2) & ((v % (block / 2)) > 2)
    built = rng.random(4096)[lot % 4096] < a.density
    cls[inner & built & (cls == LAND)] = BUILDING
    if a.name == "waterfront" or rng.random() < a.water:
        shore = rng.uniform(0.2, 0.5) * n if a.name == "waterfront" else rng.uniform(0, n)
        width = n if a.name == "waterfront" else rng.uniform(5, 14)
        wave = shore + 6 * np.sin(u / rng.uniform(10, 25))
        cls[(v % n > wave) & (v % n < wave + width)] = WATER
    cls[(((u % block) < a.road) | ((v % block) < a.road)) & (cls != WATER)] = ROAD
    if rng.random() < a.highway:
        cls[np.abs(xx * np.cos(theta + 0.8) + yy * np.sin(theta + 0.8) - rng.uniform(20, 110)) < 3] = HIGHWAY
    return cls, np.where(cls == BUILDING, lot, -1)


def render_aerial(cls: np.ndarray, lots: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[n, n, 3] uint8 aerial photo of a class map: textures, roofs, shadows, light, noise."""
    n = cls.shape[0]
    base = AERIAL + rng.normal(0, 10, AERIAL.shape).astype(np.float32)
    colour = base[cls]
    roofs = ROOFS[rng.integers(len(ROOFS), size=4096)] * rng.uniform(0.75, 1.2, (4096, 1))
    colour[lots >= 0] = roofs[lots[lots >= 0] % 4096].astype(np.float32)
    amp = TEXTURE[cls]
    colour += (amp[:, :, 0] * smooth_noise(rng, n, n, (16, 16))
               + amp[:, :, 1] * rng.standard_normal((n, n), dtype=np.float32))[..., None]
    shadow = np.roll(cls == BUILDING, (2, 2), axis=(0, 1)) & (cls != BUILDING)
    colour[shadow] *= 0.55
    light = 1 + rng.uniform(-0.25, 0.25) * np.linspace(-0.5, 0.5, n, dtype=np.float32)[None, :, None]
    colour = colour * light * rng.uniform(0.85, 1.15, 3).astype(np.float32) * rng.uniform(0.8, 1.15)
    image = Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7))))


def write_split(out: Path, split: str, count: int, seed: int) -> list[tuple[str, str, str]]:
    """Write `count` AB JPEGs named 1.jpg, 2.jpg, ... (as in the Maps set); return csv rows."""
    (out / split).mkdir(parents=True)
    split_seed = [seed, 11, sum(map(ord, split))]
    plan = archetype_sequence(ARCHETYPES, count, np.random.default_rng(split_seed))
    rows = []
    for i, arch in enumerate(plan):
        rng = np.random.default_rng(split_seed + [i])
        cls, lots = draw_map(arch, rng)
        ab = np.concatenate([render_aerial(cls, lots, rng), MAP_COLOURS[cls]], axis=1)  # [n, 2n, 3]
        write_jpeg(out / split / f"{i + 1}.jpg", ab)
        rows.append((split, str(i + 1), arch.name))
    return rows


@register_toy("toy-maps", layout="pix2pix", kind="maps", version=1,
              variants={"default": {"train": 300, "val": 100}, "small": {"train": 40, "val": 16}})
def write_toy_maps(out: Path, sizes: dict[str, int], seed: int) -> None:
    rows = []
    for split, count in sizes.items():
        rows += write_split(out, split, count, seed)
    write_archetypes(out, rows)
