"""`Sample` and `SplitReader`: what every dataset reader returns, whatever its on-disk format.

A reader lists a split once (`stems`, `archetypes`) and decodes a sample from disk on each
`reader[i]`; nothing is cached here (the ImageBank decodes a split once for training).
"""
from __future__ import annotations

import abc
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

ARCHETYPES_CSV = "archetypes.csv"  # toy datasets: one row per image (split, stem, archetype)


@dataclass(frozen=True)
class Sample:
    stem: str
    a: np.ndarray | None      # [H, W, 3] uint8 photo / aerial; None for label-only sets
    b: np.ndarray             # [H, W, 3] uint8 label colours (palette.colorize(mask)) / map
    mask: np.ndarray | None   # [H, W] uint8 train ids, 255 = ignore; None for maps
    archetype: str | None     # toy sets: the scene archetype; else None


class SplitReader(abc.ABC):
    """One split of one dataset. Subclasses set `stems` and implement `_load(i)`."""

    dataset: str = ""   # set by open_split to the registry name (e.g. "toy-streets")
    kind: str = ""      # segmentation | maps | labels-only

    def __init__(self, root: Path, split: str, stems: list[str]):
        self.root, self.split, self.stems = root, split, stems
        if not stems:
            raise DataError(f"split {split!r} under {root} holds no images")
        self.archetypes = read_archetypes(root, split, stems)

    @property
    @abc.abstractmethod
    def original_size(self) -> tuple[int, int]:
        """(H, W) of the split's images at their original resolution (one B half for AB files)."""

    @abc.abstractmethod
    def _load(self, i: int) -> Sample:
        """Decode sample i from disk."""

    def __len__(self) -> int:
        return len(self.stems)

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        return self._load(i % len(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dataset!r}, {self.split!r}, n={len(self)}, root={self.root})"


def read_archetypes(root: Path, split: str, stems: list[str]) -> list[str | None]:
    """Archetype per stem from `<root>/archetypes.csv` (toy sets), or all None when absent."""
    path = root / ARCHETYPES_CSV
    if not path.is_file():
        return [None] * len(stems)
    with open(path, newline="") as f:
        table = {(r["split"], r["stem"]): r["archetype"] for r in csv.DictReader(f)}
    return [table.get((split, s)) for s in stems]


def write_archetypes(root: Path, rows: list[tuple[str, str, str]]) -> None:
    """Write (split, stem, archetype) rows to `<root>/archetypes.csv`."""
    with open(root / ARCHETYPES_CSV, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["split", "stem", "archetype"])
        writer.writerows(rows)
