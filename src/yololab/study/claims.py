"""A study's claims (:mod:`yololab.study.design`) checked against its runs, each with a verdict, its reason and
the table behind it (:mod:`yololab.study.verdicts` holds the rules).

Arms are what the runs' configs say they are (:mod:`yololab.study.arms`); no arm name is assumed. Each claim
is one family: its comparisons are Holm-corrected among themselves, not across claims, and the CIs are
unadjusted 95% intervals. A claim about arms the study lacks is *not applicable*; one whose measure no run
logged is *inconclusive (no data)*.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from yololab.study import measures, stats
from yololab.study.arms import Arm, by_slope, describe, pick, select
from yololab.study.design import ClaimSpec, Design
from yololab.study.runs import Run
from yololab.study.verdicts import Effect, Finding, Scale, judge, reason, verdict

ACCURACY = Scale(100.0, "mAP points")
RATIO = Scale(1.0, "log10 gradient ratio")
MAGNITUDE = Scale(1.0, "log10 gradient norm")
WORDS = {"accuracy": ("lower", "higher"), "vanishing": ("more vanishing", "less vanishing")}


@dataclass(frozen=True)
class Claim:
    text: str
    verdict: str
    reason: str
    findings: list[Finding] = field(default_factory=list)
    scale: Scale = ACCURACY
    family: str = ""  # the multiplicity statement for the table
    notes: list[str] = field(default_factory=list)  # further lines: levels pooled, descriptive figures
    descriptive: list[Finding] = field(default_factory=list)  # shown beside the verdict, not part of it
    descriptive_title: str = ""
    descriptive_scale: Scale = MAGNITUDE


def family(groups: dict[str, list[Run]], reference: str, arms: list[str], test: str, measure: Callable,
           *args) -> list[stats.Paired]:
    """``arms`` against ``reference`` on ``measure``, paired by seed, Holm-corrected as one family."""
    ref = measures.by_seed(groups[reference], measure, *args)
    return stats.with_holm([stats.paired(arm, reference, measures.by_seed(groups[arm], measure, *args), ref, test)
                            for arm in arms])


def effect(c: stats.Paired, alpha: float, family_size: int) -> Effect:
    detectable = stats.min_detectable(c.sd, c.n, alpha, family_size, floor=stats.test_floor(c.test, c.n))
    return Effect(f"{c.arm} − {c.reference}", c.n, c.mean_diff, c.ci_low, c.ci_high, c.p, c.p_holm, detectable)


def family_note(size: int, test: str) -> str:
    return (f"One family of {size} comparison{'s' if size > 1 else ''}: p ({stats.TESTS[test]}) Holm-adjusted "
            "within this claim only; "
            "95% t intervals over seeds, unadjusted; detectable: the smallest difference a two-sided "
            f"test at α/{size} finds with 80% power, given the spread of the paired differences.")


def not_applicable(spec: ClaimSpec, why: str) -> Claim:
    return Claim(spec.text, "not applicable", why)


def compared(spec: ClaimSpec, groups: dict[str, list[Run]], arms: dict[str, Arm], design: Design) -> Claim:
    """Arms against the reference arm, paired by seed, in the claimed direction."""
    reference = pick(arms, spec.reference)
    if reference is None:
        return not_applicable(spec, f"the study has no {spec.reference} arm")
    candidates = [a for a in select(arms, spec.arms) if a != reference]
    if not candidates:
        return not_applicable(spec, f"the study has no arm matching {', '.join(spec.arms)}")
    vanishing = spec.measure == "vanishing"
    measure, args = (measures.log_gradient_ratio, ()) if vanishing else (measures.final, (design.metric,))
    scale, margin = (RATIO, design.vanishing_margin) if vanishing else (ACCURACY, design.margin)
    lacking = [a for a in (reference, *candidates) if not measures.by_seed(groups[a], measure, *args)]
    if reference in lacking or set(candidates) <= set(lacking):
        what = "gradient norms per layer" if vanishing else design.metric
        return Claim(spec.text, "inconclusive (no data)", f"no run of {', '.join(lacking)} logged {what}")
    comparisons = family(groups, reference, candidates, design.test, measure, *args)
    findings = [judge(effect(c, design.alpha, len(candidates)), spec.direction, margin, design.alpha, scale,
                      WORDS[spec.measure]) for c in comparisons]
    word = verdict(findings, spec.need)
    claim = Claim(spec.text, word, reason(findings, scale, word), findings, scale,
                  family_note(len(candidates), design.test))
    return with_magnitude(claim, groups, reference, candidates, design) if vanishing else claim


def with_magnitude(claim: Claim, groups: dict[str, list[Run]], reference: str, candidates: list[str],
                   design: Design) -> Claim:
    """The overall gradient magnitude of the hidden head layers beside a vanishing claim, as its own family."""
    rows = [judge(effect(c, design.alpha, len(candidates)), 0, design.vanishing_margin, design.alpha, MAGNITUDE)
            for c in family(groups, reference, candidates, design.test, measures.log10_head_grad_norm)]
    title = ("Overall gradient magnitude (root of the summed squared norms of the hidden head layers; its own "
             "family; descriptive, not part of the verdict: it ignores depth, and a lower loss alone lowers it)")
    return replace(claim, descriptive=rows, descriptive_title=title)


def level_name(slope: float, names: list[str]) -> str:
    pooled = " + ".join(names) + (" pooled" if len(names) > 1 else "")
    return f"α = {slope:g} ({pooled})"


def level_values(groups: dict[str, list[Run]], names: list[str], metric: str) -> dict[int, float]:
    """Per seed, the mean of the metric over the arms that share one α."""
    values: dict[int, list[float]] = {}
    for name in names:
        for seed, value in measures.by_seed(groups[name], measures.final, metric).items():
            values.setdefault(seed, []).append(value)
    return {seed: sum(v) / len(v) for seed, v in values.items()}


def common_seeds(by_level: list[dict[int, float]]) -> list[int]:
    return sorted(set.intersection(*(set(v) for v in by_level)))


def trend_effect(slopes: list[float], by_level: list[dict[int, float]], alpha: float, size: int,
                 test: str) -> Effect:
    """The change across α over the seeds that ran every level (raw p; Holm comes with the family)."""
    seeds = common_seeds(by_level)
    label = f"trend: change from α = {slopes[0]:g} to {slopes[-1]:g}"
    if not seeds:
        return Effect(label, 0, math.nan, math.nan, math.nan, math.nan, math.nan, math.inf)
    t = stats.trend(slopes, [[v[s] for s in seeds] for v in by_level], test)
    detectable = stats.min_detectable(stats.summarize(t.per_seed).std, t.n, alpha, size, floor=t.p_floor)
    return Effect(label, t.n, t.change, t.ci_low, t.ci_high, t.p, math.nan, detectable)


def step_effects(slopes: list[float], by_level: list[dict[int, float]], alpha: float, size: int,
                 test: str) -> list[Effect]:
    """Every α against the lowest, paired by seed."""
    steps = [stats.paired(f"α = {s:g}", f"α = {slopes[0]:g}", v, by_level[0], test)
             for s, v in zip(slopes[1:], by_level[1:], strict=True)]
    return [effect(c, alpha, size) for c in steps]


def level_means(slopes: list[float], by_level: list[dict[int, float]]) -> str:
    seeds = common_seeds(by_level)
    if not seeds:
        return "no seed ran every level"
    return ", ".join(f"α = {s:g}: {ACCURACY.factor * sum(v[i] for i in seeds) / len(seeds):.2f}"
                     for s, v in zip(slopes, by_level, strict=True)) + f" (the {len(seeds)} seeds with every level)"


def slope_trend(spec: ClaimSpec, groups: dict[str, list[Run]], arms: dict[str, Arm], design: Design) -> Claim:
    """The metric across α (ReLU as α = 0), seeds as blocks, arms of one α pooled: the trend and, with three or
    more levels, every α against the lowest (a jump the straight line misses), as one Holm family; supported if
    any is significant, not supported only if every one excludes a change of the margin."""
    levels = by_slope(arms)
    if len(levels) < 2:
        have = ", ".join(level_name(s, n) for s, n in levels.items()) or "none"
        return not_applicable(spec, f"needs ReLU/LeakyReLU arms with two or more distinct slopes α; has: {have}")
    slopes = list(levels)
    by_level = [level_values(groups, n, design.metric) for n in levels.values()]
    size = len(slopes) if len(slopes) > 2 else 1  # with two levels the trend is the paired comparison
    raw = [trend_effect(slopes, by_level, design.alpha, size, design.test)]
    raw += step_effects(slopes, by_level, design.alpha, size, design.test) if size > 1 else []
    adjusted = stats.holm([e.p for e in raw])
    findings = [judge(replace(e, p_holm=float(a)), 0, design.margin, design.alpha, ACCURACY)
                for e, a in zip(raw, adjusted, strict=True)]
    word = verdict(findings, "any")
    notes = ["Levels: " + "; ".join(level_name(s, n) for s, n in levels.items()) + ". The trend: the "
             f"least-squares slope of {design.metric} on α within each seed (seeds that ran every level) times the "
             + ("range of α, two-sided permutation test shuffling each seed's values among the levels"
                if design.test == "sign_flip" else "range of α, two-sided one-sample t-test of the per-seed changes")
             + (f"; each α against the lowest: the {stats.TESTS[design.test]}." if size > 1 else "."),
             f"Mean {design.metric} (points) by α: {level_means(slopes, by_level)}."]
    return Claim(spec.text, word, reason(findings, ACCURACY, word), findings, ACCURACY,
                 family_note(size, design.test), notes)


def evaluate_claims(groups: dict[str, list[Run]], design: Design | None = None) -> list[Claim]:
    design = design or Design()
    arms = describe(groups)
    return [(slope_trend if spec.kind == "trend" else compared)(spec, groups, arms, design) for spec in design.claims]
