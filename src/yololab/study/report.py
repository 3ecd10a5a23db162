"""A study's report: ``python scripts/report.py <runs directory | W&B sweep id> [--out DIR]`` writes
``report.md`` and its PNG figures: accuracy per arm, paired differences against a baseline with Holm-corrected
tests, learning curves, gradient norm against depth, dead units, epochs to a target, and a verdict per claim."""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from yololab.study import claims, measures, plots, stats
from yololab.study.runs import Run, StudyDataError, by_arm, load_runs_dir
from yololab.study.wandb_runs import is_sweep_id, load_sweep_runs

METRICS = ("val/mAP50", "val/mAP50-95")
FIGURES = ("map_per_arm.png", "differences.png", "learning_curves.png", "grad_norm_depth.png", "dead_fraction.png",
           "epochs_to_target.png")
SETTINGS = ("trainer.max_epochs", "data.img_size", "data.batch_size", "model.head._target_", "model.optimizer.lr")


@dataclass(frozen=True)
class Options:
    baseline: str = "relu"
    metric: str = "val/mAP50-95"
    target: float | None = None  # absolute; None: target_fraction of the best arm's mean
    target_fraction: float = 0.9
    alpha: float = 0.05


def load(source: str) -> list[Run]:
    """Runs from a runs directory or, when ``source`` is no path but a sweep id, from W&B."""
    if Path(source).exists() or not is_sweep_id(source):
        return load_runs_dir(source)
    return load_sweep_runs(source)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def pts(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.2f}"


def summary_cell(s: stats.Summary) -> str:
    return f"{pts(s.mean)} ± {pts(s.std)} [{pts(s.ci_low)}, {pts(s.ci_high)}]"


def setting(run: Run, dotted: str):
    value = run.config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def section_runs(groups: dict[str, list[Run]], source: str) -> str:
    rows = [[arm, str(len(runs)), ", ".join(str(r.seed) for r in runs), str(runs[0].activation)]
            for arm, runs in groups.items()]
    runs = [r for rs in groups.values() for r in rs]
    shared = []
    for key in SETTINGS:
        values = {str(setting(r, key)) for r in runs}
        shared.append(f"`{key}` = {values.pop() if len(values) == 1 else 'varies'}")
    data = {Path(str(setting(r, "data.root"))).name for r in runs}
    shared.append(f"data: {', '.join(sorted(data))}")
    return (f"# Study report\n\nSource: `{source}`, {len(runs)} finished runs in {len(groups)} arms.\n\n"
            + table(["arm", "runs", "seeds", "head activation"], rows) + "\n\nShared settings: "
            + "; ".join(shared) + ".\n")


def section_accuracy(groups: dict[str, list[Run]]) -> str:
    rows = [[arm, str(len(runs))] + [summary_cell(stats.summarize([measures.final(r, m) for r in runs]))
                                     for m in METRICS] for arm, runs in groups.items()]
    return ("## Accuracy per arm\n\nFinal validation metrics in mAP points (×100): mean ± standard deviation "
            "over seeds [95% percentile bootstrap interval of the mean].\n\n"
            + table(["arm", "n", *METRICS], rows) + f"\n\n![mAP per arm]({FIGURES[0]})\n")


def section_differences(comparisons: dict[str, list[stats.Paired]], baseline: str) -> str:
    parts = [f"## Differences against {baseline}, paired by seed\n\nArm minus {baseline} over the seeds both ran, "
             "in mAP points; exact sign-flip permutation test of the mean difference; Holm's correction across "
             "the arms (one family per metric).\n"]
    for metric, rows in comparisons.items():
        body = [[c.arm, str(c.n), f"{100 * c.mean_diff:+.2f}", f"[{100 * c.ci_low:+.2f}, {100 * c.ci_high:+.2f}]",
                 f"{c.p:.3g}", f"{c.p_holm:.3g}"] for c in rows]
        parts.append(f"**{metric}**\n\n" + table(["arm", "pairs", "mean diff", "95% CI", "p", "Holm p"], body))
    floor = {c.n for rows in comparisons.values() for c in rows}
    note = ", ".join(f"{stats.sign_flip_floor(n):.3g} with {n} pairs" for n in sorted(floor))
    parts.append(f"The smallest p the test can give is 2/2^n ({note}).\n\n![paired differences]({FIGURES[1]})\n")
    return "\n\n".join(parts)


