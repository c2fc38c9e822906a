"""Scoring a split image by image: running tallies (overall and per toy archetype) that turn into
the results row's metric columns, and a bounded decode-ahead iterator over a SplitReader.

Columns (docs/contracts.md): segmentation `pixel_acc`, `mean_class_acc`, `mean_iou`, `iou_<class>`;
maps `maps_pixel_acc`. Toy sets add `<metric>__<archetype>` and `<metric>_archmean` (the unweighted
mean over archetypes) for pixel_acc, mean_iou and maps_pixel_acc, so that coverage effects show
beside the pixel-weighted score.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch

from trainer.eval import metrics
from trainer.data.palette import NUM_CLASSES

ARCHETYPE_METRICS = ("pixel_acc", "mean_iou")   # segmentation columns repeated per archetype
DECODE_AHEAD = 4   # samples decoded ahead in threads (PIL releases the GIL); bounds memory


class SegmentationTally:
    """Sums [19, 19] confusion matrices over the split, as the FCN-score scripts do (one hist for
    all images, not a mean of per-image scores), and one hist per archetype."""

    def __init__(self) -> None:
        self.total = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        self.by_archetype: dict[str, np.ndarray] = {}

    def add(self, hist: np.ndarray | torch.Tensor, archetype: str | None) -> None:
        h = hist.cpu().numpy() if isinstance(hist, torch.Tensor) else np.asarray(hist)
        self.total += h
        if archetype is not None:
            self.by_archetype.setdefault(archetype, np.zeros_like(self.total))
            self.by_archetype[archetype] += h

    def row(self) -> dict[str, float]:
        row = metrics.score_row(self.total)
        per = {a: metrics.scores(h) for a, h in sorted(self.by_archetype.items())}
        for name in ARCHETYPE_METRICS if per else ():
            values = [s[name] for s in per.values()]
            row.update({f"{name}__{column_safe(a)}": v for a, v in zip(per, values)})
            row[f"{name}_archmean"] = _nanmean(values)
        return row


class MapsTally:
    """Per-image maps pixel accuracies; the split's score is their mean (the paper's protocol)."""

    def __init__(self) -> None:
        self.scores: list[float] = []
        self.archetypes: list[str | None] = []

    def add(self, accuracy: float, archetype: str | None) -> None:
        self.scores.append(accuracy)
        self.archetypes.append(archetype)

    def row(self) -> dict[str, float]:
        row = {"maps_pixel_acc": _nanmean(self.scores)}
        names = sorted({a for a in self.archetypes if a is not None})
        for a in names:
            mine = [s for s, b in zip(self.scores, self.archetypes) if b == a]
            row[f"maps_pixel_acc__{column_safe(a)}"] = _nanmean(mine)
        if names:
            row["maps_pixel_acc_archmean"] = _nanmean(
                [row[f"maps_pixel_acc__{column_safe(a)}"] for a in names])
        return row


def column_safe(name: str) -> str:
    """Archetype / class name -> column fragment (spaces -> `_`)."""
    return name.replace(" ", "_")


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def decoded(reader, n: int, ahead: int = DECODE_AHEAD) -> Iterator:
    """reader[0], ..., reader[n - 1] in order, decoding up to `ahead` samples in threads."""
    with ThreadPoolExecutor(max_workers=max(1, ahead)) as pool:
        pending: deque = deque()
        for i in range(n):
            pending.append(pool.submit(reader.__getitem__, i))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
