"""analysis.inference and analysis.effects: every number checked against scipy's own call on the
same arrays, or against a hand count / brute-force enumeration -- not only that columns exist."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis import build_table, render, selection_effects
from analysis.inference import (delta_ci, holm, mean_ci, permutation_p, prob_improvement,
                                welch_p)

KMEDOIDS_1 = [.5, .6, .7]                # Table 1, one pair (analysis_rows.TABLE_1_VALUES)
RANDOM_1 = [.2, .3, .4, .5, .6]


def _diff(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _exact_two_sided(x, y) -> float:
    """Every split of the pooled values into |x| + |y|: scipy's two-sided p (twice the smaller
    tail, both tails counting the observed split), enumerated by hand."""
    pooled, observed = np.array([*x, *y]), np.mean(x) - np.mean(y)
    null = [pooled[list(a)].mean() - np.delete(pooled, list(a)).mean()
            for a in itertools.combinations(range(len(pooled)), len(x))]
    null = np.round(null, 12)
    tail = min((null >= round(observed, 12)).mean(), (null <= round(observed, 12)).mean())
    return min(1.0, 2 * tail)


def test_permutation_p_is_scipys_and_the_exact_enumeration():
    p = permutation_p(KMEDOIDS_1, RANDOM_1)
    ref = stats.permutation_test((KMEDOIDS_1, RANDOM_1), _diff, permutation_type="independent",
                                 alternative="two-sided", vectorized=True,
                                 rng=np.random.default_rng(0)).pvalue
    assert p == pytest.approx(ref)
    assert p == pytest.approx(_exact_two_sided(KMEDOIDS_1, RANDOM_1))    # 56 splits: exact
    assert permutation_p([.7] * 5, [.6] * 5) == pytest.approx(2 / 252)   # the one extreme split


def test_t_and_welch_intervals_and_p_are_scipys():
    x = np.array([.61, .63, .59, .64, .60, .62])
    ref = stats.ttest_1samp(x, 0).confidence_interval(0.95)
    assert mean_ci(x) == pytest.approx((ref.low, ref.high))
    assert mean_ci(x) == mean_ci(x[::-1])                                     # any row order
    test = stats.ttest_ind(KMEDOIDS_1, RANDOM_1, equal_var=False)
    ref = test.confidence_interval(0.95)
    low, high = delta_ci(KMEDOIDS_1, RANDOM_1)
    assert (low, high) == pytest.approx((ref.low, ref.high)) and low < .2 < high
    assert welch_p(KMEDOIDS_1, RANDOM_1) == pytest.approx(test.pvalue)
    shifted = stats.ttest_ind(np.subtract(KMEDOIDS_1, .05), RANDOM_1, equal_var=False).pvalue
    assert welch_p(KMEDOIDS_1, RANDOM_1, null=.05) == pytest.approx(shifted)
    assert delta_ci([.7] * 3, [.6] * 3) == pytest.approx((.1, .1))           # constant arms
    assert (welch_p([.7] * 3, [.6] * 3), welch_p([.7] * 3, [.6] * 3, null=.1)) == (0.0, 1.0)
    assert delta_ci([.7] * 3, [.5, .6, .7]) == pytest.approx(                 # one arm constant
        tuple(stats.ttest_ind([.7] * 3, [.5, .6, .7], equal_var=False).confidence_interval()))


def test_the_welch_p_and_its_interval_never_disagree():
    """p < .05 exactly when the 95 % CI excludes the null, whichever null (the demo once
    printed Δ +.038 [+.002, +.073] beside a permutation p of .200)."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.normal(.55, .03, rng.integers(3, 11)), rng.normal(.52, .03, rng.integers(3, 11))
        low, high = delta_ci(a, b)
        for null in (0.0, .02, -.02, low - 1e-9, high + 1e-9):
            assert (welch_p(a, b, null) < .05) == (not low <= null <= high)


# Coverage at the grids' seed counts (bench/ci_coverage.py prints the full comparison with the
# bootstrap). Shapes: normal, gamma with shape 9 (skewness .67) and 4 (skewness 1), and the
# exponential (skewness 2); the mean of one exponential arm is left out: no method tried covers
# it at n <= 10 (t .88-.91), and the tables never show a single arm that skewed.
MEAN_SHAPES = {"normal": (lambda rng, s: rng.normal(.5, .03, s), .5),
               "gamma 9": (lambda rng, s: rng.gamma(9., .01, s), .09)}
