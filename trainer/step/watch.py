"""Watching K members' losses without a GPU sync per step.

`record` keeps each step's [K] terms on the device; `check()` moves what is new to the CPU in
one transfer and names each member's first non-finite (step, term); `means(k)` returns member
k's loss means over its own window — every step since its previous `means(k)` — and starts
its next one. So members of a pack whose report / eval / checkpoint steps differ each get the
averages they would get alone. A paired term counts only for members whose slot was paired
(alone, no other slot computes one).
"""
from __future__ import annotations

import torch


class NonFiniteLoss(RuntimeError):
    """A loss term became NaN or infinite; the message names the step and the term."""


class LossWatch:
    def __init__(self, k: int = 1):
        self.k = k
        self._rows: list[tuple[int, tuple[str, ...], list[bool], torch.Tensor]] = []
        self._sums: list[dict[str, list[float]]] = [{} for _ in range(k)]
        self.failures: dict[int, str] = {}   # member -> 'non-finite loss at step s: t = v'

    def record(self, step: int, terms: dict[str, torch.Tensor], paired: list[bool]) -> None:
        """`step`: 1-based number of the step that produced `terms` ({name: [K]})."""
        names = tuple(terms)
        rows = torch.stack([terms[n].float().reshape(self.k) for n in names])   # [terms, K]
        self._rows.append((step, names, list(paired), rows))

    def check(self) -> dict[int, str]:
        """Move the recorded rows to the CPU (one transfer); returns the members that went
        non-finite in them, with the first bad step and term each."""
        if not self._rows:
            return {}
        flat = torch.cat([r[3].flatten() for r in self._rows]).cpu()
        blocks = flat.split([r[3].numel() for r in self._rows])
        new: dict[int, str] = {}
        for (step, names, paired, _), block in zip(self._rows, blocks):
            values = block.view(len(names), self.k).tolist()
            for k in range(self.k):
                if k in self.failures or k in new:
                    continue
                bad = _add(self._sums[k], names, [row[k] for row in values], paired[k])
                if bad:
                    new[k] = f"non-finite loss at step {step}: {bad}"
        self._rows.clear()
        self.failures |= new
        return new

    def means(self, k: int = 0) -> dict[str, float]:
        """Member k's means over its window (call `check()` first); starts the next window."""
        sums, self._sums[k] = self._sums[k], {}
        return {name: sum(v) / len(v) for name, v in sums.items()}

    def flush(self) -> dict[str, float]:
        """A trial alone: check, then raise NonFiniteLoss or return its means."""
        failed = self.check()
        if failed:
            raise NonFiniteLoss(failed[0])
        return self.means(0)


def _add(sums: dict, names, values, paired: bool) -> str | None:
    for name, value in zip(names, values):
        if name.startswith("paired_") and not paired:
            continue
        if value != value or value in (float("inf"), float("-inf")):
            return f"{name} = {value}"
        sums.setdefault(name, []).append(value)
    return None
