"""The history of generated images a discriminator trains on (Shrivastava et al.; CycleGAN's
ImagePool), kept on the training device as one preallocated tensor.

Until the pool is full every fake is stored and returned; after that each fake, with
probability 1/2, is swapped with a uniformly chosen stored one (the stored one is returned),
else returned as is. The coin flips come from a CPU `torch.Generator` the caller owns (part of
the explicit training state), so they never synchronise with the GPU.
"""
from __future__ import annotations

import torch

SWAP_PROBABILITY = 0.5  # CycleGAN's choice


class ImagePool:
    def __init__(self, size: int):
        self.size = size                       # 0 disables the pool (fakes pass through)
        self.images: torch.Tensor | None = None  # [size, 3, S, S] on the fakes' device, dtype
        self.count = 0                          # filled slots

    def query(self, fakes: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """fakes [N, 3, S, S] (detached) -> [N, 3, S, S] drawn from the history as above."""
        if self.size == 0:
            return fakes
        if self.images is None:
            self.images = fakes.new_empty((self.size, *fakes.shape[1:]))
        out = []
        for image in fakes:
            out.append(self._one(image, rng))
        return torch.stack(out)

    def _one(self, image: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.count < self.size:
            self.images[self.count].copy_(image)
            self.count += 1
            return image
        if torch.rand((), generator=rng).item() >= SWAP_PROBABILITY:
            return image
        slot = int(torch.randint(self.size, (), generator=rng))
        old = self.images[slot].clone()
        self.images[slot].copy_(image)
        return old

    # --- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        stored = None if self.images is None else self.images[:self.count].clone()
        return {"size": self.size, "count": self.count, "images": stored}

    def load_state_dict(self, state: dict) -> None:
        if state["size"] != self.size:
            raise ValueError(f"image pool size {state['size']} in the checkpoint != {self.size}")
        self.count = state["count"]
        stored = state["images"]
        if stored is None:
            self.images = None
            return
        self.images = stored.new_empty((self.size, *stored.shape[1:]))
        self.images[:self.count].copy_(stored)
