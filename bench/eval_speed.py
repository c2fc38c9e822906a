"""Speed of photos->labels scoring on the CPU: one 2048x1024 generated colour image -> 19x19
confusion matrix, fewpair's lookup table + bincount against a naive numpy version (per-pixel
distance to all 19 colours, argmin, masked bincount) measured in the same run.

Target: <= 30 ms per image on 2 cores. Run: .venv/bin/python bench/eval_speed.py
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from trainer.eval import metrics
from trainer.data.palette import IGNORE, PALETTE

H, W = 1024, 2048  # Cityscapes' original label resolution (the paper resizes outputs to it)
TARGET_MS = 30.0   # budget per image on 2 cores


def generated_like(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A translator-like output: a 256x128 label image upsampled bilinearly to 2048x1024 (blended
    edges) plus +-8 noise; the truth is the same layout at full size with 5% ignore pixels."""
    small = rng.integers(0, 19, (16, 32))
    coarse = np.kron(small, np.ones((8, 8), dtype=np.int64))              # [128, 256] ids
    colours = torch.from_numpy(PALETTE[coarse]).permute(2, 0, 1)[None].float()
    big = F.interpolate(colours, size=(H, W), mode="bilinear", align_corners=False)
    rgb = big[0].permute(1, 2, 0).numpy() + rng.integers(-8, 9, (H, W, 3))
    truth = np.kron(small, np.ones((64, 64), dtype=np.int64)).astype(np.uint8)
    truth[rng.random((H, W)) < 0.05] = IGNORE
    return np.clip(rgb.round(), 0, 255).astype(np.uint8), truth


def naive_confusion(rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The obvious numpy version: [N, 19] squared distances, argmin, masked bincount."""
    d = ((rgb.reshape(-1, 1, 3).astype(np.float32) - PALETTE[None].astype(np.float32)) ** 2).sum(-1)
    pred = d.argmin(1)
    t = truth.reshape(-1).astype(np.int64)
    keep = t != IGNORE
    return np.bincount(t[keep] * 19 + pred[keep], minlength=361).reshape(19, 19)


def timed(fn, *args, repeats: int) -> tuple[float, object]:
    """Median wall time in ms over `repeats` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of the fast path")
    parser.add_argument("--naive-repeats", type=int, default=3, help="timed runs of the naive one")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    metrics.palette_lut()
    build_ms = (time.perf_counter() - start) * 1e3
    print(f"cpu threads: {torch.get_num_threads()}; lookup table built once in {build_ms:.0f} ms")
    cases = {"translator-like": generated_like(rng),
             "uniform random colours": (rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
                                        rng.integers(0, 19, (H, W)).astype(np.uint8))}
    for name, (rgb, truth) in cases.items():
        fast_ms, fast = timed(metrics.colour_confusion, rgb, truth, repeats=args.repeats)
        naive_ms, naive = timed(naive_confusion, rgb, truth, repeats=args.naive_repeats)
        assert np.array_equal(fast, naive), "fast and naive confusion matrices differ"
        verdict = "meets" if fast_ms <= TARGET_MS else "MISSES"
        print(f"{name:>24}: fewpair {fast_ms:6.1f} ms/image, naive numpy {naive_ms:7.1f} ms/image, "
              f"speed-up x{naive_ms / fast_ms:.0f}; {verdict} the {TARGET_MS:.0f} ms target")


if __name__ == "__main__":
    main()
