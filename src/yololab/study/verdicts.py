"""The rules that turn tested comparisons into a verdict a careful reviewer would sign.

One comparison (an arm against the reference, or a trend), with the claimed direction (+1, -1, or 0 for "any
difference") and a margin (the smallest effect that matters), is

- ``significant``: Holm-adjusted p < alpha, in the claimed direction;
- ``opposite``: significant, the other way;
- ``excluded``: not significant, and the 95% CI rules out an effect of the margin or more in the claimed
  direction (both directions for a two-sided claim): the data exclude a practically relevant effect;
- ``open``: neither; the design could not tell (its smallest detectable effect says how far it could see);
- ``unpaired``: no seed ran both arms.

A claim is *supported* when its comparisons are significant (every one, or one for an "any" claim), *partly
supported* when some are, *mixed* when some are significant each way, *not supported* only when the data
exclude the claimed effect (every comparison excluded or opposite, or an opposite one for an "all" claim),
*inconclusive (no paired seeds)* without paired data, and *inconclusive* otherwise. Every reason states the
observed direction and the CI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIGNIFICANT, OPPOSITE, EXCLUDED, OPEN, UNPAIRED = "significant", "opposite", "excluded", "open", "unpaired"


@dataclass(frozen=True)
class Scale:
    """How a measure is shown: ``factor`` times the value, in ``unit``."""

    factor: float = 100.0
    unit: str = "mAP points"

    def show(self, value: float) -> str:
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return "none"
        return f"{self.factor * value + 0.0:+.2f}".replace("-0.00", "+0.00")

    def size(self, value: float) -> str:
        return "no effect (n too small)" if math.isinf(value) else f"{self.factor * abs(value):.2f}"


@dataclass(frozen=True)
class Effect:
    """A tested quantity: a paired mean difference or a change across a setting, with its 95% CI."""

    label: str
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    p: float
    p_holm: float
    detectable: float  # the smallest effect the design detects (80% power); inf: none can reach significance


@dataclass(frozen=True)
class Finding:
    effect: Effect
    outcome: str
    note: str  # the outcome in words, for the table


def direction_word(value: float, words: tuple[str, str]) -> str:
    """``words`` = (for below zero, for above zero)."""
    return "no difference" if value == 0 or math.isnan(value) else words[value > 0]


def excludes(e: Effect, direction: int, margin: float) -> bool:
    low_ok = e.ci_low > -margin
    high_ok = e.ci_high < margin
    return {-1: low_ok, +1: high_ok, 0: low_ok and high_ok}[direction]


def outcome(e: Effect, direction: int, margin: float, alpha: float) -> str:
    if e.n == 0:
        return UNPAIRED
    if e.p_holm < alpha:
        return SIGNIFICANT if direction == 0 or math.copysign(1, e.estimate) == direction else OPPOSITE
    return EXCLUDED if excludes(e, direction, margin) else OPEN


def judge(e: Effect, direction: int, margin: float, alpha: float, scale: Scale,
          words: tuple[str, str] = ("lower", "higher")) -> Finding:
    """One comparison against the claim; ``words`` name the two directions of the measure."""
    result = outcome(e, direction, margin, alpha)
    observed = direction_word(e.estimate, words)
    relevant = f"±{scale.size(margin)}" if direction == 0 else f"{words[direction > 0]} by {scale.size(margin)}"
    notes = {
        UNPAIRED: "no paired seeds",
        SIGNIFICANT: f"significantly {observed}" + (" (as claimed)" if direction else "")
                     + (f", but the CI lies within ±{scale.size(margin)}: smaller than matters"
                        if excludes(e, 0, margin) else ""),
        OPPOSITE: f"significantly {observed} (opposite to the claim)",
        EXCLUDED: f"{observed}, not significant; the CI excludes {relevant} or more",
        OPEN: f"{observed}, not significant; the CI does not exclude {relevant}; "
              f"smallest detectable: {scale.size(e.detectable)}",
    }
    return Finding(e, result, notes[result])


def evidence(f: Finding, scale: Scale) -> str:
    """The finding with its numbers, for a verdict's reason."""
    e = f.effect
    if f.outcome == UNPAIRED:
        return f"{e.label}: no paired seeds"
    return (f"{e.label}: {scale.show(e.estimate)} {scale.unit} [95% CI {scale.show(e.ci_low)}, "
            f"{scale.show(e.ci_high)}], Holm p = {e.p_holm:.3g}, n = {e.n}: {f.note}")


def verdict(findings: list[Finding], need: str) -> str:
    """The claim's word from its findings (see the module docstring)."""
    outcomes = [f.outcome for f in findings]
    count = {o: outcomes.count(o) for o in (SIGNIFICANT, OPPOSITE, EXCLUDED, OPEN, UNPAIRED)}
    if count[UNPAIRED] == len(outcomes):
        return "inconclusive (no paired seeds)"
    if count[SIGNIFICANT] and count[OPPOSITE]:
        return "mixed"
    if count[SIGNIFICANT]:
        return "supported" if count[SIGNIFICANT] == len(outcomes) or need == "any" else "partly supported"
    if count[OPPOSITE] and (need == "all" or count[OPPOSITE] + count[EXCLUDED] == len(outcomes)):
        return "not supported (significant in the opposite direction)"
    if count[EXCLUDED] + count[OPPOSITE] == len(outcomes):
        return "not supported (the data exclude a relevant effect)"
    return "inconclusive"


def reason(findings: list[Finding], scale: Scale, word: str) -> str:
    """Why: the findings that decide ``word``, each with direction and CI (for mixed: both sides, named)."""
    if word == "mixed":
        groups = [(SIGNIFICANT, "as claimed"), (OPPOSITE, "opposite to the claim")]
        return "; ".join(f"{label}: " + ", ".join(f.effect.label for f in findings if f.outcome == o)
                         for o, label in groups) + ". " + "; ".join(evidence(f, scale) for f in findings)
    return "; ".join(evidence(f, scale) for f in findings)
