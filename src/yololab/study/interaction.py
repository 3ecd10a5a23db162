"""Whether a change of head changes an activation's effect (docs/head-probe-study, family 4: BatchNorm before every
activation, against family 1's head without it): an interaction, the difference of two paired differences.

Per arm A and seed s: (A - R in study X) - (A - R in study Y), R the reference arm (relu), over the seeds that both
studies ran for both arms. Paired t over the seeds, its 95% t interval, Holm over the arms. Positive: the arm's
effect against R is larger in X. The measure is a final metric, in points for mAP, or ``vanishing``, the log10
backward-signal ratio the report's vanishing claim uses.
"""

from __future__ import annotations

import argparse
import math
import sys

from yololab.study.measures import final, log_backward_ratio
from yololab.study.runs import Run, StudyDataError, load_runs_dir
from yololab.study.stats import Paired, paired, with_holm

VANISHING = "vanishing"


def value(run: Run, measure: str) -> float:
    if measure == VANISHING:
        return log_backward_ratio(run)
    return final(run, measure) * (100 if "mAP" in measure else 1)  # mAP in points, as in the reports


def effects(runs: list[Run], arm: str, reference: str, measure: str, study: str) -> dict[int, float]:
    """``arm`` minus ``reference`` per seed that ran both (and logged the measure)."""
    by = {(r.arm, r.seed): value(r, measure) for r in runs if r.arm in (arm, reference)}
    seeds = sorted({s for a, s in by if a == arm} & {s for a, s in by if a == reference})
    out = {s: by[(arm, s)] - by[(reference, s)] for s in seeds if not math.isnan(by[(arm, s)] - by[(reference, s)])}
    if not out:
        raise StudyDataError(f"{study}: no seed with both {arm} and {reference} (and {measure})")
    return out


def interactions(x: list[Run], y: list[Run], arms: list[str], reference: str, measure: str) -> list[Paired]:
    """Per arm: its effect in X against its effect in Y over their common seeds, paired t, Holm over ``arms``."""
    comparisons = []
    for arm in arms:
        in_x, in_y = effects(x, arm, reference, measure, "X"), effects(y, arm, reference, measure, "Y")
        if len(set(in_x) & set(in_y)) < 2:
            raise StudyDataError(f"{arm}: fewer than two seeds in both studies ({sorted(in_x)} and {sorted(in_y)})")
        comparisons.append(paired(arm, reference, in_x, in_y, test="paired_t"))
    return with_holm(comparisons)


def table(x: list[Run], y: list[Run], arms: list[str], reference: str, measure: str, labels: tuple[str, str]) -> str:
    rows = interactions(x, y, arms, reference, measure)
    lines = [f"{measure}: each arm's effect (arm − {reference}) in {labels[0]} (X) and in {labels[1]} (Y), and the "
             "interaction X − Y over the seeds both ran (paired t, 95% t interval, Holm over the arms).", "",
             "| arm | seeds | effect in X | effect in Y | interaction X − Y | 95% CI | p | Holm p |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        in_x, in_y = effects(x, row.arm, reference, measure, "X"), effects(y, row.arm, reference, measure, "Y")
        common = sorted(set(in_x) & set(in_y))
        mean_x, mean_y = (sum(e[s] for s in common) / len(common) for e in (in_x, in_y))
        lines.append(f"| {row.arm} | {row.n} | {mean_x:+.3f} | {mean_y:+.3f} | {row.mean_diff:+.3f} | "
                     f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}] | {row.p:.3g} | {row.p_holm:.3g} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/interaction.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("x", help="study X's runs folder (e.g. the BatchNorm subset's)")
    parser.add_argument("y", help="study Y's runs folder (e.g. family 1's)")
    parser.add_argument("--arms", nargs="+", default=["leaky_relu:0.01", "leaky_relu:0.1", "leaky_relu:0.3"])
    parser.add_argument("--reference", default="relu")
    parser.add_argument("--measure", default="val/mAP50-95", help=f"a final metric, or {VANISHING}")
    parser.add_argument("--labels", nargs=2, default=["X", "Y"], metavar=("X", "Y"))
    args = parser.parse_args(argv)
    try:
        print(table(load_runs_dir(args.x), load_runs_dir(args.y), args.arms, args.reference, args.measure,
                    tuple(args.labels)), end="")
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
