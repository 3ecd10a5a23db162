"""The deep variant's depth (docs/head-probe-study, family 2): the smallest head depth at which one arm's
backward signal measurably shrinks from the last hidden layer's output to the first's.

Per depth (``model.head.depth`` in each run's config): the arm's log10 backward-signal ratio
(:func:`yololab.study.measures.log_backward_ratio`) over its seeds, with the Student t 95% interval of the
mean. "Measurably below 1" is the rule written before the runs: the interval lies below 0.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from yololab.study.measures import log_backward_ratio, log_backward_ratio_at_start
from yololab.study.runs import Run, StudyDataError
from yololab.study.stats import t_interval


@dataclass(frozen=True)
class DepthRow:
    depth: int
    seeds: tuple[int, ...]
    ratios: tuple[float, ...]  # log10 backward-signal ratio per seed, in the order of ``seeds``
    mean: float
    low: float
    high: float
    start: float  # mean over the seeds of the ratio at the first logged step (the init's), descriptive

    @property
    def vanishes(self) -> bool:
        return self.high < 0  # NaN (fewer than two seeds) is not below 0


def head_depth(run: Run) -> int:
    depth = run.config.get("model", {}).get("head", {}).get("depth")
    if not isinstance(depth, int):
        raise StudyDataError(f"{run.name}: its config has no model.head.depth")
    return depth


def head_init(run: Run) -> str | None:
    return run.config.get("model", {}).get("init")


def defined(values) -> list[float]:
    return [v for v in values if not math.isnan(v)]


def mean_or_nan(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def depth_rows(runs: list[Run], arm: str) -> list[DepthRow]:
    """A row per depth of the ``arm``'s runs, shallowest first; a seed twice at one depth is an error, and so are
    runs under different inits (the ratio depends on the init as much as on the depth)."""
    arm_runs = [r for r in runs if r.arm == arm]
    inits = {head_init(r): r.name for r in arm_runs}
    if len(inits) > 1:
        named = ", ".join(f"{init} ({name})" for init, name in inits.items())
        raise StudyDataError(f"runs of {arm} under different inits: {named}; give one init's runs")
    by_depth: dict[int, dict[int, Run]] = {}
    for run in arm_runs:
        seeds = by_depth.setdefault(head_depth(run), {})
        if run.seed in seeds:
            raise StudyDataError(f"{run.name}: a second run of {arm}, seed {run.seed}, depth {head_depth(run)}")
        seeds[run.seed] = run
    if not by_depth:
        raise StudyDataError(f"no run of the arm {arm}")
    rows = []
    for depth, seeds in sorted(by_depth.items()):
        order = tuple(sorted(seeds))
        ratios = tuple(log_backward_ratio(seeds[s]) for s in order)
        values = defined(ratios)
        rows.append(DepthRow(depth, order, ratios, mean_or_nan(values), *t_interval(values),
                             mean_or_nan(defined(log_backward_ratio_at_start(seeds[s]) for s in order))))
    return rows


def chosen_depth(rows: list[DepthRow]) -> int | None:
    """The smallest depth whose interval lies below 0, or None."""
    return next((row.depth for row in rows if row.vanishes), None)


def table(rows: list[DepthRow], arm: str) -> str:
    lines = [f"| depth | seeds | {arm}: log10 backward-signal ratio (first / last hidden layer's output), per seed "
             "| mean | 95% t interval | below 0 | at the first logged step (mean) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        per_seed = ", ".join(f"{v:+.3f}" for v in r.ratios)
        lines.append(f"| {r.depth} | {len(r.seeds)} | {per_seed} | {r.mean:+.3f} | [{r.low:+.3f}, {r.high:+.3f}] | "
                     f"{'yes' if r.vanishes else 'no'} | {r.start:+.3f} |")
    depth = chosen_depth(rows)
    verdict = (f"The deep variant's depth: **{depth}**, the smallest depth whose interval lies below 0."
               if depth is not None else "No depth's interval lies below 0: no depth shows measurable vanishing.")
    note = ("The rule uses each run's mean over its logged steps; the last column, the ratio under the weights as "
            "initialised, is descriptive.")
    return "\n".join(lines) + "\n\n" + verdict + "\n\n" + note + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from yololab.study.runs import load_runs_dir

    parser = argparse.ArgumentParser(prog="scripts/depth_search.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="run folders (a sweep's folder, or several)")
    parser.add_argument("--arm", default="relu")
    args = parser.parse_args(argv)
    try:
        # one folder may hold several depths (a seed once per depth): depth_rows checks that itself
        runs = [run for folder in args.folders for run in load_runs_dir(folder, unique=False)]
        print(table(depth_rows(runs, args.arm), args.arm), end="")
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
