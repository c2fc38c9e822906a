"""The statistics behind every interval and test fewpair prints (scipy.stats; no pandas).

One home for them: the tables (analysis.stats, analysis.effects), the claims' verdicts
(analysis.claims), the plots' bands and the adaptive-seeds stopping rule
(sweeps/plan/adaptive.py) all call these functions.

- mean_ci: a cell's mean with its t interval (mean ± t(n-1) s / sqrt(n)).
- delta_ci: A - B, the difference of two independent samples' means, with Welch's interval
  (unequal variances, Welch-Satterthwaite degrees of freedom), as
  scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval() gives it.
- welch_p: Welch's two-sided p of "A - B = null" (null 0 by default). It is the interval's
  dual: welch_p(a, b, c) < 1 - CONFIDENCE exactly when delta_ci(a, b) excludes c, so a printed
  CI and its p never disagree.
- permutation_p: two-sided permutation test of the difference of means (exact when scipy can
  enumerate every split within RESAMPLES, e.g. 5 + 5 seeds (252 splits) or 6 + 10 (8,008);
  10 + 10 (184,756 splits) is a seeded Monte Carlo estimate from RESAMPLES of them). No table
  prints it any more (the verdicts use Welch's p); bench scripts still do.
- prob_improvement: P(A > B), the Mann-Whitney U over n*m, ties counted half
  (rliable's "probability of improvement", Agarwal et al. 2021).
- holm: Holm's step-down adjustment of one table's p-values (scipy has BH only).

Why t / Welch and not the bootstrap: at the seed counts the grids use (3-10 per arm) the
percentile bootstrap the tables printed until issue 29 covered .76-.89 of the time for a mean
and .81-.92 for a difference at a nominal .95, and the bootstrap-t gives unbounded intervals at
n = 3; the t / Welch intervals covered .94-.97 on normal data and, for differences, on skewed
data too (bench/ci_coverage.py; tests/test_analysis_effects.py keeps them >= .93). Neither
method covers the mean of one strongly skewed arm at n <= 10 (exponential: t .88-.92).
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
RESAMPLES = 9999        # scipy's default: permutation splits drawn when they cannot all be
SEED = 0                # fixed: the same values always give the same permutation p

Values = Sequence[float] | np.ndarray


def _clean(values: Values) -> np.ndarray:
    """The non-NaN values, sorted: resampling with a fixed seed then gives the same interval
    whatever order the rows were read in."""
    array = np.asarray(values, dtype=float)
    return np.sort(array[~np.isnan(array)])


def _diff_of_means(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _t(df: float) -> float:
    """The two-sided CONFIDENCE quantile of Student's t with `df` degrees of freedom."""
    return float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, df))


def mean_ci(values: Values) -> tuple[float, float]:
    """(low, high) of the t 95 % CI of the mean; (nan, nan) below MIN_N values."""
    x = _clean(values)
    if len(x) < MIN_N:
        return math.nan, math.nan
    mean = float(x.mean())
    se = 0.0 if np.ptp(x) == 0 else float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean - _t(len(x) - 1) * se, mean + _t(len(x) - 1) * se


def _welch(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(difference of means, its standard error, Welch-Satterthwaite degrees of freedom)."""
    vx, vy = (0.0 if np.ptp(v) == 0 else float(v.var(ddof=1)) / len(v) for v in (x, y))
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (len(x) - 1) + vy ** 2 / (len(y) - 1)) if se > 0 else math.inf
    return float(x.mean() - y.mean()), se, df


def delta_ci(selector: Values, baseline: Values) -> tuple[float, float]:
    """(low, high) of Welch's 95 % CI of mean(selector) - mean(baseline); (nan, nan) when
    either arm has fewer than MIN_N values. Two constant arms give (Δ, Δ)."""
    x, y = _clean(selector), _clean(baseline)
    if min(len(x), len(y)) < MIN_N:
        return math.nan, math.nan
    delta, se, df = _welch(x, y)
    return delta - _t(df) * se, delta + _t(df) * se


def welch_p(selector: Values, baseline: Values, null: float = 0.0) -> float:
    """Welch's two-sided p of mean(selector) - mean(baseline) = `null`; NaN below MIN_N.
    Two constant arms: 1 when their difference is `null`, else 0."""
    x, y = _clean(selector), _clean(baseline)
    if min(len(x), len(y)) < MIN_N:
        return math.nan
    delta, se, df = _welch(x, y)
    if se == 0:
        return 1.0 if math.isclose(delta, null, abs_tol=1e-12) else 0.0
    return float(2 * stats.t.sf(abs(delta - null) / se, df))


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

