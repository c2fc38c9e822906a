"""Street-scene label maps for the toy datasets: a perspective road, buildings, trees and objects.

`draw_scene(arch, rng, H, W)` returns a `Scene`: train ids in the 19-class palette, instance ids
(for per-object colours) and a paint layer (lane markings, glass, lamps) that the photo renderer
uses. Archetypes (downtown, suburb, ...) are rows of parameters; shifted copies of them give the
"synthetic label" datasets (toy_synthlabels.py).

Ground geometry: below the horizon row y_h, a row y has depth t = (y - y_h) / (H - y_h) in (0, 1]
(1 = nearest) and a pixel x has lateral ground coordinate u = (x - v_x) / (t W), where v_x is the
vanishing point's column; the road is |u - c| < w.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .palette import IGNORE, TRAIN_ID

ROAD, SIDEWALK, BUILDING = TRAIN_ID["road"], TRAIN_ID["sidewalk"], TRAIN_ID["building"]
POLE, LIGHT, SIGN = TRAIN_ID["pole"], TRAIN_ID["traffic light"], TRAIN_ID["traffic sign"]
VEG, TERRAIN, SKY = TRAIN_ID["vegetation"], TRAIN_ID["terrain"], TRAIN_ID["sky"]
PERSON, CAR = TRAIN_ID["person"], TRAIN_ID["car"]
PAINT_MARKING, PAINT_GLASS, PAINT_LAMP = 1, 2, 3  # values of Scene.paint (0 = nothing)


@dataclass(frozen=True)
class Archetype:
    name: str
    weight: float                        # share of the dataset's images
    horizon: tuple[float, float]         # horizon row y_h, fraction of H
    building_top: tuple[float, float]    # building height above y_h, fraction of y_h (1 = image top)
    building_gap: float                  # probability of sky between two buildings
    trees: tuple[int, int]               # number of trees (inclusive range)
    road: tuple[float, float]            # road half-width w at the nearest row, fraction of W
    sidewalk: float                      # sidewalk width, fraction of w (0 = none)
    roadside: int                        # class beyond the sidewalk (TERRAIN or BUILDING)
    cars: tuple[int, int]
    persons: tuple[int, int]
    poles: tuple[int, int]
    car_size: float = 0.16               # car width at t = 1, fraction of W
    ego: float = 0.6                     # probability of an ego-vehicle bonnet (ignore) at the bottom
    night: bool = False                  # photo style: dark, lit windows and lamps


@dataclass
class Scene:
    ids: np.ndarray          # [H, W] uint8 train ids (255 = ignore)
    inst: np.ndarray         # [H, W] uint8 object instance, 0 = stuff; k -> inst_classes[k - 1]
    inst_classes: list[int]  # train id of each instance
    paint: np.ndarray        # [H, W] uint8 PAINT_* codes for the renderer
    horizon: int             # y_h, rows


class _Canvas:
    """The arrays of one scene plus clipped rectangle drawing."""

    def __init__(self, h: int, w: int):
        self.ids = np.full((h, w), SKY, np.uint8)
        self.inst = np.zeros((h, w), np.uint8)
        self.paint = np.zeros((h, w), np.uint8)
        self.classes: list[int] = []

    def new_instance(self, cls: int) -> int:
        """Instance id for a new object of class `cls` (0 once 255 objects exist)."""
        if len(self.classes) == 255:
            return 0
        self.classes.append(cls)
        return len(self.classes)

    def rect(self, y0, y1, x0, x1, cls, inst=0, paint=0) -> None:
        """Fill rows y0..y1, columns x0..x1 (floats, rounded and clipped to the image)."""
        h, w = self.ids.shape
        y0, y1 = max(int(round(y0)), 0), min(int(round(y1)), h)
        x0, x1 = max(int(round(x0)), 0), min(int(round(x1)), w)
        if y0 < y1 and x0 < x1:
            self.ids[y0:y1, x0:x1] = cls
            self.inst[y0:y1, x0:x1] = inst
            self.paint[y0:y1, x0:x1] = paint


def _uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(*lo_hi))


def _count(rng: np.random.Generator, lo_hi: tuple[int, int]) -> int:
    return int(rng.integers(lo_hi[0], lo_hi[1] + 1))


def _buildings(c: _Canvas, a: Archetype, rng, yh: int) -> None:
    """Facades of varying heights along the horizon, left to right."""
    w = c.ids.shape[1]
    x = -rng.uniform(0, 20)
    while x < w:
        width = rng.uniform(12, 50)
        if rng.random() >= a.building_gap:
            top = yh * (1 - _uniform(rng, a.building_top))
            c.rect(top, yh + 2, x, x + width, BUILDING, c.new_instance(BUILDING))
        x += width


def _trees(c: _Canvas, a: Archetype, rng, yh: int) -> None:
    """Crowns (ellipses) with trunks, standing on the horizon; all vegetation."""
    h, w = c.ids.shape
    yy, xx = np.ogrid[:h, :w]
    for _ in range(_count(rng, a.trees)):
        r = rng.uniform(4, 16) * h / 128
        cx, cy = rng.uniform(0, w), yh - r * rng.uniform(0.6, 1.6)
        c.rect(cy, yh + 2, cx - max(1, r / 8), cx + max(1, r / 8), VEG)
        crown = ((xx - cx) / (r * 1.2)) ** 2 + ((yy - cy) / r) ** 2 < 1
        c.ids[crown], c.inst[crown], c.paint[crown] = VEG, 0, 0


def _ground(c: _Canvas, a: Archetype, yh: int, vx: float, centre: float, half: float) -> None:
    """Road, sidewalks and roadside below the horizon, in perspective; lane markings as paint."""
    h, w = c.ids.shape
    t = (np.arange(yh, h, dtype=np.float32)[:, None] - yh + 1) / (h - yh)   # [h - yh, 1] depth
    u = (np.arange(w, dtype=np.float32)[None, :] - vx) / (t * w)            # [h - yh, w]
    d = np.abs(u - centre)
    ground = np.full(d.shape, a.roadside, np.uint8)
    ground[d < half * (1 + a.sidewalk)] = SIDEWALK
    ground[d < half] = ROAD
    c.ids[yh:], c.inst[yh:] = ground, 0
    dash = (np.floor(np.log(t) * 6) % 2 == 0)                              # dashes shrink with depth
    c.paint[yh:] = np.where((d < 0.008) & dash & (ground == ROAD), PAINT_MARKING, 0)


def _ground_point(yh, h, w, vx, t, u) -> tuple[float, float]:
    """(row, column) of ground coordinates (t, u)."""
    return yh + t * (h - yh), vx + u * t * w


def _objects(c, a: Archetype, rng, yh, vx, centre, half) -> None:
    """Cars on the road, persons on sidewalks / terrain, poles with signs; far ones first."""
    h, w = c.ids.shape
    items = [(rng.uniform(0.2, 1.0), "car") for _ in range(_count(rng, a.cars))]
    items += [(rng.uniform(0.15, 1.0), "person") for _ in range(_count(rng, a.persons))]
    items += [(rng.uniform(0.2, 0.9), "pole") for _ in range(_count(rng, a.poles))]
    for t, kind in sorted(items):
        side = rng.choice([-1.0, 1.0])
        if kind == "car":
            u = centre + rng.uniform(-0.75, 0.75) * half
            _car(c, rng, *_ground_point(yh, h, w, vx, t, u), t * w * a.car_size * rng.uniform(0.85, 1.15))
        elif kind == "person":
            u = centre + side * half * (1 + a.sidewalk * rng.uniform(0.2, 0.8) + (a.sidewalk == 0) * 0.4)
            _person(c, *_ground_point(yh, h, w, vx, t, u), t * h * 0.42 * rng.uniform(0.85, 1.1))
        else:
            u = centre + side * half * (1 + a.sidewalk * 0.9 + (a.sidewalk == 0) * 0.2)
            _pole(c, rng, *_ground_point(yh, h, w, vx, t, u), t)


def _car(c: _Canvas, rng, y: float, x: float, width: float) -> None:
    """Body, glass cabin and two lamps; all one car instance."""
    k, height = c.new_instance(CAR), width * 0.62
    c.rect(y - height * 0.55, y, x - width / 2, x + width / 2, CAR, k)
    c.rect(y - height, y - height * 0.55 + 1, x - width * 0.36, x + width * 0.36, CAR, k, PAINT_GLASS)
    lamp = max(1.0, width * 0.12)
    for lx in (x - width / 2, x + width / 2 - lamp):
        c.rect(y - height * 0.35, y - height * 0.35 + lamp * 0.6, lx, lx + lamp, CAR, k, PAINT_LAMP)


def _person(c: _Canvas, y: float, x: float, height: float) -> None:
    """Body and head; one person instance."""
    k, width = c.new_instance(PERSON), max(1.5, height * 0.3)
    c.rect(y - height * 0.85, y, x - width / 2, x + width / 2, PERSON, k)
    c.rect(y - height, y - height * 0.85, x - width / 3, x + width / 3, PERSON, k)


def _pole(c: _Canvas, rng, y: float, x: float, t: float) -> None:
    """A pole carrying a traffic sign, a traffic light or a street lamp."""
    h = c.ids.shape[0]
    top, width = y - t * h * rng.uniform(0.7, 1.1), max(1.0, 2.5 * t)
    c.rect(top, y, x - width / 2, x + width / 2, POLE)
    size = max(2.0, 9 * t)
    if rng.random() < 0.6:
        c.rect(top, top + size, x - size / 2, x + size / 2, SIGN, c.new_instance(SIGN))
    elif rng.random() < 0.5:
        c.rect(top, top + size * 1.8, x - size / 3, x + size / 3, LIGHT, c.new_instance(LIGHT))
    else:
        c.rect(top, top + 2, x - size / 2, x + size / 2, POLE, paint=PAINT_LAMP)


def _ego(c: _Canvas, rng) -> None:
    """The ego vehicle's bonnet along the bottom edge: ignore (255), as in Cityscapes."""
    h, w = c.ids.shape
    depth = rng.uniform(3, 8) * h / 128
    edge = h - depth * (1 - 0.5 * ((np.arange(w) - w / 2) / (w / 2)) ** 2)  # [W] top row of bonnet
    bonnet = np.arange(h)[:, None] >= edge[None, :]
    c.ids[bonnet], c.inst[bonnet], c.paint[bonnet] = IGNORE, 0, 0


def draw_scene(a: Archetype, rng: np.random.Generator, h: int, w: int) -> Scene:
    """One street scene of archetype `a` at h x w pixels."""
    c = _Canvas(h, w)
    yh = int(h * _uniform(rng, a.horizon))
    vx, centre, half = w * rng.uniform(0.35, 0.65), rng.uniform(-0.1, 0.1), _uniform(rng, a.road)
    _buildings(c, a, rng, yh)
    _trees(c, a, rng, yh)
    _ground(c, a, yh, vx, centre, half)
    _objects(c, a, rng, yh, vx, centre, half)
    if rng.random() < a.ego:
        _ego(c, rng)
    return Scene(c.ids, c.inst, c.classes, c.paint, yh)
