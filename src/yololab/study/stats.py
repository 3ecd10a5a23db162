"""The statistics of a study, all from scipy except Holm's correction (scipy has none; it is five lines here).

- per arm: mean, standard deviation (n-1) and a percentile bootstrap confidence interval of the mean
  (``scipy.stats.bootstrap``);
- an arm against a reference, paired by seed: the mean difference, its Student t interval, the exact
  sign-flip permutation test of the mean difference (``scipy.stats.permutation_test`` with
  ``permutation_type="samples"``: under the null each pair's difference is as likely to have either sign) and
  the paired t-test (``scipy.stats.ttest_rel``); a study names the one its verdicts use (:data:`TESTS`): the
  sign-flip test assumes nothing of the differences' distribution but cannot go below p = 2/2^n (0.0625 with
  5 seeds), the t-test assumes them normal and can reach any p from two pairs on;
- Holm's step-down correction across the arms compared with one reference;
- several arms at once, paired by seed (is the outcome sensitive to a setting?): the permutation test of the
  spread of the arm means, the arms of each seed shuffled among themselves;
- a trend across a numeric setting (the LeakyReLU slope α), seeds as blocks: the least-squares slope of the
  outcome on the setting within each seed, tested by shuffling each seed's values among the settings
  (``sign_flip`` studies) or by the one-sample t-test of the per-seed slopes (``paired_t``);
- the smallest effect a design could detect: the mean paired difference that a two-sided test at level
  ``alpha / family`` (Holm's first, strictest step) finds with 80% power, from the noncentral t distribution
  (``scipy.stats.nct``) with the observed standard deviation of the differences.

Paired differences get a t interval rather than the bootstrap: with few seeds the percentile bootstrap is far
too narrow (with two seeds it is the span of the two differences), and a verdict that a study *excludes* an
effect rests on that interval. Every random draw uses a fixed seed, so a report is reproducible.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

CONFIDENCE = 0.95
POWER = 0.8
RESAMPLES = 9999
RNG_SEED = 0
TESTS = {"sign_flip": "exact sign-flip permutation test", "paired_t": "paired t-test"}


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Paired:
    """``arm`` minus ``reference`` over the seeds both have."""

    arm: str
    reference: str
    n: int
    mean_diff: float
    ci_low: float
    ci_high: float
    p: float
    p_holm: float = math.nan
    sd: float = math.nan  # standard deviation of the differences
    test: str = "sign_flip"  # the test of ``p`` (a key of TESTS)
    p_other: float = math.nan  # the other test's p, shown beside it


@dataclass(frozen=True)
class Trend:
    """The outcome's change across a numeric setting, over the seeds that ran every level."""

    levels: tuple[float, ...]
    n: int
    change: float  # least-squares slope times the range of the levels: the change from lowest to highest
    ci_low: float
    ci_high: float
    p: float
    per_seed: tuple[float, ...]  # each seed's change
    test: str = "sign_flip"  # sign_flip: the within-seed permutation test; paired_t: the t-test of per_seed

    @property
    def p_floor(self) -> float:
        return trend_floor(len(self.levels), self.n) if self.test == "sign_flip" else test_floor(self.test, self.n)


def bootstrap_ci(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean; NaN below two values, the value itself when all agree."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=RESAMPLES, method="percentile",
                          rng=RNG_SEED)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def t_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student t interval of the mean (``scipy.stats.t``); NaN below two values, the value when all agree."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    sem = float(stats.sem(x))
    if sem == 0:
        return float(x.mean()), float(x.mean())
    low, high = stats.t.interval(confidence, x.size - 1, loc=x.mean(), scale=sem)
    return float(low), float(high)


def summarize(values) -> Summary:
    x = np.asarray(values, dtype=float)
    mean = float(x.mean()) if x.size else math.nan
    std = float(x.std(ddof=1)) if x.size > 1 else math.nan
    return Summary(int(x.size), mean, std, *bootstrap_ci(x))


