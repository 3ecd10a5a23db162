"""A study's claims (:mod:`yololab.study.design`) checked against its runs: planned first (which comparisons
each claim needs, into its family), then, after Holm within every family, judged by the rules of
:mod:`yololab.study.verdicts`. Arms are what the runs' configs say they are (:mod:`yololab.study.arms`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from yololab.study import measures, verdicts
from yololab.study.arms import Arm, pick, select
from yololab.study.design import ClaimSpec, Design
from yololab.study.families import Comparisons
from yololab.study.quantities import Quantity, recorded_instead
from yololab.study.runs import Run
from yololab.study.trend import differing_keys, parameter_values, trend_comparison

Quantities = Callable[[str], Quantity]


def claim_record(spec: ClaimSpec, **values) -> dict:
    return {"key": spec.key, "text": spec.text, "kind": spec.kind, "family": spec.family, "need": spec.need,
            "direction": spec.direction, "margin": spec.margin, "quantities": list(spec.metrics),
            "verdict": None, "reason": "", "ids": [], "beside_ids": [], "nominal_ids": [], "notes": [], **values}


def lacking(groups: dict[str, list[Run]], names: list[str], q: Quantity) -> list[str]:
    return [n for n in names if not measures.by_seed(groups[n], q.read)]


def no_data(spec: ClaimSpec, groups: dict[str, list[Run]], reference: str | None, candidates: list[str],
            quantities: list[Quantity]) -> str | None:
    """Why the claim has no data, or None: the reference, or every compared arm, lacks a metric."""
    for q in quantities:
        missing = lacking(groups, [n for n in (reference, *candidates) if n], q)
        if (reference in missing) or set(candidates) <= set(missing):
            runs = [r for n in (reference, *candidates) if n for r in groups[n]]
            return f"no run of {', '.join(missing)} has {q.label}{recorded_instead(q, runs)}"
    return None


def plan_compare(spec: ClaimSpec, design: Design, groups: dict[str, list[Run]], arms: dict[str, Arm],
                 comps: Comparisons, quantity: Quantities, baseline: str) -> dict:
    reference = pick(arms, spec.reference or baseline)
    if reference is None:
        return claim_record(spec, verdict="not applicable", reason=f"the study has no {spec.reference} arm")
    candidates = [a for a in select(arms, spec.arms) if a != reference]
    if not candidates:
        return claim_record(spec, verdict="not applicable",
                            reason=f"the study has no arm matching {', '.join(spec.arms)}")
    record = claim_record(spec, reference=reference, arms=candidates)
    qs = [quantity(m) for m in spec.metrics]
    why = no_data(spec, groups, reference, candidates, qs)
    if why:
        record.update(verdict="inconclusive (no data)", reason=why)
    else:
        record["ids"] = [comps.pair(a, reference, q, spec.family) for q in qs for a in candidates]
    for name in spec.beside:
        q = quantity(name)
        if lacking(groups, [reference], q):
            record["notes"].append(f"Beside it, {q.label}: no run of {reference} has it.")
            continue
        record["beside_ids"] += [comps.pair(a, reference, q, f"{spec.family} (beside)") for a in candidates
                                 if not lacking(groups, [a], q)]
    others = [quantity(m) for m in design.metrics if m not in spec.metrics and m not in spec.beside]
    record["nominal_ids"] = [comps.pair(a, reference, q, None) for q in others for a in candidates
                             if not lacking(groups, [a, reference], q)]
    return record


def plan_trend(spec: ClaimSpec, design: Design, groups: dict[str, list[Run]], arms: dict[str, Arm],
               comps: Comparisons, quantity: Quantities) -> dict:
    names = select(arms, spec.arms)
    values = parameter_values(spec.parameter, names, arms, groups)
    without = [n for n, v in values.items() if v is None]
    if without:
        return claim_record(spec, verdict="not applicable", reason=f"no single numeric {spec.parameter} in arm "
                            f"{', '.join(without)}")
    levels: dict[float, list[str]] = {}
    for name, value in sorted(values.items(), key=lambda item: item[1]):
        levels.setdefault(value, []).append(name)
    described = "; ".join(f"{v:g} ({' + '.join(n)})" for v, n in levels.items()) or "none"
    if len(levels) < 2:
        return claim_record(spec, verdict="not applicable", reason=f"needs arms with two or more distinct values "
                            f"of {spec.parameter}; has: {described}")
    differ = differing_keys(names, groups, spec.parameter, spec.ignore_keys)
    if differ:
        return claim_record(spec, verdict="not applicable", reason=f"its arms ({', '.join(names)}) differ in more "
                            f"than {spec.parameter}: in {', '.join(differ)} (their configs); a trend compares arms "
                            "that differ in its parameter alone")
    q = quantity(spec.metrics[0])
    record = claim_record(spec, levels={f"{v:g}": n for v, n in levels.items()}, parameter=spec.parameter)
    why = no_data(spec, groups, None, names, [q])
    if why:
        return {**record, "verdict": "inconclusive (no data)", "reason": why}
    record["ids"] = [comps.add(trend_comparison(levels, groups, q, design.test, spec.parameter), spec.family)]
    lowest = next(iter(levels.values()))
    if len(lowest) == 1 and all(len(n) == 1 for n in levels.values()):
        record["step_ids"] = [comps.pair(n[0], lowest[0], q, None) for n in list(levels.values())[1:]]
    record["notes"].append(f"Levels of {spec.parameter}: {described}.")
    return record


def judge(record: dict, comps: Comparisons, quantity: Quantities, alpha: float) -> dict:
    """The verdict of a planned claim (``record``), after Holm within the families."""
    direction, margin = record["direction"], record["margin"]
    def finding(key: str, direction: int) -> dict:
        c = comps.items[key]
        result = verdicts.outcome(c, direction, margin, alpha)
        return {"comparison": key, "outcome": result,
                "note": verdicts.note(c, result, direction, margin, quantity(c["quantity"]).describe())}

    record["findings"] = [finding(k, direction) for k in record["ids"]]
    record["beside"] = [finding(k, 0) for k in record["beside_ids"]]
    record["nominal"] = nominal(record, comps, quantity, alpha)
    if record["verdict"] is None:
        outcomes = [f["outcome"] for f in record["findings"]]
        record["verdict"] = verdicts.verdict(outcomes, record["need"])
        record["reason"] = reason(record, comps, quantity)
        significant = [comps.items[f["comparison"]] for f in record["findings"]
                       if f["outcome"] in (verdicts.SIGNIFICANT, verdicts.OPPOSITE)]
        record["verdict"] = verdicts.sized(record["verdict"], significant, margin)
    return record


def nominal(record: dict, comps: Comparisons, quantity: Quantities, alpha: float) -> list[dict]:
    """The other shown metrics' comparisons of the claim's arms with unadjusted p < α, as claimed or against."""
    if not record["quantities"]:
        return []
    claimed = record["direction"] * quantity(record["quantities"][0]).better
    found = []
    for key in record["nominal_ids"]:
        c = comps.items[key]
        better = quantity(c["quantity"]).better
        if not claimed or not better or not c["p"] < alpha or c["estimate"] == 0:
            continue
        relation = "as claimed" if math.copysign(1, c["estimate"]) * better == claimed else "against the claim"
        found.append({"comparison": key, "relation": relation})
    return found


def reason(record: dict, comps: Comparisons, quantity: Quantities) -> str:
    def evidence(f: dict) -> str:
        c = comps.items[f["comparison"]]
        return verdicts.evidence(c, f, quantity(c["quantity"]).describe())

    findings = record["findings"]
    text = "; ".join(evidence(f) for f in findings)
    if record["verdict"] != "mixed":
        return text
    sides = [(verdicts.SIGNIFICANT, "as claimed"), (verdicts.OPPOSITE, "opposite to the claim")]
    return "; ".join(f"{label}: " + ", ".join(comps.items[f["comparison"]]["label"] for f in findings
                                              if f["outcome"] == o) for o, label in sides) + ". " + text


def evaluate(design: Design, groups: dict[str, list[Run]], arms: dict[str, Arm], comps: Comparisons,
             quantity: Quantities, baseline: str) -> list[dict]:
    """Every claim planned, the families Holm-corrected, then every claim judged."""
    planned = [plan_trend(s, design, groups, arms, comps, quantity) if s.kind == "trend" else
               plan_compare(s, design, groups, arms, comps, quantity, baseline) for s in design.claims]
    comps.finalize()
    return [judge(record, comps, quantity, design.alpha) for record in planned]
