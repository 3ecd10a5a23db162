"""The sections of ``report.md``, each a function of the runs (grouped by arm) that returns markdown."""

from __future__ import annotations

import math
from pathlib import Path

from yololab.study import measures, plots, stats
from yololab.study.arms import Arm
from yololab.study.claims import Claim
from yololab.study.design import Design
from yololab.study.runs import Run
from yololab.study.verdicts import Finding, Scale

METRICS = ("val/mAP50", "val/mAP50-95")
FIGURES = ("map_per_arm.png", "differences.png", "learning_curves.png", "grad_norm_depth.png", "dead_fraction.png",
           "epochs_to_target.png")
SETTINGS = ("trainer.max_epochs", "data.img_size", "data.batch_size", "model.head._target_", "model.optimizer.lr")
UNADJUSTED = ("CIs: 95% t intervals of the mean paired difference, not adjusted for multiplicity; p: {test} "
              "(the study's test), Holm-adjusted across the arms (one family per metric); beside it, unadjusted, "
              "the {other}.")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def pts(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.2f}"


def signed_pts(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:+.2f}"


def summary_cell(s: stats.Summary) -> str:
    return f"{pts(s.mean)} ± {pts(s.std)} [{pts(s.ci_low)}, {pts(s.ci_high)}]"


def setting(run: Run, dotted: str):
    value = run.config
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def section_runs(groups: dict[str, list[Run]], arms: dict[str, Arm], source: str) -> str:
    rows = [[name, str(len(runs)), ", ".join(str(r.seed) for r in runs), arms[name].activation,
             "–" if arms[name].slope is None else f"{arms[name].slope:g}"] for name, runs in groups.items()]
    runs = [r for rs in groups.values() for r in rs]
    shared = []
    for key in SETTINGS:
        values = {str(setting(r, key)) for r in runs}
        shared.append(f"`{key}` = {values.pop() if len(values) == 1 else 'varies'}")
    data = {Path(str(setting(r, "data.root"))).name for r in runs}
    shared.append(f"data: {', '.join(sorted(data))}")
    return (f"# Study report\n\nSource: `{source}`, {len(runs)} finished runs in {len(groups)} arms.\n\n"
            + table(["arm", "runs", "seeds", "head activation", "slope α"], rows) + "\n\nShared settings: "
            + "; ".join(shared) + f".\n\n{cost(runs)}\n")


def cost(runs: list[Run]) -> str:
    """The compute the runs took: their epochs' training and validation seconds (start-up not included)."""
    seconds = sorted(measures.epoch_seconds(run) for run in runs)
    if not any(seconds):
        return "Compute: the runs logged no epoch times."
    threads = sorted({measures.threads(r) for r in runs})
    return (f"Compute: {sum(seconds) / 3600:.2f} h of training and validation in all (the epochs' `time/train_s` + "
            f"`time/val_s`, start-up not included); per run {seconds[0] / 60:.1f}–{seconds[-1] / 60:.1f} min, median "
            f"{seconds[len(seconds) // 2] / 60:.1f} min (`runs.csv`: `wall_s` of each). CPU threads per run: "
            f"{', '.join(threads)}; a run's seconds grow with whatever else shared the machine.")


def section_design(design: Design, baseline: str, why: str) -> str:
    claims = ", ".join(c.key for c in design.claims) or "none"
    return (f"## What is tested\n\nBaseline: **{baseline}** ({why}). Metric of the claims: {design.metric}. "
            f"Significant: Holm-adjusted p < {design.alpha:g}, p from the {stats.TESTS[design.test]} (`test: "
            f"{design.test}`). Smallest difference that matters (margin): "
            f"{100 * design.margin:.2f} mAP points; for the gradient ratio {design.vanishing_margin:g} (log10). A "
            "claim is *not supported* only when the data exclude an effect of that size (or show the opposite "
            "significantly); otherwise it is *inconclusive*, with the observed direction, the CI, and the smallest "
            f"effect the design could detect. Claims: {claims} (from {design.source}). Each claim is its own "
            "family: no correction across claims.\n")


def section_accuracy(groups: dict[str, list[Run]]) -> str:
    rows = [[arm, str(len(runs))] + [summary_cell(stats.summarize([measures.final(r, m) for r in runs]))
                                     for m in METRICS] for arm, runs in groups.items()]
    return ("## Accuracy per arm\n\nFinal validation metrics in mAP points (×100): mean ± standard deviation "
            "over seeds [95% percentile bootstrap interval of the mean].\n\n"
            + table(["arm", "n", *METRICS], rows) + f"\n\n![mAP per arm]({FIGURES[0]})\n")


def section_differences(comparisons: dict[str, list[stats.Paired]], baseline: str, design: Design) -> str:
    test = design.test
    other = next(name for name in stats.TESTS if name != test)
    names = {"test": stats.TESTS[test], "other": stats.TESTS[other]}
    parts = [f"## Differences against {baseline}, paired by seed\n\nArm minus {baseline} over the seeds both ran, "
             f"in mAP points. {UNADJUSTED.format(**names)}\n"]
    for metric, rows in comparisons.items():
        body = [[c.arm, str(c.n), signed_pts(c.mean_diff), f"[{signed_pts(c.ci_low)}, {signed_pts(c.ci_high)}]",
                 f"{c.p:.3g}", f"{c.p_holm:.3g}", f"{c.p_other:.3g}"] for c in rows]
        parts.append(f"**{metric}**\n\n" + table(["arm", "pairs", "mean diff", "95% CI", "p", "Holm p",
                                                   f"p, {names['other']}"], body))
    pairs = sorted({c.n for rows in comparisons.values() for c in rows})
    note = ", ".join(f"{stats.sign_flip_floor(n):.3g} with {n} pairs" for n in pairs)
    parts.append(f"The smallest p the sign-flip test can give is 2/2^n ({note}); the t-test's has no such floor "
                 f"from two pairs on.\n\n![paired differences]({FIGURES[1]})\n")
    parts.append(section_power(comparisons.get(design.metric, []), design, design.metric))
    return "\n\n".join(parts)


