"""The images a trial trains on: its banks, built from the selection manifest, and the (x, y)
batch of each step slot.

  paired mode   one bank of the paired samples only — unpaired data is never decoded;
  otherwise     one bank of the unpaired pool (the pairs are rows of it, as the manifest puts
                the paired samples inside the pool), and for the unpaired Y domain either that
                bank's B side ("same") or a bank of `cfg.unpaired` label images drawn at random
                (by cfg.seed) from the named label-only dataset's train split (the paper's Table 3).

Crops and flips come from the generator the caller passes (the training state's), via ImageBank.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trainer.data import ImageBank, open_split
from trainer.run.schedule import Slot

TRAIN_SPLIT = "train"
_LABELS_STREAM = 2   # SeedSequence stream id of the label-only draw (1 is the step order)


@dataclass
class Feed:
    pairs: ImageBank            # holds the pairs (the pool bank, or the pairs alone)
    pair_rows: torch.Tensor     # [P] pair i -> row of `pairs`, on the device
    pool: ImageBank | None      # unpaired x (A side); None in mode paired
    labels: ImageBank | None    # unpaired y (B side): `pool` or a label-only bank
    size: int                   # crop, pixels
    rows: torch.Tensor          # [max bank length] arange on the device: index views, no copies

    @property
    def n_pairs(self) -> int:
        return len(self.pair_rows)

    @property
    def n_pool(self) -> int:
        return 0 if self.pool is None else len(self.pool)

    @property
    def n_y(self) -> int:
        return 0 if self.labels is None else len(self.labels)

    def batch(self, slot: Slot, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each [1, 3, S, S] float in [-1, 1] on the device; an aligned pair if paired."""
        if slot.paired:
            return self.pairs.paired(self.pair_rows[slot.index:slot.index + 1], self.size, rng)
        return self.pool.unpaired(self.rows[slot.index:slot.index + 1],
                                  self.rows[slot.y_index:slot.y_index + 1], self.size, rng,
                                  b_bank=self.labels)


def build_feed(cfg, paired: list[int], unpaired: list[int], device: torch.device) -> Feed:
    """Decode the trial's training images once onto `device` (paired/unpaired: split indices)."""
    reader = open_split(cfg.dataset, TRAIN_SPLIT, cfg.data_root)
    if cfg.mode == "paired":
        bank = ImageBank.from_reader(reader, cfg.load_size, device, indices=paired)
        return _feed(cfg, bank, list(range(len(paired))), None, None, device)
    pool = ImageBank.from_reader(reader, cfg.load_size, device, indices=unpaired)
    where = {index: row for row, index in enumerate(unpaired)}
    outside = [i for i in paired if i not in where]
    if outside:
        raise ValueError(f"paired sample {outside[0]} is not in the unpaired pool of {cfg.dataset}")
    labels = pool if cfg.unpaired_labels == "same" else label_bank(cfg, device)
    return _feed(cfg, pool, [where[i] for i in paired], pool, labels, device)


def _feed(cfg, pairs, pair_rows, pool, labels, device) -> Feed:
    longest = max(len(b) for b in (pairs, pool, labels) if b is not None)
    return Feed(pairs, torch.tensor(pair_rows, dtype=torch.long, device=device), pool, labels,
                cfg.image_size, torch.arange(longest, device=device))


def label_indices(n_available: int, count: int, seed: int) -> list[int]:
    """`count` distinct indices of a label-only split drawn by `seed` (-1 = all), sorted."""
    if count == -1 or count >= n_available:
        return list(range(n_available))
    rng = np.random.default_rng(np.random.SeedSequence([seed, _LABELS_STREAM]))
    return sorted(rng.choice(n_available, size=count, replace=False).tolist())


def label_bank(cfg, device: torch.device) -> ImageBank:
    """The unpaired Y domain from a label-only dataset (cfg.unpaired_labels, its train split)."""
    reader = open_split(cfg.unpaired_labels, TRAIN_SPLIT, cfg.unpaired_labels_root)
    indices = label_indices(len(reader), cfg.unpaired, cfg.seed)
    return ImageBank.from_reader(reader, cfg.load_size, device, indices=indices)
