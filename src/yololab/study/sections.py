"""The sections of ``report.md`` before the conclusion, each rendered from the results object
(:mod:`yololab.study.results`) alone."""

from __future__ import annotations

import math

from yololab.study.verdicts import OUTCOME_RULES, SIZE_RULE, VERDICT_RULES, WORD_RULE, interval

FIGURES = ("map_per_arm.png", "differences.png", "learning_curves.png", "grad_norm_depth.png", "dead_fraction.png",
           "epochs_to_target.png")
ALT = ("per arm", "paired differences", "learning curves", "gradient norm against depth", "dead units",
       "epochs to target")
CI_SCOPE = ("Every CI and test covers the variation between training seeds, on one fixed validation set: "
            "it says nothing of other validation images, other datasets or other schedules.")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def num(value: float, factor: float = 1.0, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if math.isinf(value):
        return "none"
    text = f"{factor * value + 0.0:{'+' if signed else ''}.2f}"
    return text.replace("-0.00", "+0.00" if signed else "0.00")


def image(r: dict, index: int) -> str:
    """The figure's markdown, or nothing when the report was written without figures (``--no-figures``)."""
    return f"![{ALT[index]}]({FIGURES[index]})\n\n" if r.get("figures_drawn", True) else ""


def p_cell(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3g}"


def unit_note(q: dict) -> str:
    return f"{q['unit']}" + (f", ×{q['factor']:g}" if q["factor"] != 1 else "")


def section_runs(r: dict) -> str:
    parameters = list(r["arms"][0]["parameters"]) if r["arms"] else []
    rows = [[a["name"], str(a["runs"]), ", ".join(map(str, a["seeds"])), a["activation"],
             *("–" if a["parameters"][p] is None else f"{a['parameters'][p]:g}" for p in parameters)]
            for a in r["arms"]]
    text = (f"# Study report\n\nSource: `{r['source']}`, {r['runs']} finished runs in {len(r['arms'])} arms.\n\n"
            + table(["arm", "runs", "seeds", "head activation", *parameters], rows)
            + "\n\nShared settings: " + "; ".join(r["settings"]) + f".\n\n{cost_line(r['cost'])}\n"
            + machines_text(r.get("machines")))
    if r["problems"]:
        text += "\n**Values the report could not use** (left out of that metric):\n\n" + "\n".join(
            f"- {p['problem']}: " + ", ".join(f"`{name}`" if name != "every run" else name for name in p["runs"])
            for p in r["problems"]) + "\n"
    return text


def machines_text(m: dict | None) -> str:
    """Which machines ran the study; a seed whose arms ran on several is named, arms by machine."""
    if not m:
        return ""
    text = "\nMachines (CPU model and instruction set, `environment.json`): " + "; ".join(m["all"]) + ".\n"
    if m["mixed_seeds"]:
        text += ("Seeds whose arms ran on more than one machine (their paired differences also carry the "
                 "drift between machines):\n\n" + "\n".join(
                     f"- seed {seed}: " + "; ".join(f"{machine}: {', '.join(arms)}" for machine, arms in by.items())
                     for seed, by in m["mixed_seeds"].items()) + "\n")
    return text


def cost_line(c: dict | None) -> str:
    if c is None:
        return "Compute: the runs logged no epoch times."
    return (f"Compute: {c['hours']:.2f} h of training and validation in all (the epochs' `time/train_s` + "
            f"`time/val_s`, start-up not included); per run {c['min_minutes']:.1f}–{c['max_minutes']:.1f} min, "
            f"median {c['median_minutes']:.1f} min (`runs.csv`: `wall_s` of each). CPU threads per run: "
            f"{', '.join(c['threads'])}; a run's seconds grow with whatever else shared the machine.")


def families_text(r: dict) -> str:
    claims_of: dict[str, list[str]] = {}
    for c in r["claims"]:
        claims_of.setdefault(c["family"], []).append(c["key"])
    parts = []
    for name, family in r["families"].items():
        owners = claims_of.get(name) or [name.removesuffix(" (beside)") + ", beside its verdict"]
        parts.append(f"{name} ({family['size']} comparison{'s' if family['size'] > 1 else ''}; "
                     f"{', '.join(owners)})")
    return "; ".join(parts) or "none"


def confidence_text(r: dict) -> str:
    c = r["design"]["confidence"]
    if c is None:
        return ("No fixed confidence threshold is declared: a run's `val/precision` and `val/recall` are taken at "
                "its own best-F1 threshold, chosen on the validation set, which moves them against each other by "
                "construction; they are shown, not judged.")
    return (f"Precision, recall and F1 are taken at one confidence threshold for every arm, {c:g} (the study "
            f"file's `confidence`: `precision` is `val/precision@{c:g}`).")


def section_design(r: dict) -> str:
    d = r["design"]
    main = r["quantities"][d["metric"]]
    return "\n".join([
        "## What is tested, and the rules of the verdicts\n",
        f"Baseline: **{d['baseline']}** ({d['baseline_why']}). Study file: {d['source']}. Main metric: "
        f"{main['label']} ({unit_note(main)}). Significant: Holm-adjusted p < {d['alpha']:g}, p from the "
        f"{d['test_name']} (`test: {d['test']}`). {confidence_text(r)}\n",
        "**The claims**, as the study file declares them (margins in the metric's own units):\n",
        declared_table(r) + "\n",
        "**Families.** Each claim is one family, unless the study file gives several claims one `family`; what a "
        "claim shows beside its verdict is a family of its own. Holm's correction runs within a family, never "
        "across families. A comparison belongs to one family at most and has one p, Holm p, CI and smallest "
        "detectable difference wherever it appears; comparisons in no family are descriptive (unadjusted p, no "
        f"Holm p). Families here: {families_text(r)}.\n",
        f"**Intervals.** 95% t intervals of the mean paired difference, not adjusted for multiplicity. {CI_SCOPE} "
        "Smallest detectable: the difference a two-sided test at α / (family size) finds with 80% power, given "
        "the spread of the paired differences. Each claim's margin (the smallest difference that matters) is in "
        "its own table.\n",
        "**A comparison's result:**\n",
        *(f"- *{word}*: {rule}" for word, rule in OUTCOME_RULES),
        f"\n{WORD_RULE}\n",
        "**A claim's verdict:**\n",
        *(f"- *{word}*: {rule}" for word, rule in VERDICT_RULES), f"\n{SIZE_RULE}\n"])


def declared_table(r: dict) -> str:
    if not r["design"]["claims"]:
        return "None: the study file declares no claim."
    words = {+1: "higher", -1: "lower", 0: "either (trend)"}
    rows = [[c["name"], c["kind"] + (f" over {c['parameter']}" if c["parameter"] else ""),
             ", ".join(c["arms"]) + ("" if c["kind"] == "trend" else f" vs {c['reference']}"),
             ", ".join(f"`{m}`" for m in c["metrics"]), words[c["direction"]], f"{c['margin']:g}", c["family"],
             c["need"]] for c in r["design"]["claims"]]
    return table(["claim", "kind", "arms", "metric", "direction", "margin", "family", "need"], rows)


def summary_cell(s: dict, factor: float) -> str:
    if s["n"] == 0:
        return "–"
    return f"{num(s['mean'], factor)} ± {num(s['std'], factor)} [{num(s['ci_low'], factor)}, " \
           f"{num(s['ci_high'], factor)}] (n = {s['n']})"


def section_accuracy(r: dict) -> str:
    names = list(r["summaries"])
    header = [f"{r['quantities'][n]['label']} ({r['quantities'][n]['unit']})" for n in names]
    rows = [[a["name"], *(summary_cell(r["summaries"][n][a["name"]], r["quantities"][n]["factor"]) for n in names)]
            for a in r["arms"]]
    return ("## Per arm\n\nFinal values: mean ± standard deviation over seeds [95% percentile bootstrap interval of "
            "the mean] (runs with the value).\n\n" + table(["arm", *header], rows)
            + "\n\n" + image(r, 0))


def difference_rows(r: dict, ids: list[str], q: dict) -> list[list[str]]:
    rows = []
    for key in ids:
        c = r["comparisons"][key]
        rows.append([c["arm"], str(c["n"]), num(c["estimate"], q["factor"], True), interval(c, q["factor"]),
                     p_cell(c["p"]),
                     c["family"] or "descriptive", p_cell(c["p_holm"]), p_cell(c["p_other"])])
    return rows


def section_differences(r: dict) -> str:
    d = r["design"]
    parts = [f"## Differences against {d['baseline']}, paired by seed\n\nArm minus {d['baseline']} over the seeds "
             f"both ran. p: the {d['test_name']}, unadjusted; Holm p: within the comparison's family (– when it is "
             f"in none); beside it, unadjusted, the {d['other_test_name']}.\n"]
    degenerate = []
    for name, ids in r["differences"].items():
        q = r["quantities"][name]
        parts.append(f"**{q['label']}** ({q['unit']})\n\n" + table(
            ["arm", "pairs", "mean diff", "95% CI", "p", "family", "Holm p", f"p, {d['other_test_name']}"],
            difference_rows(r, ids, q)))
        degenerate += [f"- {r['comparisons'][k]['id']}: {r['comparisons'][k]['degenerate']}." for k in ids
                       if r["comparisons"][k]["degenerate"]]
    if degenerate:
        parts.append("Comparisons without spread:\n\n" + "\n".join(degenerate))
    floors = ", ".join(f"{p:.3g} with {n} pairs" for n, p in r["sign_flip_floors"].items())
    parts.append(f"The exact sign-flip test's smallest p is 2/2^n ({floors}); the t-test's has no such floor from two "
                 f"pairs on.\n\n{image(r, 1)}")
    parts.append(section_power(r))
    return "\n\n".join(p for p in parts if p)


def section_power(r: dict) -> str:
    p = r["power"]
    if p is None:
        return ""
    q = r["quantities"][p["quantity"]]
    body = [[f"{k} comparison{'s' if k > 1 else ''}", *(num(v, q["factor"]) for v in row)]
            for k, row in enumerate(p["rows"], 1)]
    return (f"**Power** ({q['label']}): the paired differences against the baseline vary by "
            f"{num(p['sd'], q['factor'])} {q['unit']} from seed to seed (root mean square of the {p['arms']} arms' "
            f"standard deviations). With that spread, the smallest difference ({q['unit']}) the "
            f"{r['design']['test_name']} finds with 80% power at Holm's strictest level, α / comparisons in the "
            "family, by seeds (none: the test's smallest p cannot pass):\n\n"
            + table(["family", *(f"{n} seeds" for n in p["seeds"])], body) + "\n")


def mean_sd(s: dict, digits: str) -> str:
    if s["n"] == 0:
        return "–"
    return f"{s['mean']:{digits}}" if s["n"] == 1 else f"{s['mean']:{digits}} ± {s['std']:{digits}}"


def depth_note(r: dict) -> str:
    panels = r["figures"]["layouts"]
    if len(panels) < 2:
        return ""
    sizes = "; ".join(f"{len(p['layers'])} layers: {p['runs']} runs" for p in panels)
    return f"The runs have {len(panels)} head layouts ({sizes}): the depth figure has one panel per layout. "


def section_training(r: dict) -> str:
    t = r["training"]
    signal = any(v.get("backward_ratio", {}).get("n") for v in t["rows"].values())
    rows = [[arm, mean_sd(v["grad_magnitude"], ".3g"), mean_sd(v["gradient_ratio"], ".3f")]
            + ([mean_sd(v["backward_ratio"], ".3f")] if signal else [])
            + [mean_sd(v["dead_fraction"], ".3f"), f"{sum(e is not None for e in v['epochs'])}/{v['runs']}",
               "–" if math.isnan(v["epochs_mean"]) else f"{v['epochs_mean']:.1f}"] for arm, v in t["rows"].items()]
    return ("## Training dynamics\n\n" + "".join(image(r, i) for i in range(2, 6)) + f"{depth_note(r)}"
            "Overall gradient magnitude: root of the sum over the hidden head layers of the squared weight-gradient "
            "norm, each averaged over the logged steps. Gradient ratio: per path through the head, log10 of the "
            "gradient norm at its input-side layer over that at its output-side layer, per logged step, averaged "
            "(more negative: more vanishing towards the input). "
            + (SIGNAL_TEXT if signal else "") + "Dead units: share of a hidden layer's channels "
            f"that pass no gradient for any input of the logged batch. Epochs to target (a description, not a "
            f"test): the first epoch with {t['metric']} ≥ {t['target']:.3f}.\n\n"
            + table(["arm", "overall gradient magnitude", "log10 gradient ratio (input/output)"]
                    + (["log10 backward-signal ratio (first/last hidden)"] if signal else [])
                    + ["dead fraction", "reached target", "mean epochs to target"], rows) + "\n"
            + signal_profiles(r))


SIGNAL_TEXT = ("Backward-signal ratio (the measure of vanishing): per path of two or more hidden layers, log10 of the "
               "norm of the loss's gradient with respect to the first hidden layer's output over that with respect "
               "to the last hidden layer's output, per logged step, averaged (0: the signal keeps its size on its "
               "way back; negative: it shrinks). ")


def signal_profiles(r: dict) -> str:
    """Per head layout with a logged backward signal: its mean log10 size at each layer's input, relative to the
    output layer's input, per arm."""
    parts = []
    for panel in r["figures"]["layouts"]:
        if not panel.get("signal"):
            continue
        length = max(len(v) for v in panel["signal"].values())
        header = ["arm"] + [f"input of layer {i}" for i in range(length - 1)] + ["input of the output layer"]
        rows = [[arm] + ["–" if math.isnan(x) else f"{x:+.3f}" for x in values]
                for arm, values in panel["signal"].items()]
        parts.append(f"Backward signal along the head ({len(panel['layers'])} monitored layers, {panel['runs']} "
                     "runs): mean log10 of its norm at each position of a path relative to the output layer's "
                     "input (position 0 is the trunk's map).\n\n" + table(header, rows) + "\n")
    return "".join(parts)
