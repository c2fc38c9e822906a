"""Decoding and writing the image files of every format, with one-line errors naming the file.

Resizing rules, shared by everyone: photos / aerials resize bilinear with antialiasing; label
colour images and label-id maps resize NEAREST, so every pixel stays one pure palette colour.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataError
from .palette import MAX_LABEL_ID

PNG_LEVEL = 1  # zlib level for written PNGs: ~3x faster than the default 6, files ~15% larger


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: not a readable image ({type(err).__name__})") from None
    return image


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: not a readable image ({type(err).__name__})") from None


def read_rgb(path: Path) -> np.ndarray:
    """[H, W, 3] uint8 RGB (grey, palette and RGBA files are converted)."""
    return np.array(_open(path).convert("RGB"))  # writable copy


def read_label_ids(path: Path) -> np.ndarray:
    """[H, W] uint8 Cityscapes label ids from a one-channel (L or P) PNG; checks 0..33."""
    image = _open(path)
    if image.mode not in ("L", "P", "I", "I;16"):
        raise DataError(f"{path}: expected a one-channel label-id image, got mode {image.mode}")
    ids = np.array(image)
    top = int(ids.max())
    if top > MAX_LABEL_ID or int(ids.min()) < 0:
        raise DataError(f"{path}: label id {top} out of range 0..{MAX_LABEL_ID}")
    return ids.astype(np.uint8)


def write_png(path: Path, array: np.ndarray) -> None:
    """Write [H, W] or [H, W, 3] uint8 as PNG (fast zlib level)."""
    Image.fromarray(array).save(path, compress_level=PNG_LEVEL)


def write_jpeg(path: Path, array: np.ndarray, quality: int = 95) -> None:
    """Write [H, W, 3] uint8 as JPEG (quality 95: the pix2pix sets' files are JPEG)."""
    Image.fromarray(array).save(path, quality=quality)