def _mean_difference(x, y, axis):
    return np.mean(x - y, axis=axis)


def sign_flip_test(x, y) -> float:
    """Two-sided p of the paired sign-flip permutation test of mean(x - y); exact up to 13 pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 1:
        return math.nan
    if x.size == 1:  # both signs of one difference are equally extreme (scipy refuses a single pair)
        return 1.0
    res = stats.permutation_test((x, y), _mean_difference, permutation_type="samples", vectorized=True,
                                 n_resamples=RESAMPLES, alternative="two-sided", rng=RNG_SEED)
    return float(res.pvalue)


def paired_t_test(x, y) -> float:
    """Two-sided p of the paired t-test of mean(x - y) (``scipy.stats.ttest_rel``). One pair has no degrees of
    freedom: p = 1, no evidence. Identical differences have no spread: p = 1 if they are 0, else 0."""
    diff = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if diff.size < 1:
        return math.nan
    if diff.size == 1:
        return 1.0
    if np.all(diff == diff[0]):
        return 1.0 if diff[0] == 0 else 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def test_floor(test: str, n: int) -> float:
    """The smallest p ``test`` can give with n pairs: 2/2^n for the sign-flip test, 0 for the t-test (n >= 2)."""
    if test == "sign_flip":
        return sign_flip_floor(n)
    return 0.0 if n >= 2 else 1.0


def sign_flip_floor(n: int) -> float:
    """The smallest two-sided p the exact sign-flip test can give with n pairs: 2 / 2^n."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def paired(arm: str, reference: str, x_by_seed: dict[int, float], y_by_seed: dict[int, float],
           test: str = "sign_flip") -> Paired:
    """``arm`` (values by seed) against ``reference`` over their common seeds; ``p`` from ``test``."""
    seeds = sorted(set(x_by_seed) & set(y_by_seed))
    x = np.array([x_by_seed[s] for s in seeds], dtype=float)
    y = np.array([y_by_seed[s] for s in seeds], dtype=float)
    diff = x - y
    mean = float(diff.mean()) if diff.size else math.nan
    sd = float(diff.std(ddof=1)) if diff.size > 1 else math.nan
    p = {"sign_flip": sign_flip_test(x, y), "paired_t": paired_t_test(x, y)}
    other = next(name for name in TESTS if name != test)
    return Paired(arm, reference, len(seeds), mean, *t_interval(diff), p[test], sd=sd, test=test, p_other=p[other])


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries stay NaN and do not count in the family)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def with_holm(comparisons: list[Paired]) -> list[Paired]:
    adjusted = holm([c.p for c in comparisons])
    return [Paired(**{**c.__dict__, "p_holm": float(a)}) for c, a in zip(comparisons, adjusted, strict=True)]


def _spread(*samples, axis):
    return np.var(np.stack([np.mean(s, axis=axis) for s in samples]), axis=0)


def spread_test(columns: list[list[float]]) -> float:
    """p that k arms (columns of values, row i = seed i in every column) differ: the permutation test of the
    variance of the arm means, each seed's values shuffled among the arms."""
    samples = [np.asarray(c, dtype=float) for c in columns]
    if len(samples) < 2 or samples[0].size < 2:
        return math.nan
    res = stats.permutation_test(samples, _spread, permutation_type="samples", vectorized=True,
                                 n_resamples=RESAMPLES, alternative="greater", rng=RNG_SEED)
    return float(res.pvalue)


