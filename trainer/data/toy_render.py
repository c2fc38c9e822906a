"""Photos rendered from toy street label maps, made hard to read back by thresholding colours.

Per class: a base colour jittered per image, with classes whose colours overlap (road / sidewalk /
building / pole greys; vegetation / terrain greens), per-object colours (cars, persons, facades),
textures at three scales, building windows and lane markings. Per image: a light gradient, cast
shadows crossing class borders, brightness, a colour cast, gamma, haze towards the horizon,
sensor noise and a slight blur. Night scenes are dark, with lit windows, lamps and car lights.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from .palette import NUM_CLASSES
from .toy_layout import (BUILDING, CAR, PAINT_GLASS, PAINT_LAMP, PAINT_MARKING, PERSON, SIGN, SKY,
                         Archetype, Scene)

# RGB base colour per train id (0..18), then index 19 for ignore (the ego bonnet: dark paint)
BASE = np.array([
    (95, 92, 98), (140, 132, 128), (120, 115, 110), (150, 140, 125), (120, 110, 90),  # road..fence
    (105, 105, 105), (40, 40, 40), (210, 190, 40), (55, 85, 40), (105, 125, 65),      # pole..terrain
    (140, 180, 225), (0, 0, 0), (0, 0, 0), (0, 0, 0), (60, 60, 60),                   # sky..truck
    (60, 60, 60), (60, 60, 60), (0, 0, 0), (0, 0, 0), (35, 35, 40)], np.float32)     # ..ego
# texture amplitude (grey levels) per train id at scales (coarse, medium, per pixel); ignore last
TEXTURE = np.zeros((NUM_CLASSES + 1, 3), np.float32) + (4, 4, 5)
TEXTURE[[0, 1, 2, 8, 9, 10]] = [(10, 6, 9), (8, 10, 8), (12, 8, 6), (14, 26, 22), (12, 18, 14), (16, 3, 2)]
CAR_COLOURS = np.array([(200, 200, 205), (30, 30, 35), (150, 150, 155), (150, 30, 30),
                        (40, 60, 130), (90, 90, 95), (210, 200, 170)], np.float32)
PAINT_SCALE = np.ones(4, np.float32)          # albedo factor per PAINT_* code
PAINT_SCALE[[PAINT_MARKING, PAINT_GLASS]] = (0.0, 0.35)  # markings replace the asphalt; dark glass
PAINT_SHIFT = np.zeros((4, 3), np.float32)     # added colour per PAINT_* code
PAINT_SHIFT[PAINT_MARKING] = 215               # white paint
WINDOW_TINT = np.array((20, 30, 45), np.float32)                           # glass reflects the sky
SIGN_COLOURS = np.array([(210, 190, 40), (40, 80, 170), (190, 40, 40), (220, 220, 220)], np.float32)


def smooth_noise(rng, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """[h, w] float32 noise, roughly in [-1, 1], bilinearly interpolated from a cells grid."""
    small = rng.standard_normal(cells).astype(np.float32)
    return np.asarray(Image.fromarray(small, mode="F").resize((w, h), Image.BILINEAR)) * 0.7


def _uniform_noise(rng, shape) -> np.ndarray:
    """float32 noise of mean 0 and std 1 (uniform: ~4x cheaper to draw than a Gaussian)."""
    return (rng.random(shape, dtype=np.float32) - 0.5) * np.float32(12 ** 0.5)


def _instance_colours(scene: Scene, rng) -> np.ndarray:
    """[n + 1, 3] colour per instance (row 0 unused): cars, clothes, facades, signs."""
    out = np.zeros((len(scene.inst_classes) + 1, 3), np.float32)
    for k, cls in enumerate(scene.inst_classes, start=1):
        if cls == CAR:
            out[k] = CAR_COLOURS[rng.integers(len(CAR_COLOURS))] + rng.normal(0, 8, 3)
        elif cls == PERSON:
            out[k] = rng.uniform(20, 200, 3)
        elif cls == BUILDING:
            out[k] = rng.uniform(70, 190) + rng.normal(0, 18, 3) + (12, 4, -8)
        elif cls == SIGN:
            out[k] = SIGN_COLOURS[rng.integers(len(SIGN_COLOURS))]
        else:
            out[k] = BASE[cls]
    return out


def _albedo(scene: Scene, rng) -> tuple[np.ndarray, np.ndarray]:
    """[H, W, 3] float32 surface colour before lighting (base colours, objects, textures,
    windows, glass, lane markings) and the [H, W] bool window mask."""
    h, w = scene.ids.shape
    cls = np.minimum(scene.ids, NUM_CLASSES)  # ignore (255) -> row 19
    base = BASE + rng.normal(0, 14, BASE.shape).astype(np.float32)          # per-image jitter
    n = len(scene.inst_classes)
    table = np.concatenate([_instance_colours(scene, rng), base])           # [n + 1 + 20, 3]
    colour = np.take(table, np.where(scene.inst > 0, scene.inst, n + 1 + cls), axis=0)  # [H, W, 3]
    amp = np.take(TEXTURE, cls, axis=0)                                      # [H, W, 3]
    grain = (amp[..., 0] * smooth_noise(rng, h, w, (4, 8)) + amp[..., 1] * smooth_noise(rng, h, w, (24, 48))
             + amp[..., 2] * _uniform_noise(rng, (h, w)))
    yy, xx = np.ogrid[:h, :w]
    period = int(rng.integers(5, 9))
    windows = (scene.ids == BUILDING) & (xx % period < period // 2) & (yy % (period + 2) < period // 2 + 1)
    scale = np.take(PAINT_SCALE, scene.paint) * np.where(windows, 0.55, 1.0).astype(np.float32)
    shift = np.take(PAINT_SHIFT, scene.paint, axis=0) + windows[..., None] * WINDOW_TINT  # [H, W, 3]
    return (colour + grain[..., None]) * scale[..., None] + shift, windows


def _light(colour: np.ndarray, scene: Scene, a: Archetype, rng) -> np.ndarray:
    """Directional gradient, cast shadows, brightness, colour cast, sky glow, haze."""
    h, w = scene.ids.shape
    x = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    light = 1 + rng.uniform(-0.35, 0.35) * x                                   # [1, W]
    shadow = smooth_noise(rng, h, w, (3, 6)) > rng.uniform(0.0, 0.5)          # [H, W]
    light = light * np.where(shadow & (scene.ids != SKY), rng.uniform(0.5, 0.75), 1.0)
    y = np.arange(h, dtype=np.float32)[:, None]
    glow = 1 + 0.25 * np.clip(y / max(scene.horizon, 1), 0, 1) * (scene.ids == SKY)
    cast = rng.uniform(0.82, 1.18, 3).astype(np.float32)
    colour = colour * (light * glow * rng.uniform(0.7, 1.2))[..., None] * cast
    haze = rng.uniform(0.0, 0.45) * np.exp(-np.abs(y - scene.horizon) / (0.18 * h))  # [H, 1]
    return colour * (1 - haze[..., None]) + haze[..., None] * rng.uniform(170, 230)


def _night(colour: np.ndarray, scene: Scene, windows: np.ndarray, rng) -> np.ndarray:
    """Darken, then add lit windows, lamp glows and car lights."""
    h, w = scene.ids.shape
    colour = colour * rng.uniform(0.12, 0.22)
    colour[scene.ids == SKY] = (12, 14, 30)
    lit = windows & (smooth_noise(rng, h, w, (16, 32)) > 0.2)
    colour[lit] = (230, 190, 110)
    lamps = np.argwhere(scene.paint == PAINT_LAMP)
    if len(lamps):
        yy, xx = np.mgrid[:h, :w]
        for y, x in lamps[rng.choice(len(lamps), min(len(lamps), 6), replace=False)]:
            glow = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 6.0 ** 2)).astype(np.float32)
            colour += glow[..., None] * np.array((120, 100, 60), np.float32)
        colour[scene.paint == PAINT_LAMP] = (255, 240, 200)
    return colour


def render_photo(scene: Scene, a: Archetype, rng: np.random.Generator) -> np.ndarray:
    """[H, W, 3] uint8 photo of `scene` in the style of archetype `a`."""
    colour, windows = _albedo(scene, rng)
    colour = _light(colour, scene, a, rng)
    if a.night:
        colour = _night(colour, scene, windows, rng)
    gamma = 255 * (np.arange(256, dtype=np.float32) / 255) ** rng.uniform(0.8, 1.25)  # [256] LUT
    colour = np.take(gamma, np.clip(colour, 0, 255).astype(np.uint8))
    colour += rng.uniform(2, 7) * _uniform_noise(rng, colour.shape)          # sensor noise
    photo = Image.fromarray(np.clip(colour, 0, 255).astype(np.uint8))
    return np.asarray(photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9))))
