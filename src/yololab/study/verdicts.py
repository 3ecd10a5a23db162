"""The rules that turn tested comparisons into a verdict. The report's method section prints
:data:`OUTCOME_RULES`, :data:`WORD_RULE` and :data:`VERDICT_RULES` word for word, and no verdict word is
produced anywhere else.

A comparison is a dict of :mod:`yololab.study.families` (estimate, CI, p, Holm p, n, detectable, degenerate).
"""

from __future__ import annotations

import math

SIGNIFICANT, OPPOSITE, EXCLUDED, OPEN, UNPAIRED = "significant", "opposite", "excluded", "open", "unpaired"

OUTCOME_RULES = (
    (SIGNIFICANT, "Holm-adjusted p < α, in the claimed direction (either direction for a trend)."),
    (OPPOSITE, "Holm-adjusted p < α, against the claimed direction."),
    (EXCLUDED, "not significant, and the 95% CI lies wholly on the far side of the margin: it rules out a "
               "difference of the margin or more in the claimed direction (both directions for a trend)."),
    (OPEN, "not significant and not excluded: the design could not tell; the smallest detectable difference "
           "says how far it could see. Without a CI (one pair, or no spread) nothing is excluded."),
    (UNPAIRED, "no seed ran both arms."),
)
WORD_RULE = ("A direction word (higher, lower, more vanishing, ...) is written only where the data show that "
             "direction: the 95% CI excludes 0, or, without spread, every paired difference has that sign. "
             "Otherwise the result says the CI spans 0 (or that there is no CI, or no difference on any seed).")
VERDICT_RULES = (
    ("supported", "every comparison of the claim is significant (need: any — at least one is), none opposite."),
    ("partly supported", "some but not all are significant, none opposite (need: all)."),
    ("mixed", "some are significant in the claimed direction and some in the opposite one."),
    ("not supported (significant in the opposite direction)", "none is significant as claimed and one is "
     "opposite (need: all), or every one is opposite or excluded with at least one opposite (need: any)."),
    ("not supported (the data exclude a relevant effect)", "every comparison is excluded."),
    ("inconclusive", "any other combination."),
    ("inconclusive (no paired seeds)", "no comparison has a paired seed."),
    ("inconclusive (no data)", "no run of the reference, or of every compared arm, has the claim's metric."),
    ("not applicable", "the study lacks the claim's arms, or a trend's arms differ in more than its parameter."),
)
BELOW_MARGIN = ", each significant effect smaller than the margin"
SIZE_RULE = (f"A verdict that rests on significant comparisons (as claimed or opposite) ends with \"{BELOW_MARGIN}\" "
             "when every one of them has its 95% CI within ± the margin: the effect is real on these seeds but "
             "smaller than the claim's margin says matters.")


def decimals(value: float) -> int:
    """Two, or up to four to show two significant digits: a small nonzero value (a log10 ratio's -0.003) does not
    read as 0.00, so its sign and the words beside it agree."""
    return 2 if value == 0 or round(abs(value), 2) > 0 else min(4, 1 - math.floor(math.log10(abs(value))))