DELTA_SHAPES = {"normal": lambda rng, s: rng.normal(.5, .03, s),
                "gamma 4": lambda rng, s: rng.gamma(4., .015, s),
                "exponential": lambda rng, s: rng.exponential(.03, s)}
REPLICATIONS = 1000   # Monte Carlo s.e. of a .95 coverage: .007


@pytest.mark.parametrize("n", [3, 5, 10])
def test_intervals_keep_their_coverage_at_few_seeds(n):
    rng = np.random.default_rng(29 + n)
    for shape, (draw, mu) in MEAN_SHAPES.items():
        hits = [low <= mu <= high for low, high in map(mean_ci, draw(rng, (REPLICATIONS, n)))]
        assert np.mean(hits) >= .93, (shape, "mean", n, np.mean(hits))
    for shape, draw in DELTA_SHAPES.items():
        a, b = draw(rng, (REPLICATIONS, n)), draw(rng, (REPLICATIONS, n))
        hits = [low <= 0 <= high for low, high in map(delta_ci, a, b)]
        assert np.mean(hits) >= .93, (shape, "delta", n, np.mean(hits))


def test_probability_of_improvement_counts_ties_half():
    # .5 beats 3 and ties 1; .6 beats 4 and ties 1; .7 beats 5: (3.5 + 4.5 + 5) / 15
    assert prob_improvement(KMEDOIDS_1, RANDOM_1) == pytest.approx(13 / 15)
    assert prob_improvement(RANDOM_1, KMEDOIDS_1) == pytest.approx(2 / 15)
    assert prob_improvement([.6] * 3, [.6] * 4) == pytest.approx(.5)


def test_holm_against_a_hand_computed_case():
    # sorted .005 .01 .03 .04 (m = 4): 4*.005=.02, 3*.01=.03, 2*.03=.06, max(1*.04, .06)=.06
    adjusted = holm([.01, .04, .03, math.nan, .005])
    assert adjusted[[0, 1, 2, 4]] == pytest.approx([.03, .06, .06, .02])
    assert math.isnan(adjusted[3])
    assert list(holm([.4, .6])) == pytest.approx([.8, .8]) and list(holm([.9, .8])) == [1.0, 1.0]


def test_too_few_seeds_give_no_statistic():
    assert all(math.isnan(v) for v in (*mean_ci([.5, .6]), *delta_ci([.5, .6, .7], [.5, .6]),
                                       permutation_p([.5, .6], [.5, .6, .7]),
                                       prob_improvement([.5], [.5, .6, .7])))


def test_selection_effects_table_1(paper_results):
    effects = selection_effects(build_table("1", paper_results)[0]).set_index(["n_paired", "selector"])
    assert list(effects.index) == [(1, "kmedoids"), (5, "kmedoids")]
    one, five = effects.loc[(1, "kmedoids")], effects.loc[(5, "kmedoids")]
    assert (one["n"], one["n_random"]) == (3, 5)
    assert one["delta_mean"] == pytest.approx(.2) and one["delta_worst"] == pytest.approx(.3)
    assert (one["delta_ci_low"], one["delta_ci_high"]) == pytest.approx(delta_ci(KMEDOIDS_1, RANDOM_1))
    assert one["p"] == pytest.approx(stats.ttest_ind(KMEDOIDS_1, RANDOM_1, equal_var=False).pvalue)
    assert one["p_improve"] == pytest.approx(13 / 15) and five["p_improve"] == 1.0
    assert five["p"] == 0.0                      # two constant arms .1 apart: Welch's p is 0
    assert list(effects["p_holm"]) == pytest.approx(list(holm([one["p"], five["p"]])))
    assert "delta_in_random_std" not in effects        # the fragile ratio is gone


def test_two_seed_comparisons_say_too_few(paper_results):
    table = build_table("2", paper_results)[0]
    effects = selection_effects(table)
    assert len(effects) == 1 and effects.iloc[0]["delta_mean"] == pytest.approx(.15)
    assert math.isnan(effects.iloc[0]["p"]) and math.isnan(effects.iloc[0]["delta_ci_low"])
    text = render([table], "md")
    line = next(l for l in text.splitlines() if "| kmedoids" in l and "2 vs 2" in l)
    assert "+.150 (n=2: too few)" in line and line.count("too few") == 4   # Δ, p, Holm p, P(>)
    assert "random std" not in text
    assert selection_effects(build_table("5", paper_results)[0]).empty       # no random cell there
