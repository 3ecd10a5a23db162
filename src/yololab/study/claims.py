"""The study's claims, each checked against the runs: supported, not supported, or inconclusive.

Arms are recognised by their head activation: ``relu``, ``leaky_relu[:slope]``, ``elu[:alpha]``, ``selu``.
A comparison is significant when its Holm-adjusted p is below ``alpha``. When even the most extreme data
could not reach that (the exact sign-flip test's smallest p, 2/2^n, times the family size, is not below
``alpha``) the comparison is *inconclusive (n too small)* rather than a negative result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from yololab.study import measures, stats
from yololab.study.runs import Run

LEAKY_DEFAULT_SLOPE = 0.01  # yololab.nn.activations: leaky_relu without a parameter


@dataclass(frozen=True)
class Claim:
    text: str
    verdict: str
    evidence: list[str]


def base_name(spec: str | None) -> str:
    return (spec or "").split(":")[0]


def leaky_slope(spec: str) -> float:
    _, _, param = spec.partition(":")
    return float(param) if param else LEAKY_DEFAULT_SLOPE


def arms_with(groups: dict[str, list[Run]], name: str) -> list[str]:
    return [arm for arm, runs in groups.items() if base_name(runs[0].activation) == name]


def reference_arm(groups: dict[str, list[Run]], name: str = "relu") -> str | None:
    arms = arms_with(groups, name)
    return name if name in arms else (arms[0] if arms else None)


def family(groups: dict[str, list[Run]], reference: str, arms: list[str], measure: Callable,
           *args) -> list[stats.Paired]:
    """``arms`` against ``reference`` on ``measure``, paired by seed, Holm-corrected as one family."""
    ref = measures.by_seed(groups[reference], measure, *args)
    return stats.with_holm([stats.paired(arm, reference, measures.by_seed(groups[arm], measure, *args), ref)
                            for arm in arms])


def outcome(c: stats.Paired, direction: int, alpha: float, family_size: int) -> str:
    if c.n == 0:
        return "no common seeds"
    if c.p_holm < alpha:
        return "supports" if math.copysign(1, c.mean_diff) == direction else "contradicts"
    if stats.holm_floor(c.n, family_size) >= alpha:
        return "too few seeds"
    return "no significant difference"


def verdict(outcomes: list[str], need_all: bool) -> str:
    outcomes = [o.split(" (")[0] for o in outcomes]
    supported = outcomes.count("supports")
    if supported and (supported == len(outcomes) or not need_all):
        return "supported"
    if supported:
        return "partly supported"
    if "contradicts" in outcomes:
        return "not supported (significant in the opposite direction)"
    if "too few seeds" in outcomes:
        return "inconclusive (n too small)"
    return "not supported"


def signed(value: float) -> str:
    return f"{value + 0.0:+.2f}".replace("-0.00", "+0.00")


def describe(c: stats.Paired, result: str, scale: float = 100.0, unit: str = " mAP points") -> str:
    return (f"{c.arm} − {c.reference}: {signed(scale * c.mean_diff)}{unit} [95% CI {signed(scale * c.ci_low)}, "
            f"{signed(scale * c.ci_high)}], p = {c.p:.3g}, Holm p = {c.p_holm:.3g}, {c.n} seeds: {result}")


def compared(text: str, comparisons: list[stats.Paired], direction: int, alpha: float, need_all: bool,
             family_size: int, **fmt) -> Claim:
    """A claim about ``comparisons`` (taken from a Holm family of ``family_size``) in ``direction``."""
    results = [outcome(c, direction, alpha, family_size) for c in comparisons]
    results = [f"{r} (the smallest Holm p {c.n} seeds can reach is {stats.holm_floor(c.n, family_size):.3g})"
               if r == "too few seeds" else r for c, r in zip(comparisons, results, strict=True)]
    return Claim(text, verdict(results, need_all), [describe(c, r, **fmt) for c, r in zip(comparisons, results,
                                                                                           strict=True)])


def missing(text: str, what: str) -> Claim:
    return Claim(text, f"inconclusive (arms missing: {what})", [])


def log10_grad_norm(run: Run) -> float:
    value = measures.head_grad_norm(run)
    return math.log10(value) if value > 0 else math.nan


def slope_sensitivity(groups: dict[str, list[Run]], leaky: list[str], metric: str, alpha: float) -> Claim:
    text = "Results are sensitive to the LeakyReLU slope α."
    if len(leaky) < 2:
        return missing(text, "needs two or more LeakyReLU slopes")
    values = [measures.by_seed(groups[arm], measures.final, metric) for arm in leaky]
    seeds = sorted(set.intersection(*(set(v) for v in values)))
    p = stats.spread_test([[v[s] for s in seeds] for v in values])
    floor = stats.spread_floor(len(leaky), len(seeds))
    means = ", ".join(f"α={leaky_slope(groups[a][0].activation):g}: {100 * sum(v[s] for s in seeds) / len(seeds):.2f}"
                      for a, v in zip(leaky, values, strict=True)) if seeds else "no common seeds"
    result = "supported" if p < alpha else ("inconclusive (n too small)" if floor >= alpha else "not supported")
    evidence = f"{metric} ×100 by slope over {len(seeds)} common seeds: {means}; permutation test of the spread " \
               f"of the slope means, p = {p:.3g}"
    return Claim(text, result, [evidence])


def evaluate_claims(groups: dict[str, list[Run]], metric: str, alpha: float = 0.05) -> list[Claim]:
    relu = reference_arm(groups, "relu")
    leaky = sorted(arms_with(groups, "leaky_relu"), key=lambda a: leaky_slope(groups[a][0].activation))
    better = arms_with(groups, "elu") + arms_with(groups, "selu")
    texts = ("LeakyReLU in the head is worse than ReLU.",
             "LeakyReLU's head gradients vanish more than ReLU's (smaller gradient norm in the hidden head layers).",
             "ELU or SELU in the head do better than ReLU.")
    if relu is None:
        return [missing(t, "relu") for t in texts[:2]] + [slope_sensitivity(groups, leaky, metric, alpha),
                                                         missing(texts[2], "relu")]
    others = [arm for arm in groups if arm != relu]
    accuracy = {c.arm: c for c in family(groups, relu, others, measures.final, metric)}
    if leaky:
        gradients = family(groups, relu, leaky, log10_grad_norm)
        first = compared(texts[0], [accuracy[a] for a in leaky], -1, alpha, True, len(others))
        second = compared(texts[1], gradients, -1, alpha, True, len(leaky), scale=1.0, unit=" log10 gradient norm")
    else:
        first, second = missing(texts[0], "leaky_relu"), missing(texts[1], "leaky_relu")
    fourth = (compared(texts[2], [accuracy[a] for a in better], +1, alpha, False, len(others)) if better
              else missing(texts[2], "elu, selu"))
    return [first, second, slope_sensitivity(groups, leaky, metric, alpha), fourth]
