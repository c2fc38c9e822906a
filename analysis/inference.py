"""The statistics behind every interval and test fewpair prints (scipy.stats; no pandas).

One home for them: the tables (analysis.stats, analysis.effects), the plots' bands and the
adaptive-seeds stopping rule (sweeps/plan/adaptive.py) all call these functions.

- mean_ci: a cell's mean with a bootstrap 95 % CI (percentile; BCa fails on the near-constant
  metrics a handful of seeds gives).
- delta_ci: selector - random, the difference of two independent samples' means, bootstrapped by
  resampling each arm on its own (scipy.stats.bootstrap, paired=False).
- permutation_p: two-sided permutation test of that difference (exact when the arms are small
  enough for every split to be enumerated, as with 10 + 10 seeds or fewer per scipy's rule).
- prob_improvement: P(selector > random), the Mann-Whitney U over n*m, ties counted half
  (rliable's "probability of improvement", Agarwal et al. 2021).
- holm: Holm's step-down adjustment of one table's p-values (scipy has BH only).
Below MIN_N values in an arm every statistic is NaN: three seeds is the fewest that give an
interval worth printing.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

MIN_N = 3               # fewest values per arm for a CI / test; below, the tables say "too few"
CONFIDENCE = 0.95
RESAMPLES = 9999        # scipy's default; percentile CIs settle to ~3 decimals at this count
SEED = 0                # fixed: the same rows always print the same intervals and p-values

Values = Sequence[float] | np.ndarray


def _clean(values: Values) -> np.ndarray:
    """The non-NaN values, sorted: resampling with a fixed seed then gives the same interval
    whatever order the rows were read in."""
    array = np.asarray(values, dtype=float)
    return np.sort(array[~np.isnan(array)])


def _diff_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _interval(data: tuple[np.ndarray, ...], statistic) -> tuple[float, float]:
    if all(np.ptp(d) == 0 for d in data):     # every resample gives the same statistic
        value = float(statistic(*data))
        return value, value
    result = stats.bootstrap(data, statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                             method="percentile", paired=False, vectorized=True,
                             rng=np.random.default_rng(SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_ci(values: Values) -> tuple[float, float]:
    """(low, high) of the bootstrap 95 % CI of the mean; (nan, nan) below MIN_N values."""
    x = _clean(values)
    if len(x) < MIN_N:
        return math.nan, math.nan
    return _interval((x,), np.mean)


def delta_ci(selector: Values, baseline: Values) -> tuple[float, float]:
    """(low, high) of the bootstrap 95 % CI of mean(selector) - mean(baseline), each arm
    resampled on its own; (nan, nan) when either arm has fewer than MIN_N values."""
    x, y = _clean(selector), _clean(baseline)
    if min(len(x), len(y)) < MIN_N:
        return math.nan, math.nan
    return _interval((x, y), _diff_of_means)


def permutation_p(selector: Values, baseline: Values) -> float:
    """Two-sided permutation-test p-value of the difference of means; NaN below MIN_N."""
    x, y = _clean(selector), _clean(baseline)
    if min(len(x), len(y)) < MIN_N:
        return math.nan
    result = stats.permutation_test((x, y), _diff_of_means, permutation_type="independent",
                                    alternative="two-sided", n_resamples=RESAMPLES,
                                    vectorized=True, rng=np.random.default_rng(SEED))
    return float(result.pvalue)


def prob_improvement(selector: Values, baseline: Values) -> float:
    """P(a selector seed beats a random seed): U / (n m), ties half; NaN below MIN_N."""
    x, y = _clean(selector), _clean(baseline)
    if min(len(x), len(y)) < MIN_N:
        return math.nan
    return float(stats.mannwhitneyu(x, y).statistic) / (len(x) * len(y))


def holm(pvalues: Values) -> np.ndarray:
    """Holm-adjusted p-values, in the input's order; NaN entries stay NaN and do not count.
    Sorted ascending, the i-th (0-based) of m becomes max over j <= i of (m - j) p_(j), capped
    at 1."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out

