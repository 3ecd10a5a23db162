"""The report's statistics on fixed numbers: scipy's results, and exact references enumerated by hand."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from yololab.study import stats

A = [0.512, 0.498, 0.530, 0.505, 0.521, 0.517, 0.509, 0.526, 0.501, 0.514]
B = [0.497, 0.499, 0.511, 0.490, 0.508, 0.502, 0.511, 0.509, 0.488, 0.500]


def test_summary_is_mean_sample_std_and_scipy_bootstrap():
    s = stats.summarize(A)
    expected = scipy_stats.bootstrap((np.array(A),), np.mean, confidence_level=0.95, n_resamples=9999,
                                     method="percentile", rng=0).confidence_interval
    assert s.n == 10
    assert s.mean == pytest.approx(np.mean(A), abs=1e-15)
    assert s.std == pytest.approx(np.std(A, ddof=1), abs=1e-15)
    assert (s.ci_low, s.ci_high) == (expected.low, expected.high)
    assert s.ci_low < s.mean < s.ci_high


def test_bootstrap_of_too_few_or_equal_values():
    assert all(math.isnan(v) for v in stats.bootstrap_ci([0.5]))
    assert stats.bootstrap_ci([0.25, 0.25, 0.25]) == (0.25, 0.25)


def exact_sign_flip(d) -> float:
    """Two-sided p of the sign-flip test by enumerating every sign pattern."""
    d = np.asarray(d, dtype=float)
    means = np.array([np.mean(d * s) for s in itertools.product((1, -1), repeat=d.size)])
    observed = d.mean()
    return min(1.0, 2 * min(np.mean(means >= observed - 1e-12), np.mean(means <= observed + 1e-12)))


def test_sign_flip_test_is_exact():
    assert stats.sign_flip_test([3.0, 2.0, 1.0], [0.0, 0.0, 0.0]) == pytest.approx(0.25)  # 2 of 8 patterns
    p = stats.sign_flip_test(A, B)
    assert p == pytest.approx(exact_sign_flip(np.subtract(A, B)), abs=1e-12)
    assert p == pytest.approx(8 / 2**10, abs=1e-12)  # A > B on 9 seeds; 4 of 1024 patterns reach the mean, x2
    mixed = [0.02, -0.01, 0.03, 0.015, -0.005, 0.01]
    assert stats.sign_flip_test(mixed, [0.0] * 6) == pytest.approx(exact_sign_flip(mixed), abs=1e-12)


def test_one_pair_is_no_evidence():
    """A study stopped after one seed per arm: the exact p of one pair is 1 (both signs equally extreme)."""
    result = stats.paired("a", "b", {0: 0.30}, {0: 0.25})
    assert result.n == 1 and result.p == 1.0 and result.mean_diff == pytest.approx(0.05)
    assert math.isnan(result.ci_low) and math.isnan(result.sd)


def test_trend_on_one_seed_is_exact():
    """One seed, 3 equally spaced levels, a monotone response: 2 of the 3! orderings reach its |change|
    (itself and its reverse)."""
    result = stats.trend([0.0, 0.1, 0.2], [[0.20], [0.25], [0.40]])
    assert result.n == 1 and result.p == pytest.approx(2 / 6)
    assert result.change == pytest.approx(result.per_seed[0])


def test_sign_flip_floor():
    assert stats.sign_flip_floor(3) == 0.25
    assert stats.sign_flip_floor(5) == 0.0625


def test_paired_uses_common_seeds_only():
    c = stats.paired("leaky", "relu", {0: 0.50, 1: 0.40, 2: 0.45, 7: 0.9}, {0: 0.52, 1: 0.43, 2: 0.46, 5: 0.1})
    assert c.n == 3
    assert c.mean_diff == pytest.approx(np.mean([-0.02, -0.03, -0.01]))
    assert c.p == pytest.approx(0.25)


def test_holm_against_hand_computed_values():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(stats.holm([0.5, 0.9]), [1.0, 1.0])
    adjusted = stats.holm([0.01, math.nan, 0.02])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.02)


def test_spread_test_is_the_exact_permutation_test():
    columns = [[0.50, 0.47], [0.52, 0.46], [0.58, 0.55]]  # three arms, two seeds
    table = np.array(columns).T  # rows: seeds

    def spread(t):
        return np.var(t.mean(axis=0))

    observed = spread(table)
    arrangements = [np.array([row[list(p)] for row, p in zip(table, perms, strict=True)])
                    for perms in itertools.product(itertools.permutations(range(3)), repeat=2)]
    expected = np.mean([spread(t) >= observed - 1e-15 for t in arrangements])
    assert stats.spread_test(columns) == pytest.approx(expected)


def test_paired_interval_is_students_t():
    c = stats.paired("a", "b", dict(enumerate(A)), dict(enumerate(B)))
    d = np.subtract(A, B)
    low, high = scipy_stats.t.interval(0.95, d.size - 1, loc=d.mean(), scale=scipy_stats.sem(d))
    assert (c.ci_low, c.ci_high) == pytest.approx((low, high), abs=1e-15)
    assert c.sd == pytest.approx(d.std(ddof=1))
    two = stats.paired("a", "b", {0: 0.505, 1: 0.495}, {0: 0.5, 1: 0.5})  # the bootstrap would say [-0.5, +0.5]
    assert two.ci_low < -0.05 and two.ci_high > 0.05


def test_min_detectable_effect_has_the_stated_power():
    sd, n, alpha, family = 0.01, 10, 0.05, 2
    effect = stats.min_detectable(sd, n, alpha, family)
    rng = np.random.default_rng(0)
    diffs = rng.normal(effect, sd, size=(20000, n))
    t = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / np.sqrt(n))
    power = np.mean(np.abs(t) > scipy_stats.t.ppf(1 - alpha / family / 2, n - 1))
    assert power == pytest.approx(0.8, abs=0.01)
    assert stats.min_detectable(sd, 5, alpha) == math.inf  # 2/2^5 = 0.0625: no 5-seed result is significant
    assert stats.min_detectable(sd, 6, alpha, family=2) == math.inf  # 2 x 2/2^6 = 0.0625
    assert stats.min_detectable(math.nan, 1, alpha) == math.inf
    assert stats.min_detectable(0.0, 10, alpha) == 0.0


@pytest.mark.parametrize(("sd", "effect", "family"), [(0.0094, 0.01, 3), (0.02, 0.01, 3), (0.005, 0.01, 1)])
def test_seeds_for_a_power_target_are_the_fewest_with_it(sd, effect, family):
    """Simulated paired t-tests (independent of the noncentral t): n seeds reach 80% power, n - 1 do not."""
    alpha = 0.05
    n = stats.seeds_for(sd, effect, alpha, family)
    rng = np.random.default_rng(1)

    def power(k: int) -> float:
        diffs = rng.normal(effect, sd, size=(40000, k))
        t = diffs.mean(axis=1) / (diffs.std(axis=1, ddof=1) / np.sqrt(k))
        return float(np.mean(np.abs(t) > scipy_stats.t.ppf(1 - alpha / family / 2, k - 1)))

    assert power(n) >= 0.8 - 0.01
    if n > 2:
        assert power(n - 1) < 0.8 + 0.01
    assert stats.seeds_for(sd, effect, alpha, family, test="sign_flip") >= n  # the permutation floor only adds
    assert stats.seeds_for(1.0, 1e-6, alpha, family, most=50) is None


def test_trend_with_two_levels_is_the_paired_test():
    t = stats.trend([0.0, 0.1], [B, A])
    assert t.change == pytest.approx(np.mean(np.subtract(A, B)))
    assert t.p == pytest.approx(stats.sign_flip_test(A, B), abs=1e-12)
    assert t.levels == (0.0, 0.1) and t.n == 10


def test_trend_is_the_exact_within_seed_permutation_test():
    levels = np.array([0.0, 0.1, 0.3])
    table = np.array([[0.50, 0.49, 0.47], [0.52, 0.52, 0.48], [0.47, 0.46, 0.45]])  # rows: seeds

    def change(t):
        c = levels - levels.mean()
        return np.mean(t @ c / np.sum(c**2)) * 0.3

    observed = change(table)
    arrangements = [np.array([row[list(p)] for row, p in zip(table, perms, strict=True)])
                    for perms in itertools.product(itertools.permutations(range(3)), repeat=3)]
    null = np.array([change(t) for t in arrangements])
    expected = min(1.0, 2 * min(np.mean(null <= observed + 1e-12), np.mean(null >= observed - 1e-12)))
    t = stats.trend(levels, table.T)
    assert t.change == pytest.approx(observed)
    assert t.p == pytest.approx(expected)
    assert stats.trend_floor(3, 3) == pytest.approx(2 / 216)


def test_paired_t_test_against_a_hand_computed_value():
    """Differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641 on 2 degrees of freedom; the two-sided
    p of t on 2 df is 1 - t / sqrt(t^2 + 2) in closed form = 1 - 3.4641 / 3.7417 = 0.07418."""
    t = 2 / (1 / math.sqrt(3))
    assert stats.paired_t_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0]) == pytest.approx(1 - t / math.sqrt(t * t + 2),
                                                                                abs=1e-12)
    assert stats.paired_t_test([0.3], [0.2]) == 1.0  # one pair: no degrees of freedom, no evidence
    assert stats.paired_t_test([0.3, 0.4], [0.3, 0.4]) == 1.0 and stats.paired_t_test([0.5, 0.75], [0.25, 0.5]) == 0.0


def test_a_study_chooses_the_test_of_p_and_sees_the_other_beside_it():
    x, y = dict(enumerate(A[:5])), dict(enumerate(B[:5]))
    sign_flip, t = stats.paired("a", "b", x, y), stats.paired("a", "b", x, y, test="paired_t")
    assert sign_flip.p == t.p_other == pytest.approx(exact_sign_flip(np.subtract(A[:5], B[:5])), abs=1e-12)
    assert t.p == sign_flip.p_other == pytest.approx(scipy_stats.ttest_rel(A[:5], B[:5]).pvalue, abs=1e-15)
    assert sign_flip.p >= 2 / 2**5 and stats.test_floor("sign_flip", 5) == 2 / 2**5
    assert stats.test_floor("paired_t", 5) == 0.0 and stats.test_floor("paired_t", 1) == 1.0
    # with five seeds the sign-flip test can detect nothing at α = 0.05 / 3; the t-test can
    assert stats.min_detectable(0.005, 5, 0.05, 3) == math.inf
    assert 0 < stats.min_detectable(0.005, 5, 0.05, 3, floor=stats.test_floor("paired_t", 5)) < math.inf


def test_trend_under_the_t_test_is_the_one_sample_t_test_of_the_per_seed_changes():
    levels, columns = [0.0, 0.1, 0.3], [[0.20, 0.22, 0.21], [0.21, 0.22, 0.23], [0.25, 0.24, 0.27]]
    result = stats.trend(levels, columns, test="paired_t")
    assert result.p == pytest.approx(scipy_stats.ttest_1samp(result.per_seed, 0.0).pvalue, abs=1e-15)
    assert result.p_floor == 0.0 and stats.trend(levels, columns).p_floor == pytest.approx(2 / 6**3)