def show(value: float, factor: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "none"
    shown = factor * value + 0.0
    return f"{shown:+.{decimals(shown)}f}"


def interval(c: dict, factor: float) -> str:
    """A comparison's 95% CI as ``[low, high]``, or ``no CI`` (one pair, or no spread)."""
    return "no CI" if math.isnan(c["ci_low"]) else f"[{show(c['ci_low'], factor)}, {show(c['ci_high'], factor)}]"


def size(value: float, factor: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return "no effect (n too small)" if math.isinf(value) else f"{factor * abs(value):.{decimals(factor * value)}f}"


def shown_direction(c: dict) -> int:
    """+1 or -1 where the data show a direction (:data:`WORD_RULE`), else 0."""
    if c["degenerate"]:
        return int(math.copysign(1, c["estimate"])) if c["estimate"] != 0 else 0
    if c["ci_low"] > 0:
        return +1
    if c["ci_high"] < 0:
        return -1
    return 0


def excludes(c: dict, direction: int, margin: float) -> bool:
    low_ok, high_ok = c["ci_low"] > -margin, c["ci_high"] < margin  # False for a NaN bound: no CI, no exclusion
    return {-1: low_ok, +1: high_ok, 0: low_ok and high_ok}[direction]


def outcome(c: dict, direction: int, margin: float, alpha: float) -> str:
    if c["n"] == 0:
        return UNPAIRED
    if c["p_holm"] < alpha:
        return SIGNIFICANT if direction == 0 or math.copysign(1, c["estimate"]) == direction else OPPOSITE
    return EXCLUDED if excludes(c, direction, margin) else OPEN


def note(c: dict, result: str, direction: int, margin: float, q: dict) -> str:
    """The outcome in words (``q``: the quantity's description: words, factor)."""
    words, factor = q["words"], q["factor"]
    seen = shown_direction(c)
    observed = words[seen > 0] if seen else ("no difference on any seed" if c["degenerate"] else "the CI spans 0"
                                              if not math.isnan(c["ci_low"]) else "no CI to show a direction")
    relevant = f"±{size(margin, factor)}" if direction == 0 else f"{words[direction > 0]} by {size(margin, factor)}"
    degenerate = f"{c['degenerate']}; " if c["degenerate"] else ""
    notes = {
        UNPAIRED: "no paired seeds",
        SIGNIFICANT: f"{degenerate}significantly {observed}" + (" (as claimed)" if direction else "")
        + (f", but the CI lies within ±{size(margin, factor)}: smaller than matters" if excludes(c, 0, margin)
           else ""),
        OPPOSITE: f"{degenerate}significantly {observed} (opposite to the claim)",
        EXCLUDED: f"{observed}, not significant; the CI excludes {relevant} or more",
        OPEN: f"{degenerate}{observed}, not significant; " + ("no CI, so nothing is excluded" if math.isnan(
            c["ci_low"]) else f"the CI does not exclude {relevant}") + f"; smallest detectable: "
        f"{size(c['detectable'], factor)}",
    }
    return notes[result]


def evidence(c: dict, finding: dict, q: dict) -> str:
    """The finding with its numbers, for a verdict's reason."""
    if finding["outcome"] == UNPAIRED:
        return f"{c['label']}: no paired seeds"
    factor = q["factor"]
    ci = interval(c, factor).replace("[", "[95% CI ") if not math.isnan(c["ci_low"]) else "[no CI]"
    return (f"{c['label']}: {show(c['estimate'], factor)} {q['unit']} {ci}, Holm p = {c['p_holm']:.3g}, "
            f"n = {c['n']}: {finding['note']}")


def sized(word: str, significant: list[dict], margin: float) -> str:
    """The verdict with :data:`SIZE_RULE`'s ending where every significant comparison is below the margin."""
    small = significant and all(excludes(c, 0, margin) for c in significant)
    return word + BELOW_MARGIN if small else word


def verdict(outcomes: list[str], need: str) -> str:
    """The claim's word from its comparisons' outcomes (:data:`VERDICT_RULES`)."""
    count = {o: outcomes.count(o) for o in (SIGNIFICANT, OPPOSITE, EXCLUDED, OPEN, UNPAIRED)}
    if count[UNPAIRED] == len(outcomes):
        return "inconclusive (no paired seeds)"
    if count[SIGNIFICANT] and count[OPPOSITE]:
        return "mixed"
    if count[SIGNIFICANT]:
        return "supported" if count[SIGNIFICANT] == len(outcomes) or need == "any" else "partly supported"
    if count[OPPOSITE] and (need == "all" or count[OPPOSITE] + count[EXCLUDED] == len(outcomes)):
        return "not supported (significant in the opposite direction)"
    if count[EXCLUDED] == len(outcomes):
        return "not supported (the data exclude a relevant effect)"
    return "inconclusive"