def min_detectable(sd: float, n: int, alpha: float, family: int = 1, floor: float | None = None) -> float:
    """The smallest mean difference a two-sided test at ``alpha / family`` detects with :data:`POWER`, given the
    standard deviation ``sd`` of n paired differences (noncentral t). Infinite when no effect can reach
    significance: fewer than two pairs, or the test's smallest p (``floor``, default the sign-flip test's)
    times ``family`` not below ``alpha``."""
    floor = sign_flip_floor(n) if floor is None else floor
    if n < 2 or not math.isfinite(sd) or family * floor >= alpha:
        return math.inf
    if sd == 0:
        return 0.0
    df, level = n - 1, alpha / family
    critical = stats.t.ppf(1 - level / 2, df)

    def shortfall(shift: float) -> float:  # power at noncentrality ``shift`` = effect * sqrt(n) / sd, minus POWER
        wrong_side = np.nan_to_num(stats.nct.cdf(-critical, df, shift))  # NaN far in the tail, where it is ~0
        return stats.nct.sf(critical, df, shift) + wrong_side - POWER

    high = critical + 1.0
    while shortfall(high) < 0:
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high, xtol=1e-10)) * sd / math.sqrt(n)


def seeds_for(sd: float, effect: float, alpha: float, family: int = 1, test: str = "paired_t",
              most: int = 1000) -> int | None:
    """The fewest seeds (pairs) whose test at ``alpha / family`` detects a mean difference of ``effect`` with
    :data:`POWER`, given the standard deviation ``sd`` of the paired differences (a pilot's): the smallest n with
    :func:`min_detectable` <= effect. Holm's first step is ``alpha / family``, so this is what the family's
    strongest comparison needs. None if no n up to ``most`` does."""
    floor = 0.0 if test == "paired_t" else None
    return next((n for n in range(2, most + 1) if min_detectable(sd, n, alpha, family, floor) <= effect), None)


def _slope(levels: np.ndarray):
    centred = levels - levels.mean()
    span = levels.max() - levels.min()

    def change(*samples, axis):  # rounded: equal columns give exactly 0, not float noise the test would rank
        means = np.stack([np.mean(s, axis=axis) for s in samples])
        return np.round(np.tensordot(centred, means, axes=(0, 0)) / np.sum(centred**2) * span, 12)

    return change


def trend(levels, columns, test: str = "sign_flip") -> Trend:
    """The change of the outcome across ``levels`` (one column of per-seed values per level, row i = seed i):
    the least-squares slope within each seed times the levels' range, its t interval over the seeds, and
    the two-sided permutation test that shuffles each seed's values among the levels (``test="paired_t"``:
    the one-sample t-test of the per-seed changes)."""
    x = np.asarray(levels, dtype=float)
    table = np.asarray(columns, dtype=float).reshape(len(x), -1)
    n = table.shape[1]
    per_seed = _slope(x)(*table[:, None, :], axis=0) if n else np.array([])
    change = float(per_seed.mean()) if n else math.nan
    p = math.nan
    if test == "paired_t" and len(x) > 1:
        p = paired_t_test(per_seed, np.zeros_like(per_seed))
    elif n == 1 and len(x) > 1:  # scipy refuses one seed: its k! orderings, enumerated
        p = _one_seed_trend_p(x, table[:, 0])
    elif n and len(x) > 1:
        p = float(stats.permutation_test(tuple(table), _slope(x), permutation_type="samples", vectorized=True,
                                         n_resamples=RESAMPLES, alternative="two-sided", rng=RNG_SEED).pvalue)
    return Trend(tuple(float(v) for v in x), n, change, *t_interval(per_seed), p,
                 tuple(float(v) for v in per_seed), test)


def _one_seed_trend_p(levels: np.ndarray, values: np.ndarray) -> float:
    change = _slope(levels)
    observed = abs(change(*values[:, None], axis=0))
    shuffled = [abs(change(*np.asarray(order)[:, None], axis=0)) for order in itertools.permutations(values)]
    return float(np.mean(np.asarray(shuffled) >= observed))


def trend_floor(k: int, n: int) -> float:
    """A lower bound of :func:`trend`'s two-sided p with k levels and n seeds: 2 / (k!)^n."""
    return min(1.0, max(2.0 / math.factorial(k) ** n, 1 / (RESAMPLES + 1))) if n > 0 and k > 1 else 1.0
