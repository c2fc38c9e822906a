"""How often a nominal 95 % interval covers the true mean / difference of means at the seed
counts fewpair's grids use (n = 3, 5, 10 per arm), for the intervals analysis/inference.py
could print:

- percentile: the percentile bootstrap (what the tables printed until issue 29)
- student-t: the bootstrap-t (studentized) bootstrap
- t / Welch: the t interval of a mean, Welch's interval of a difference (no resampling)

    python bench/ci_coverage.py [--reps 2000] [--resamples 2000]

Data: normal, and three skewed shapes: gamma with shape 4 (skewness 1), exponential (skewness
2; harsher than any accuracy seen here) and
"one bad seed" (a normal arm in which 10 % of seeds draw a catastrophic pick .15 lower, as
random selection at one pair does, docs/learning-curve.md). Differences compare two arms of
the same shape and n. Every method is vectorized over replications in numpy (the bootstrap
resamples share one index draw per replication count); seeded, so a rerun prints the same.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
NS = (3, 5, 10)
SHAPES = ("normal", "gamma", "exponential", "one bad seed")


def _draw(shape: str, rng: np.random.Generator, size: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Samples and their true mean."""
    if shape == "normal":
        return rng.normal(0.5, 0.03, size), 0.5
    if shape == "exponential":
        return rng.exponential(0.03, size), 0.03
    if shape == "gamma":
        return rng.gamma(4.0, 0.015, size), 0.06
    bad = rng.random(size) < 0.1
    return rng.normal(0.5, 0.02, size) - 0.15 * bad, 0.5 - 0.015


def _percentile(boot: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tail = (1 - CONFIDENCE) / 2
    return np.quantile(boot, tail, axis=-1), np.quantile(boot, 1 - tail, axis=-1)


def _resample(x: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
    """(reps, b, n) resamples of each replication's n values."""
    reps, n = x.shape
    idx = rng.integers(0, n, (reps, b, n))
    return np.take_along_axis(x[:, None, :], idx, axis=2)


def _se(x: np.ndarray) -> np.ndarray:
    return x.std(axis=-1, ddof=1) / np.sqrt(x.shape[-1])


def _boot_t(point, se, boot_point, boot_se):
    """Bootstrap-t: quantiles of (θ* − θ) / se*; a resample with se* = 0 gives ±inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (boot_point - point[:, None]) / boot_se
    t = np.clip(np.where(np.isnan(t), 0.0, t), -1e9, 1e9)   # keep np.quantile finite
    tail = (1 - CONFIDENCE) / 2
    lo_q, hi_q = np.quantile(t, 1 - tail, axis=-1), np.quantile(t, tail, axis=-1)
    return point - lo_q * se, point - hi_q * se


def mean_intervals(x: np.ndarray, rng: np.random.Generator, b: int) -> dict[str, tuple]:
    point, se = x.mean(-1), _se(x)
    boot = _resample(x, rng, b)
    t = stats.t.ppf(1 - (1 - CONFIDENCE) / 2, x.shape[-1] - 1)
    return {"percentile": _percentile(boot.mean(-1), point),
            "student-t": _boot_t(point, se, boot.mean(-1), _se(boot)),
            "t / Welch": (point - t * se, point + t * se)}


def delta_intervals(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                    b: int) -> dict[str, tuple]:
    point = x.mean(-1) - y.mean(-1)
    vx, vy = x.var(-1, ddof=1) / x.shape[-1], y.var(-1, ddof=1) / y.shape[-1]
    se = np.sqrt(vx + vy)
    bx, by = _resample(x, rng, b), _resample(y, rng, b)
    boot = bx.mean(-1) - by.mean(-1)
    boot_se = np.sqrt(bx.var(-1, ddof=1) / x.shape[-1] + by.var(-1, ddof=1) / y.shape[-1])
    df = (vx + vy) ** 2 / (vx ** 2 / (x.shape[-1] - 1) + vy ** 2 / (y.shape[-1] - 1))
    t = stats.t.ppf(1 - (1 - CONFIDENCE) / 2, df)
    return {"percentile": _percentile(boot, point),
            "student-t": _boot_t(point, se, boot, boot_se),
            "t / Welch": (point - t * se, point + t * se)}


def coverage(reps: int, resamples: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for shape in SHAPES:
        for n in NS:
            x, mu = _draw(shape, rng, (reps, n))
            y, _ = _draw(shape, rng, (reps, n))
            for what, found, truth in (("mean", mean_intervals(x, rng, resamples), mu),
                                       ("delta", delta_intervals(x, y, rng, resamples), 0.0)):
                for method, (low, high) in found.items():
                    out.append({"shape": shape, "n": n, "of": what, "method": method,
                                "coverage": float(np.mean((low <= truth) & (truth <= high)))})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="replications per cell")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    args = parser.parse_args()
    rows = coverage(args.reps, args.resamples)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    print(f"coverage of nominal {CONFIDENCE:.0%} intervals, {args.reps} replications each "
          f"(Monte Carlo s.e. ~{np.sqrt(.95 * .05 / args.reps):.3f})")
    print(f"{'shape':<14}{'of':<7}{'n':>3}  " + "".join(f"{m:>12}" for m in methods))
    for shape in dict.fromkeys(r["shape"] for r in rows):
        for what in ("mean", "delta"):
            for n in NS:
                cells = {r["method"]: r["coverage"] for r in rows
                         if (r["shape"], r["of"], r["n"]) == (shape, what, n)}
                print(f"{shape:<14}{what:<7}{n:>3}  "
                      + "".join(f"{cells[m]:>12.3f}" for m in methods))


if __name__ == "__main__":
    main()
