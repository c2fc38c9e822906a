"""Speed of choosing paired samples on the CPU: 5 of 3,000 ResNet50-sized feature vectors (2,048
dims), every registered strategy, against one plain scikit-learn k-means fit (k = 5, one init, its
default threads) on the same data in the same run: the part of k-medoids nobody can skip.

Target: k-medoids < 2 s. `--pool` also times the paper's pool selection (200 of 3,000).
Run: .venv/bin/python bench/selection_speed.py
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from sklearn.cluster import KMeans

from trainer.selection import STRATEGIES, select

N, D = 3000, 2048   # Cityscapes' 2,975 training images x ResNet50's pooled features
BUDGET = 5          # paired samples
TARGET_S = 2.0      # the limit for k-medoids


def resnet_like(rng: np.random.Generator) -> np.ndarray:
    """[N, D] float32 >= 0: 30 overlapping clusters through a ReLU, like pooled ResNet features."""
    centres = rng.normal(0.0, 1.0, (30, D))
    x = centres[rng.integers(0, 30, N)] + rng.normal(0.0, 1.5, (N, D))
    return np.maximum(x, 0).astype(np.float32)


def timed(fn, repeats: int) -> float:
    """Median wall seconds over `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per strategy")
    parser.add_argument("--pool", action="store_true", help="also time 200 of 3,000 by k-medoids")
    args = parser.parse_args()
    x = resnet_like(np.random.default_rng(0))
    base = timed(lambda: KMeans(BUDGET, n_init=1, random_state=0).fit(x), args.repeats)
    print(f"baseline: one k-means fit (k={BUDGET}, 1 init) on {N}x{D}: {base:.3f} s")
    for name in STRATEGIES:
        t = timed(lambda: select(x, name, BUDGET, seed=0), args.repeats)
        print(f"{name:>10}: {BUDGET} of {N}x{D} in {t:.3f} s  ({t / base:.2f}x the baseline)")
        if name == "kmedoids":
            verdict = "meets" if t < TARGET_S else "MISSES"
            print(f"            {verdict} the {TARGET_S:.0f} s target")
    if args.pool:
        t = timed(lambda: select(x, "kmedoids", 200, seed=0), 1)
        print(f"  kmedoids: 200 of {N}x{D} (the paper's pool) in {t:.1f} s ({t / base:.1f}x the baseline)")


if __name__ == "__main__":
    main()
