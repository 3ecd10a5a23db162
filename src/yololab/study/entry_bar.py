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


def table(candidates: list[Run], reference: list[Run], arm: str, metric: str, fraction: float) -> str:
    mean, n = reference_mean(reference, arm, metric)
    bar = fraction * mean
    lines = [f"The bar: {fraction:.0%} of {arm}'s mean {metric} over its {n} seed(s), {mean:.4f}: **{bar:.4f}**.", "",
             f"| arm | seed | {metric} | of {arm}'s mean | clears the bar |", "| --- | --- | --- | --- | --- |"]
    values = {run.name: final(run, metric) for run in candidates}
    for run in sorted(candidates, key=lambda r: (r.arm, r.seed)):
        value = values[run.name]
        if math.isnan(value):
            lines.append(f"| {run.arm} | {run.seed} | not logged | – | no |")
            continue
        lines.append(f"| {run.arm} | {run.seed} | {value:.4f} | {value / mean:.0%} | "
                     f"{'yes' if value >= bar else 'no'} |")
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
    args = parser.parse_args(argv)
    try:
        print(table(load_runs_dir(args.candidates), load_runs_dir(args.reference), args.arm, args.metric,
                    args.fraction), end="")
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