def section_training(groups: dict[str, list[Run]], metric: str, target: float) -> str:
    rows = []
    for arm, runs in groups.items():
        grad = stats.summarize([measures.head_grad_norm(r) for r in runs])
        dead = stats.summarize([measures.dead_fraction(r) for r in runs])
        reached = [e for e in (measures.epochs_to(r, metric, target) for r in runs) if e is not None]
        epochs = f"{sum(reached) / len(reached):.1f}" if reached else "–"
        rows.append([arm, f"{grad.mean:.3g} ± {grad.std:.3g}", f"{dead.mean:.3f} ± {dead.std:.3f}",
                     f"{len(reached)}/{len(runs)}", epochs])
    return (f"## Training dynamics\n\n![learning curves]({FIGURES[2]})\n\n![gradient norm against depth]({FIGURES[3]})"
            f"\n\n![dead units]({FIGURES[4]})\n\n![epochs to target]({FIGURES[5]})\n\n"
            "Head gradient norm: root of the sum over the hidden head layers of the squared weight-gradient norm, "
            "each averaged over the logged steps. Dead units: share of a hidden layer's channels that pass no "
            f"gradient for any input of the logged batch. Target: {metric} ≥ {target:.3f}.\n\n"
            + table(["arm", "head gradient norm", "dead fraction", "reached target", "mean epochs to target"], rows)
            + "\n")


def section_conclusion(found: list[claims.Claim], metric: str, alpha: float) -> str:
    lines = [f"## Conclusion\n\nEach claim against the data ({metric}; significant: Holm-adjusted p < {alpha}).\n"]
    for i, claim in enumerate(found, 1):
        lines.append(f"{i}. **{claim.text}** {claim.verdict[0].upper()}{claim.verdict[1:]}.")
        lines += [f"   - {line}" for line in claim.evidence]
    return "\n".join(lines) + "\n"


def default_target(groups: dict[str, list[Run]], metric: str, fraction: float) -> float:
    means = [stats.summarize([measures.final(r, metric) for r in runs]).mean for runs in groups.values()]
    return fraction * max(m for m in means if not math.isnan(m)) if any(not math.isnan(m) for m in means) else 0.0


def write_report(runs: list[Run], out: Path, source: str, options: Options = Options()) -> Path:
    groups = by_arm(runs, first=options.baseline)
    if options.baseline not in groups:
        raise StudyDataError(f"baseline arm {options.baseline!r} is not among the arms: {', '.join(groups)} "
                             "(--baseline)")
    if len(groups) < 2:
        raise StudyDataError(f"{source}: only one arm ({options.baseline}); a report compares two or more")
    others = [arm for arm in groups if arm != options.baseline]
    comparisons = {m: claims.family(groups, options.baseline, others, measures.final, m) for m in METRICS}
    target = options.target if options.target is not None else default_target(groups, options.metric,
                                                                               options.target_fraction)
    out.mkdir(parents=True, exist_ok=True)
    plots.map_per_arm(groups, out / FIGURES[0])
    plots.differences(comparisons, options.baseline, out / FIGURES[1], options.alpha)
    plots.learning_curves(groups, options.metric, out / FIGURES[2], target)
    plots.grad_norm_depth(groups, out / FIGURES[3])
    plots.dead_fraction(groups, out / FIGURES[4])
    plots.epochs_to_target(groups, options.metric, target, out / FIGURES[5])
    text = "\n".join([section_runs(groups, source), section_accuracy(groups),
                      section_differences(comparisons, options.baseline),
                      section_training(groups, options.metric, target),
                      section_conclusion(claims.evaluate_claims(groups, options.metric, options.alpha),
                                         options.metric, options.alpha)])
    path = out / "report.md"
    path.write_text(text)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/report.py", description=__doc__.split("\n")[0])
    parser.add_argument("source", help="a runs directory (e.g. logs/sweeps/head-activation) or a W&B sweep id")
    parser.add_argument("--out", type=Path, help="report folder (default <runs directory>/report, or "
                                                 "reports/<sweep id>)")
    parser.add_argument("--baseline", default=Options.baseline, help="the arm the others are compared with")
    parser.add_argument("--metric", default=Options.metric, help="metric of the claims and the target")
    parser.add_argument("--target", type=float, help="target value of --metric for 'epochs to target'")
    parser.add_argument("--target-fraction", type=float, default=Options.target_fraction,
                        help="without --target: this fraction of the best arm's mean final value (default 0.9)")
    parser.add_argument("--alpha", type=float, default=Options.alpha, help="significance level (default 0.05)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runs = load(args.source)
        out = args.out or (Path(args.source) / "report" if Path(args.source).exists()
                           else Path("reports") / args.source.replace("/", "-"))
        path = write_report(runs, out, args.source, Options(args.baseline, args.metric, args.target,
                                                           args.target_fraction, args.alpha))
    except StudyDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report written to {path}")
    return 0
