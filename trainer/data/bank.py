"""ImageBank: a split decoded once into uint8 tensors at the load size, on the training device;
random crop + horizontal flip done there, batched, from a `torch.Generator` the caller owns.

    bank = ImageBank.from_reader(open_split("toy-streets", "train"), load_size=286, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(cfg.seed)   # or a CPU generator
    x, y = bank.paired(idx, 256, g)                # same crop and flip on A and B (a pair)
    x, y = bank.unpaired(idx_a, idx_b, 256, g, b_bank=labels_bank)   # independent draws
    idx = bank.draw(4, g)                          # uniform indices, if the caller wants them

Outputs are float [B, 3, S, S] in [-1, 1] on the bank's device. Every random number comes from
the generator passed in, in a fixed order per call (rows, columns, flips; for `unpaired` first
the A side then the B side), so saving `g.get_state()` with a checkpoint resumes augmentation bit
for bit. The generator may live on the CPU or on the bank's device; draws are made on the
generator's device. Neither path synchronises a GPU: with a CPU generator crops are sliced per
sample (offsets are Python ints); with a generator on the bank's device they are one gather
kernel. Both give the same pixels for the same draws. Row indices may be a list of ints or a
tensor on the CPU or on the bank's device.

Resizing (once, at construction, to load_size x load_size like CycleGAN's resize_and_crop):
photos / aerials / maps bilinear with antialiasing; label colour images (segmentation and
label-only sets) NEAREST, so every pixel stays one of the 19 palette colours.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from .reader import SplitReader

DECODE_THREADS = min(8, os.cpu_count() or 1)  # PIL decodes with the GIL released
NEAREST_B_KINDS = ("segmentation", "labels-only")  # B is palette colours: keep them pure


def _resize(image: np.ndarray, size: int, nearest: bool) -> torch.Tensor:
    """[H, W, 3] uint8 -> [3, size, size] uint8."""
    chw = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # [3, H, W] view
    if nearest:
        return TF.resize(chw, [size, size], InterpolationMode.NEAREST_EXACT, antialias=False)
    return TF.resize(chw, [size, size], InterpolationMode.BILINEAR, antialias=True)


def _crop_views(images, idx, oy, ox, flip, size: int, select_first: bool | None = None):
    """Per-sample slices; oy, ox, flip [B] on the CPU (Python ints: no device sync), idx [B] on
    the CPU or on the images' device (then the B rows are first copied out with index_select:
    select_first, by default when idx is not on the CPU)."""
    if select_first is None:
        select_first = idx.device.type != "cpu"
    if not select_first:
        source, rows = images, idx.tolist()
    else:
        source, rows = images.index_select(0, idx), range(len(idx))  # [B, 3, L, L]
    crops = [source[r, :, y:y + size, x:x + size] for r, y, x in zip(rows, oy.tolist(), ox.tolist())]
    return torch.stack([c.flip(-1) if f else c for c, f in zip(crops, flip.tolist())])


def _crop_gather(images, idx, oy, ox, flip, size: int) -> torch.Tensor:
    """One advanced-indexing gather; every argument on the images' device."""
    ar = torch.arange(size, device=images.device)
    rows = oy[:, None] + ar                                             # [B, S]
    cols = ox[:, None] + torch.where(flip[:, None], size - 1 - ar, ar)  # [B, S]
    ch = torch.arange(3, device=images.device)
    return images[idx[:, None, None, None], ch[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]     # [B, 3, S, S]


class ImageBank:
    """a: [N, 3, L, L] uint8 or None (label-only sets); b: [N, 3, L, L] uint8; same device."""

    def __init__(self, a: torch.Tensor | None, b: torch.Tensor, indices: Sequence[int],
                 stems: Sequence[str], archetypes: Sequence[str | None]):
        if a is not None and a.shape != b.shape:
            raise ValueError(f"A bank {tuple(a.shape)} and B bank {tuple(b.shape)} differ")
        self.a, self.b = a, b
        self.indices = list(indices)    # bank row -> index in the reader it came from
        self.stems, self.archetypes = list(stems), list(archetypes)

    @classmethod
    def from_reader(cls, reader: SplitReader, load_size: int, device: str | torch.device = "cpu",
                    indices: Sequence[int] | None = None) -> "ImageBank":
        """Decode reader[i] for i in indices (default: all) once, resize, move to `device`."""
        indices = list(range(len(reader))) if indices is None else [int(i) for i in indices]
        nearest_b = reader.kind in NEAREST_B_KINDS

        def decode(i: int):
            s = reader[i]
            a = None if s.a is None else _resize(s.a, load_size, nearest=False)
            return a, _resize(s.b, load_size, nearest=nearest_b)

        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            pairs = list(pool.map(decode, indices))
        a = None if pairs[0][0] is None else torch.stack([p[0] for p in pairs]).to(device)
        b = torch.stack([p[1] for p in pairs]).to(device)
        return cls(a, b, indices, [reader.stems[i] for i in indices],
                   [reader.archetypes[i] for i in indices])

    def __len__(self) -> int:
        return self.b.shape[0]

    @property
    def device(self) -> torch.device:
        return self.b.device

    @property
    def load_size(self) -> int:
        return self.b.shape[-1]

    def draw(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """[batch] int64 uniform random bank rows, on the generator's device."""
        return torch.randint(len(self), (batch,), generator=generator, device=generator.device)

    def _offsets(self, batch: int, size: int, generator: torch.Generator):
        """Crop rows / columns in [0, L - S] and flip flags, each [batch] on the generator's device."""
        if not 1 <= size <= self.load_size:
            raise ValueError(f"crop size {size} must be in 1..load_size={self.load_size}")
        dev, span = generator.device, self.load_size - size + 1
        oy = torch.randint(span, (batch,), generator=generator, device=dev)
        ox = torch.randint(span, (batch,), generator=generator, device=dev)
        flip = torch.randint(2, (batch,), generator=generator, device=dev).bool()
        return oy, ox, flip

    def _crop(self, images: torch.Tensor, idx, offsets, size: int) -> torch.Tensor:
        """[B, 3, S, S] crops of rows idx (flipped where asked), as float in [-1, 1].

        Offsets drawn on the CPU: slices per sample. Drawn on the GPU: one gather kernel over
        precomputed pixel indices. Neither waits for the GPU.
        """
        idx = torch.as_tensor(idx, dtype=torch.long)
        if offsets[0].device.type == "cpu":
            crops = _crop_views(images, idx, *offsets, size)
        else:
            crops = _crop_gather(images, idx.to(self.device), *offsets, size)
        # uint8 -> float [-1, 1] in the default dtype (float32; float64 in exactness tests);
        # ~2x faster on the CPU than one promoting crops.mul(1 / 127.5)
        return crops.to(torch.get_default_dtype()).mul_(1 / 127.5).sub_(1.0)

    def side(self, domain: str, idx: torch.Tensor, size: int, generator: torch.Generator):
        """One domain ("a" or "b") of rows idx, each with its own random crop and flip."""
        images = {"a": self.a, "b": self.b}[domain]
        if images is None:
            raise ValueError("this bank holds no A images (a label-only set)")
        return self._crop(images, idx, self._offsets(len(idx), size, generator), size)

    def paired(self, idx: torch.Tensor, size: int, generator: torch.Generator):
        """(A, B) of rows idx with the same crop and flip on both halves of each pair."""
        if self.a is None:
            raise ValueError("this bank holds no A images (a label-only set)")
        offsets = self._offsets(len(idx), size, generator)
        return self._crop(self.a, idx, offsets, size), self._crop(self.b, idx, offsets, size)

    def unpaired(self, idx_a: torch.Tensor, idx_b: torch.Tensor, size: int,
                 generator: torch.Generator, b_bank: "ImageBank | None" = None):
        """A from this bank's rows idx_a, B from b_bank's (default this bank) rows idx_b;
        independent crops and flips."""
        a = self.side("a", idx_a, size, generator)
        return a, (self if b_bank is None else b_bank).side("b", idx_b, size, generator)
