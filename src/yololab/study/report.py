"""A study's report: ``python scripts/report.py <runs directory | W&B sweep id> [--study FILE] [--out DIR]`` writes
``report.md`` and its PNG figures: accuracy per arm, paired differences against a baseline with Holm-corrected
tests, learning curves, gradient norm against depth, dead units, epochs to a target, and a verdict per claim.

What is tested (baseline, metric, margins, claims) comes from the study file (:mod:`yololab.study.design`),
with command-line options taking precedence; without either, the baseline is the ReLU arm, else the first arm.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from yololab.study import arms, claims, measures, plots, stats
from yololab.study.design import Design, load_design, with_overrides
from yololab.study.runs import Run, StudyDataError, by_arm, load_runs_dir
from yololab.study.sections import (
    FIGURES,
    METRICS,
    section_accuracy,
    section_conclusion,
    section_design,
    section_differences,
    section_runs,
    section_training,
)
from yololab.study.tables import write_tables
from yololab.study.wandb_runs import is_sweep_id, load_sweep_runs


@dataclass(frozen=True)
class Options:
    target: float | None = None  # absolute; None: target_fraction of the best arm's mean
    target_fraction: float = 0.9


def load(source: str) -> list[Run]:
    """Runs from a runs directory or, when ``source`` is no path but a sweep id, from W&B."""
    if Path(source).exists() or not is_sweep_id(source):
        return load_runs_dir(source)
    return load_sweep_runs(source)


def default_target(groups: dict[str, list[Run]], metric: str, fraction: float) -> float:
    means = [stats.summarize([measures.final(r, metric) for r in runs]).mean for runs in groups.values()]
    return fraction * max(m for m in means if not math.isnan(m)) if any(not math.isnan(m) for m in means) else 0.0


def choose_baseline(runs: list[Run], design: Design) -> tuple[str, str]:
    """The baseline arm and why: the study file's or ``--baseline`` (which must exist), else the default."""
    names = sorted({r.arm for r in runs})
    if design.baseline is not None:
        if design.baseline not in names:
            raise StudyDataError(f"baseline arm {design.baseline!r} is not among the arms: {', '.join(names)} "
                                 f"(--baseline or the study file)")
        return design.baseline, f"from {design.source}"
    return arms.default_baseline(arms.describe(by_arm(runs)))


def draw(groups: dict[str, list[Run]], comparisons: dict, baseline: str, design: Design, target: float,
         out: Path) -> None:
    plots.map_per_arm(groups, out / FIGURES[0])
    plots.differences(comparisons, baseline, out / FIGURES[1], design.alpha)
    plots.learning_curves(groups, design.metric, out / FIGURES[2], target)
    plots.grad_norm_depth(groups, out / FIGURES[3])
    plots.dead_fraction(groups, out / FIGURES[4])
    plots.epochs_to_target(groups, design.metric, target, out / FIGURES[5])


def write_report(runs: list[Run], out: Path, source: str, design: Design | None = None,
                 options: Options = Options()) -> Path:
    design = design or Design()
    baseline, why = choose_baseline(runs, design)
    groups = by_arm(runs, first=baseline)
    if len(groups) < 2:
        raise StudyDataError(f"{source}: only one arm ({baseline}); a report compares two or more")
    others = [arm for arm in groups if arm != baseline]
    comparisons = {m: claims.family(groups, baseline, others, design.test, measures.final, m) for m in METRICS}
    target = options.target if options.target is not None else default_target(groups, design.metric,
                                                                               options.target_fraction)
    out.mkdir(parents=True, exist_ok=True)
    draw(groups, comparisons, baseline, design, target, out)
    text = "\n".join([section_runs(groups, arms.describe(groups), source), section_design(design, baseline, why),
                      section_accuracy(groups), section_differences(comparisons, baseline, design),
                      section_training(groups, design.metric, target),
                      section_conclusion(claims.evaluate_claims(groups, design))])
    path = out / "report.md"
    path.write_text(text)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/report.py", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a runs directory (e.g. logs/sweeps/head-activation) or a W&B sweep id")
    parser.add_argument("--out", type=Path, help="report folder (default <runs directory>/report, or "
                                                 "reports/<sweep id>)")
    parser.add_argument("--study", type=Path, help="the study file (e.g. studies/NAME/study.yaml): baseline, "
                                                   "metric, margins and claims; the options below override it")
    parser.add_argument("--baseline", help="the arm the others are compared with (default: the ReLU arm, else the "
                                           "first arm by name)")
    parser.add_argument("--metric", help="metric of the claims and the target (default val/mAP50-95)")
    parser.add_argument("--margin", type=float, help="the smallest difference of the metric that matters "
                                                     "(default 0.01: one mAP point)")
    parser.add_argument("--target", type=float, help="target value of --metric for 'epochs to target'")
    parser.add_argument("--target-fraction", type=float, default=Options.target_fraction,
                        help="without --target: this fraction of the best arm's mean final value (default 0.9)")
    parser.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    parser.add_argument("--test", choices=sorted(stats.TESTS), help="the test of the verdicts' p (default sign_flip: "
                                                              "exact, but p >= 2/2^n; paired_t: any p from 2 seeds)")
    return parser.parse_args(argv)


def design_of(args: argparse.Namespace) -> Design:
    design = load_design(args.study) if args.study else Design()
    return with_overrides(design, baseline=args.baseline, metric=args.metric, margin=args.margin, alpha=args.alpha,
                          test=args.test)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        design = design_of(args)
        runs = load(args.source)
        out = args.out or (Path(args.source) / "report" if Path(args.source).exists()
                           else Path("reports") / args.source.replace("/", "-"))
        path = write_report(runs, out, args.source, design, Options(args.target, args.target_fraction))
        if Path(args.source).is_dir():  # run folders: the results as two small CSV files beside the report
            write_tables(runs, Path(args.source), out)
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0
