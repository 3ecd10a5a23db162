"""A study's report: ``python scripts/report.py <runs directory | W&B sweep id> --study FILE [--out DIR]
[--readme README.md]`` computes the study's results once (:mod:`yololab.study.results`), writes them as
``results.json`` and renders ``report.md`` and its PNG figures from that file: the runs, the method and the
rules of the verdicts, every shown metric per arm and against the baseline, learning curves, gradient norm
against depth, dead units, epochs to a target, and a verdict per claim. With ``--readme`` it also rewrites
that README's generated block of this study (:mod:`yololab.study.readme`).

What is tested comes from the study file alone (:mod:`yololab.study.design`): without one, the report has no
claims. ``--baseline``, ``--metric``, ``--alpha`` and ``--test`` override the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yololab.study import arms, plots, readme, results, stats
from yololab.study.conclusion import section_conclusion
from yololab.study.design import Design, load_design, with_overrides
from yololab.study.runs import Run, StudyDataError, by_arm, load_runs_dir
from yololab.study.sections import (
    FIGURES,
    section_accuracy,
    section_design,
    section_differences,
    section_runs,
    section_training,
)
from yololab.study.tables import write_tables
from yololab.study.wandb_runs import is_sweep_id, load_sweep_runs


def load(source: str) -> list[Run]:
    """Runs from a runs directory or, when ``source`` is no path but a sweep id, from W&B."""
    if Path(source).exists() or not is_sweep_id(source):
        return load_runs_dir(source)
    return load_sweep_runs(source)


def choose_baseline(runs: list[Run], design: Design) -> tuple[str, str]:
    """The baseline arm and why: the study file's or ``--baseline`` (which must exist), else the default."""
    names = sorted({r.arm for r in runs})
    if design.baseline is not None:
        if design.baseline not in names:
            raise StudyDataError(f"baseline arm {design.baseline!r} is not among the arms: {', '.join(names)} "
                                 f"(--baseline or the study file)")
        return design.baseline, f"from {design.source}"
    return arms.default_baseline(arms.describe(by_arm(runs)))


def render(r: dict) -> str:
    return "\n".join([section_runs(r), section_design(r), section_accuracy(r), section_differences(r),
                      section_training(r), section_conclusion(r)])


def prepare(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise StudyDataError(f"--out {out}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudyDataError(f"--out {out}: cannot be created ({err.strerror})") from None
    return out


def write_report(runs: list[Run], out: Path, source: str, design: Design | None = None,
                 figures: bool = True) -> Path:
    """``results.json``, then ``report.md`` and the figures rendered from it, in ``out``."""
    design = design or Design()
    baseline, why = choose_baseline(runs, design)
    groups = by_arm(runs, first=baseline)
    if len(groups) < 2:
        raise StudyDataError(f"{source}: only one arm ({baseline}); a report compares two or more")
    computed = {**results.compute(runs, groups, source, design, baseline, why), "figures_drawn": figures}
    path = results.write(computed, prepare(out) / "results.json")
    r = results.read(path)
    if figures:
        plots.draw(r, out, FIGURES)
    report = out / "report.md"
    report.write_text(render(r))
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/report.py", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a runs directory (e.g. logs/sweeps/head-activation) or a W&B sweep id")
    parser.add_argument("--out", type=Path, help="report folder (default <runs directory>/report, or "
                                                 "reports/<sweep id>)")
    parser.add_argument("--study", type=Path, help="the study file (studies/NAME/study.yaml): baseline, metrics, "
                                                   "claims, families; the options below override it")
    parser.add_argument("--baseline", help="the arm the others are compared with (default: the ReLU arm, else the "
                                           "first arm by name)")
    parser.add_argument("--metric", help="the main metric: learning curves, epochs to target, power (default "
                                         "val/mAP50-95)")
    parser.add_argument("--target", type=float, help="target value of the main metric for 'epochs to target'")
    parser.add_argument("--target-fraction", type=float, help="without --target: this fraction of the best arm's "
                                                              "mean final value (default 0.9)")
    parser.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    parser.add_argument("--test", choices=sorted(stats.TESTS), help="the test of the verdicts' p (default sign_flip: "
                                                              "exact, but p >= 2/2^n; paired_t: any p from 2 seeds)")
    parser.add_argument("--no-figures", action="store_true", help="write results.json and report.md only (fast)")
    parser.add_argument("--readme", type=Path, action="append", default=[],
                        help="also rewrite this README's block of the study (<!-- results: <out>/results.json --> "
                             "... <!-- end results -->); may be given more than once")
    return parser.parse_args(argv)


def design_of(args: argparse.Namespace) -> Design:
    design = load_design(args.study) if args.study else Design()
    return with_overrides(design, baseline=args.baseline, metric=args.metric, alpha=args.alpha, test=args.test,
                          target=args.target, target_fraction=args.target_fraction)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        design = design_of(args)
        runs = load(args.source)
        out = args.out or (Path(args.source) / "report" if Path(args.source).exists()
                           else Path("reports") / args.source.replace("/", "-"))
        path = write_report(runs, out, args.source, design, figures=not args.no_figures)
        if Path(args.source).is_dir():  # run folders: the results as two small CSV files beside the report
            write_tables(runs, Path(args.source), out)
        for name in args.readme:
            readme.update(name, out / "results.json", results.read(out / "results.json"))
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"report written to {path}" + "".join(f"; {name} updated" for name in args.readme))
    return 0
