"""Whether a change of head changes an activation's effect (docs/head-probe-study, family 4: BatchNorm before every
activation, against family 1's head without it): an interaction, the difference of two paired differences.

Per arm A and seed s: (A - R in study X) - (A - R in study Y), R the reference arm (relu), over the seeds that both
studies ran for both arms. Paired t over the seeds, its 95% t interval, Holm over the arms. Positive: the arm's
effect against R is larger in X. The measure is any quantity a study file may name (:mod:`yololab.study.quantities`),
in its unit: a final metric (mAP in points), ``vanishing`` (the report's vanishing measure), ``auc(KEY)``, ...
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass

from yololab.study.quantities import Quantity, quantity
from yololab.study.runs import Run, StudyDataError, load_runs_dir
from yololab.study.stats import Paired, paired, with_holm


@dataclass(frozen=True)
class Interaction:
    comparison: Paired  # the arm's effect in X against its effect in Y, over their common seeds
    effect_x: float  # the arm's mean effect in X over those seeds
    effect_y: float


def effects(runs: list[Run], arm: str, reference: str, q: Quantity, study: str) -> dict[int, float]:
    """``arm`` minus ``reference`` per seed that ran both (and logged the measure), in the quantity's unit."""
    by = {(r.arm, r.seed): q.factor * q.read(r) for r in runs if r.arm in (arm, reference)}
    seeds = sorted({s for a, s in by if a == arm} & {s for a, s in by if a == reference})
    differences = {s: by[(arm, s)] - by[(reference, s)] for s in seeds}
    out = {s: d for s, d in differences.items() if not math.isnan(d)}
    if not out:
        raise StudyDataError(f"{study}: no seed with both {arm} and {reference} (and {q.name})")
    return out


def interactions(x: list[Run], y: list[Run], arms: list[str], reference: str, q: Quantity) -> list[Interaction]:
    """Per arm: its effect in X against its effect in Y over their common seeds, paired t, Holm over ``arms``."""
    found = []
    for arm in arms:
        in_x, in_y = effects(x, arm, reference, q, "X"), effects(y, arm, reference, q, "Y")
        common = sorted(set(in_x) & set(in_y))
        if len(common) < 2:
            raise StudyDataError(f"{arm}: fewer than two seeds in both studies ({sorted(in_x)} and {sorted(in_y)})")
        found.append((paired(arm, reference, in_x, in_y, test="paired_t"),
                      *(statistics.fmean(e[s] for s in common) for e in (in_x, in_y))))
    adjusted = with_holm([comparison for comparison, _, _ in found])
    return [Interaction(c, ex, ey) for c, (_, ex, ey) in zip(adjusted, found, strict=True)]


def table(found: list[Interaction], measure: str, reference: str, labels: tuple[str, str]) -> str:
    lines = [f"{measure}: each arm's effect (arm − {reference}) in {labels[0]} (X) and in {labels[1]} (Y), and the "
             "interaction X − Y over the seeds both ran (paired t, 95% t interval, Holm over the arms).", "",
             "| arm | seeds | effect in X | effect in Y | interaction X − Y | 95% CI | p | Holm p |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for f in found:
        c = f.comparison
        lines.append(f"| {c.arm} | {c.n} | {f.effect_x:+.3f} | {f.effect_y:+.3f} | {c.mean_diff:+.3f} | "
                     f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}] | {c.p:.3g} | {c.p_holm:.3g} |")
    return "\n".join(lines) + "\n"


def as_json(found: list[Interaction], measure: str, reference: str, labels: tuple[str, str]) -> str:
    """The table's numbers at full precision, for a check that recomputes them elsewhere."""
    rows = [{"arm": f.comparison.arm, "n": f.comparison.n, "effect_x": f.effect_x, "effect_y": f.effect_y,
             "interaction": f.comparison.mean_diff, "ci_low": f.comparison.ci_low, "ci_high": f.comparison.ci_high,
             "p": f.comparison.p, "p_holm": f.comparison.p_holm} for f in found]
    return json.dumps({"measure": measure, "reference": reference, "x": labels[0], "y": labels[1], "arms": rows},
                      indent=1) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/interaction.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("x", help="study X's runs folder (e.g. the BatchNorm subset's)")
    parser.add_argument("y", help="study Y's runs folder (e.g. family 1's)")
    parser.add_argument("--arms", nargs="+", default=["leaky_relu:0.01", "leaky_relu:0.1", "leaky_relu:0.3"])
    parser.add_argument("--reference", default="relu")
    parser.add_argument("--measure", default="val/mAP50-95",
                        help="a quantity as a study file names it: a final metric, vanishing, auc(KEY), ...")
    parser.add_argument("--labels", nargs=2, default=["X", "Y"], metavar=("X", "Y"))
    parser.add_argument("--json", action="store_true", help="the same numbers as JSON, at full precision")
    args = parser.parse_args(argv)
    try:
        q = quantity(args.measure, where="--measure")
        found = interactions(load_runs_dir(args.x), load_runs_dir(args.y), args.arms, args.reference, q)
        render = as_json if args.json else table
        print(render(found, args.measure, args.reference, tuple(args.labels)), end="")
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