def section_power(rows: list[stats.Paired], design: Design, metric: str) -> str:
    """How many seeds a difference needs: from the spread of the paired differences measured (the root mean
    square of the arms' standard deviations), the smallest difference a study of n seeds detects (two-sided,
    80% power) at Holm's strictest level alpha / k for a family of k comparisons."""
    sds = [c.sd for c in rows if math.isfinite(c.sd)]
    if not sds:
        return ""
    sd = math.sqrt(sum(v * v for v in sds) / len(sds))
    seeds = sorted({max(c.n for c in rows), 3, 5, 10, 20})
    def detectable(n: int, k: int) -> str:
        found = stats.min_detectable(sd, n, design.alpha, k, floor=stats.test_floor(design.test, n))
        return pts(found) if math.isfinite(found) else "none"

    body = [[f"{k} comparison{'s' if k > 1 else ''}", *(detectable(n, k) for n in seeds)]
            for k in range(1, len(rows) + 1)]
    return (f"**Power** ({metric}): the paired differences against the baseline vary by {pts(sd)} mAP points from "
            f"seed to seed (root mean square of the {len(sds)} arms' standard deviations). With that spread, the "
            f"smallest difference (mAP points) the {stats.TESTS[design.test]} finds with 80% power at Holm's "
            "strictest level, α / comparisons in the family, by seeds (none: the test's smallest p cannot pass):\n\n"
            + table(["family", *(f"{n} seeds" for n in seeds)], body) + "\n")


def mean_sd(values: list[float], digits: str) -> str:
    s = stats.summarize([v for v in values if not math.isnan(v)])
    if s.n == 0:
        return "–"
    return f"{s.mean:{digits}}" if s.n == 1 else f"{s.mean:{digits}} ± {s.std:{digits}}"


def depth_note(groups: dict[str, list[Run]]) -> str:
    found = plots.layouts(groups)
    if len(found) < 2:
        return ""
    sizes = "; ".join(f"{len(layout)} layers: {len(runs)} runs" for layout, runs in found.items())
    return f"The runs have {len(found)} head layouts ({sizes}): the depth figure has one panel per layout. "


def section_training(groups: dict[str, list[Run]], metric: str, target: float) -> str:
    rows = []
    for arm, runs in groups.items():
        reached = [e for e in (measures.epochs_to(r, metric, target) for r in runs) if e is not None]
        epochs = f"{sum(reached) / len(reached):.1f}" if reached else "–"
        rows.append([arm, mean_sd([measures.head_grad_norm(r) for r in runs], ".3g"),
                     mean_sd([measures.log_gradient_ratio(r) for r in runs], ".3f"),
                     mean_sd([measures.dead_fraction(r) for r in runs], ".3f"), f"{len(reached)}/{len(runs)}", epochs])
    return (f"## Training dynamics\n\n![learning curves]({FIGURES[2]})\n\n![gradient norm against depth]({FIGURES[3]})"
            f"\n\n![dead units]({FIGURES[4]})\n\n![epochs to target]({FIGURES[5]})\n\n{depth_note(groups)}"
            "Overall gradient magnitude: root of the sum over the hidden head layers of the squared weight-gradient "
            "norm, each averaged over the logged steps. Gradient ratio: per path through the head, log10 of the "
            "gradient norm at its input-side layer over that at its output-side layer, per logged step, averaged "
            "(more negative: more vanishing towards the input). Dead units: share of a hidden layer's channels "
            f"that pass no gradient for any input of the logged batch. Target: {metric} ≥ {target:.3f}.\n\n"
            + table(["arm", "overall gradient magnitude", "log10 gradient ratio (input/output)", "dead fraction",
                     "reached target", "mean epochs to target"], rows) + "\n")


def finding_rows(findings: list[Finding], scale: Scale) -> str:
    rows = [[f.effect.label, str(f.effect.n), scale.show(f.effect.estimate),
             f"[{scale.show(f.effect.ci_low)}, {scale.show(f.effect.ci_high)}]", f"{f.effect.p:.3g}",
             f"{f.effect.p_holm:.3g}", scale.size(f.effect.detectable), f.note] for f in findings]
    return table(["comparison", "n", f"mean diff ({scale.unit})", "95% CI", "p", "Holm p", "smallest detectable",
                  "result"], rows)


def claim_detail(i: int, claim: Claim) -> str:
    parts = [f"### Claim {i}: {claim.text}", f"**Verdict: {claim.verdict}.**"]
    if claim.findings:
        parts += [claim.family, finding_rows(claim.findings, claim.scale)]
    parts += claim.notes
    if claim.descriptive:
        parts += [claim.descriptive_title + ":", finding_rows(claim.descriptive, claim.descriptive_scale)]
    return "\n\n".join(p for p in parts if p)


def section_conclusion(found: list[Claim]) -> str:
    """Each claim's verdict with its reason (direction, CI, what the design could detect), then its table."""
    lines = ["## Conclusion\n"] + ([] if found else ["No claims: the study file lists none."])
    lines += [f"{i}. **{c.text}** {c.verdict[0].upper()}{c.verdict[1:]}: {c.reason}." for i, c in enumerate(found, 1)]
    details = [claim_detail(i, c) for i, c in enumerate(found, 1)]
    return "\n".join(lines) + "\n\n" + "\n\n".join(details) + "\n"
