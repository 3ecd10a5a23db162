"""The bar a head must clear to enter a study (docs/head-probe-study, family 3): each candidate arm's final
metric against a fraction of a reference arm's mean over its seeds at the same budget.

For the global ``fc`` head: its one-change ablations (one run each) against family 1's ``relu`` ``mlp`` head, val
mAP50 at 80%. The table is written from the runs, so the docs' figures are not copied by hand.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys

from yololab.study.measures import final
from yololab.study.runs import Run, StudyDataError, load_runs_dir


def reference_mean(runs: list[Run], arm: str, metric: str) -> tuple[float, int]:
    values = [final(r, metric) for r in runs if r.arm == arm]
    values = [v for v in values if not math.isnan(v)]
    if not values:
        raise StudyDataError(f"no run of the reference arm {arm} with {metric}")
    return statistics.fmean(values), len(values)


def _cell(value: float) -> str:
    return "not logged" if math.isnan(value) else f"{value:.4f}"


def _reference_row(reference: list[Run], arm: str, n: int, mean: float, also: list[str]) -> str:
    """The reference arm's mean of every shown metric, so that a candidate's losses have something to sit beside."""
    cells = [_cell(statistics.fmean([final(r, m) for r in reference if r.arm == arm])) for m in also]
    return "| " + " | ".join([f"{arm} (reference, mean)", f"{n} seed(s)", f"{mean:.4f}", "100%", "–", *cells]) + " |"


def table(candidates: list[Run], reference: list[Run], arm: str, metric: str, fraction: float,
          also: tuple[str, ...] = ()) -> str:
    """The entry-bar table; ``also`` adds final metrics shown beside the verdict (e.g. the losses that tell a
    head that overfits from one that does not learn), the reference arm's mean in the first row."""
    mean, n = reference_mean(reference, arm, metric)
    bar = fraction * mean
    also = list(also)
    lines = [f"The bar: {fraction:.0%} of {arm}'s mean {metric} over its {n} seed(s), {mean:.4f}: **{bar:.4f}**.", "",
             "| " + " | ".join(["arm", "seed", metric, f"of {arm}'s mean", "clears the bar", *also]) + " |",
             "| " + " | ".join(["---"] * (5 + len(also))) + " |"]
    if also:
        lines.append(_reference_row(reference, arm, n, mean, also))
    values = {run.name: final(run, metric) for run in candidates}
    for run in sorted(candidates, key=lambda r: (r.arm, r.seed)):
        value = values[run.name]
        cells = [_cell(final(run, m)) for m in also]
        if math.isnan(value):
            verdict = ["not logged", "–", "no"]
        else:
            verdict = [f"{value:.4f}", f"{value / mean:.0%}", "yes" if value >= bar else "no"]
        lines.append("| " + " | ".join([run.arm, str(run.seed), *verdict, *cells]) + " |")
    cleared = sorted({r.arm for r in candidates if values[r.name] >= bar})
    lines += ["", f"Cleared: {', '.join(cleared)}." if cleared else "No arm clears the bar."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/entry_bar.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("candidates", help="the candidates' runs folder (e.g. the fc ablations' sweep folder)")
    parser.add_argument("--reference", required=True, help="the reference arm's runs folder")
    parser.add_argument("--arm", default="relu", help="the reference arm")
    parser.add_argument("--metric", default="val/mAP50")
    parser.add_argument("--fraction", type=float, default=0.8)
    parser.add_argument("--also", action="append", default=[], metavar="METRIC",
                        help="a final metric shown beside the verdict (repeatable), e.g. train/loss_epoch, val/loss")
    args = parser.parse_args(argv)
    try:
        print(table(load_runs_dir(args.candidates), load_runs_dir(args.reference), args.arm, args.metric,
                    args.fraction, tuple(args.also)), end="")
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
