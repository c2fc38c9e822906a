"""Qualitative grids for the HTML report, cut from the trials' samples PNGs.

A trial's samples PNG (`<results>/<grid>/_samples/<trial_key>.png`, written by the trainer's
final evaluation) holds up to four rows of input | output | truth panels: the first images of
the eval split, so the same images for every trial of a dataset. The layout is the
trainer's contract (docs/contracts.md): panels PANEL_HEIGHT px high, PADDING px of white
around and between them. `cell_grid` cuts the panels out and lays a table cell's trials side by
side, like the paper's figures: one row per image, columns input | each trial's output | truth.
"""
from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

PANEL_HEIGHT = 128   # px, trainer.eval.evaluate.SAMPLE_HEIGHT
PADDING = 2          # px, trainer.eval.evaluate.SAMPLE_PADDING
LABEL_HEIGHT = 16    # px, trainer.eval.evaluate.SAMPLE_LABEL_HEIGHT: the column labels' strip on top
                     # (0 in samples written before it)
COLUMNS = 3          # input | output | truth
WHITE = 255
MAX_WIDTH = 1400     # px: wider grids (many seeds) are scaled down to the page's width, which
                     # keeps a 10-seed cell's image a few hundred KB instead of megabytes

Panels = list[tuple[np.ndarray, np.ndarray, np.ndarray]]   # per row: [H, W, 3] uint8 each


JPEG_QUALITY = 80   # the grids' encoding: photos and GAN outputs are noisy, so lossless PNG
                    # made a demo report 8.8 MB; JPEG at 80 with full-resolution colour (4:4:4:
                    # label colours keep their edges) is a few times smaller and looks the same


@dataclass(frozen=True)
class Grid:
    image: bytes               # the composed image, JPEG-encoded (mime)
    columns: tuple[str, ...]   # its column titles, left to right
    width: int                 # px
    note: str = ""             # why some trials are not shown, or ""
    mime: str = "image/jpeg"


def read_panels(path: str | os.PathLike) -> Panels | None:
    """The (input, output, truth) panels of a samples PNG; None when it is missing,
    unreadable or not in the samples layout."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    height, width = pixels.shape[:2]
    panel_w, extra_w = divmod(width - (COLUMNS + 1) * PADDING, COLUMNS)
    fits = [(header, *divmod(height - PADDING - header, PANEL_HEIGHT + PADDING))
            for header in (LABEL_HEIGHT, 0)]
    fits = [(header, rows) for header, rows, extra_h in fits if not extra_h and rows >= 1]
    if extra_w or not fits or panel_w < 1:
        return None
    header, rows = fits[0]
    out = []
    for r in range(rows):
        top = header + PADDING + r * (PANEL_HEIGHT + PADDING)
        lefts = [PADDING + c * (panel_w + PADDING) for c in range(COLUMNS)]
        row = tuple(pixels[top:top + PANEL_HEIGHT, x:x + panel_w] for x in lefts)
        out.append(row)
    return out


def cell_grid(trials: list[tuple[str, str | None]]) -> Grid | None:
    """trials: (column title, samples PNG path or None) in column order. The grid shows the
    first trial's inputs and truths, and every trial whose inputs are the same images."""
    read = [(title, read_panels(path)) for title, path in trials if path]
    read = [(title, panels) for title, panels in read if panels]
    if not read:
        return None
    reference = read[0][1]
    shown = [(t, p) for t, p in read if _same_inputs(p, reference)]
    rows = min(len(p) for _, p in shown)
    skipped = len(trials) - len(shown)
    note = f"{skipped} of {len(trials)} trials have no samples image to show" if skipped else ""
    panels = [[reference[r][0], *(p[r][1] for _, p in shown), reference[r][2]]
              for r in range(rows)]
    image = Image.fromarray(_compose(panels))
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)),
                             Image.Resampling.BOX)
    return Grid(_jpeg(image), ("input", *(t for t, _ in shown), "truth"), image.width, note)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _same_inputs(panels: Panels, reference: Panels) -> bool:
    rows = min(len(panels), len(reference))
    return all(panels[r][0].shape == reference[r][0].shape
               and np.array_equal(panels[r][0], reference[r][0]) for r in range(rows))


def _compose(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Panels of equal size on a white canvas, PADDING px apart."""
    h, w = rows[0][0].shape[:2]
    n_cols = len(rows[0])
    canvas = np.full((PADDING + len(rows) * (h + PADDING), PADDING + n_cols * (w + PADDING), 3),
                     WHITE, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, panel in enumerate(row):
            top, left = PADDING + r * (h + PADDING), PADDING + c * (w + PADDING)
            canvas[top:top + h, left:left + w] = panel
    return canvas


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0,
                              optimize=True)
    return buffer.getvalue()
