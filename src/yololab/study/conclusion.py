"""The report's conclusion, rendered from the results object: each claim's verdict with its reason, then per
claim its family, its comparisons, what is shown beside it, and every nominally significant result on the
other metrics of its arms, as claimed or against it."""

from __future__ import annotations

from yololab.study.sections import num, p_cell, table
from yololab.study.verdicts import interval, show, size


def finding_rows(r: dict, findings: list[dict]) -> tuple[list[str], list[list[str]]]:
    rows = []
    for f in findings:
        c = r["comparisons"][f["comparison"]]
        q = r["quantities"][c["quantity"]]
        ci = interval(c, q["factor"])
        rows.append([c["label"], q["label"], str(c["n"]),
                     show(c["estimate"], q["factor"]), ci, p_cell(c["p"]), p_cell(c["p_holm"]),
                     size(c["detectable"], q["factor"]), f["note"]])
    unit = " / ".join(units(r, findings))
    return ["comparison", "metric", "n", f"mean diff ({unit})", "95% CI", "p", "Holm p", "smallest detectable",
            "result"], rows


def units(r: dict, findings: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["quantities"][r["comparisons"][f["comparison"]]["quantity"]]["unit"]
                              for f in findings))


def family_line(r: dict, claim: dict) -> str:
    family = r["families"].get(claim["family"])
    if family is None:
        return ""
    shared = [c["key"] for c in r["claims"] if c["family"] == claim["family"] and c["key"] != claim["key"]]
    together = f", shared with {', '.join(shared)}" if shared else ""
    margin = margin_text(r, claim)
    return (f"Family {claim['family']}: {family['size']} comparison{'s' if family['size'] > 1 else ''}{together}, "
            f"Holm-adjusted together; p from the {r['design']['test_name']} unless a row says otherwise. "
            f"Margin: {margin}.")


def margin_text(r: dict, claim: dict) -> str:
    q = r["quantities"].get(claim["quantities"][0]) if claim["quantities"] else None
    if q is None:
        return f"{claim['margin']:g}"
    return f"{size(claim['margin'], q['factor'])} {q['unit']}"


def nominal_lines(r: dict, claim: dict) -> list[str]:
    lines = []
    for n in claim["nominal"]:
        c = r["comparisons"][n["comparison"]]
        q = r["quantities"][c["quantity"]]
        ci = interval(c, q["factor"])
        lines.append(f"- **{n['relation']}**: {q['label']}, {c['label']}: {show(c['estimate'], q['factor'])} "
                     f"{q['unit']} {ci}, unadjusted p = {p_cell(c['p'])} ({c['family'] or 'descriptive'})")
    return lines


def step_table(r: dict, claim: dict) -> str:
    ids = claim.get("step_ids") or []
    if not ids:
        return ""
    rows = []
    for key in ids:
        c = r["comparisons"][key]
        q = r["quantities"][c["quantity"]]
        rows.append([c["label"], show(c["estimate"], q["factor"]), interval(c, q["factor"]), p_cell(c["p"]),
                     c["family"] or "descriptive", p_cell(c["p_holm"])])
    return ("Each level against the lowest (the same comparisons as elsewhere in the report, with their own "
            "family's numbers; not part of this verdict):\n\n"
            + table(["comparison", "mean diff", "95% CI", "p", "family", "Holm p"], rows))


def trend_means(r: dict, claim: dict) -> str:
    if not claim["ids"]:
        return ""
    c = r["comparisons"][claim["ids"][0]]
    if c.get("kind") != "trend" or not c["seeds"]:
        return ""
    q = r["quantities"][c["quantity"]]
    means = ", ".join(f"{c['parameter']} = {v:g}: {num(m, q['factor'])}" for v, m in
                      zip(c["level_values"], c["means"], strict=True))
    how = ("a permutation test shuffling each seed's values among the levels" if c["test"] == "sign_flip" else
           "the one-sample t-test of the per-seed changes")
    return (f"The trend: the least-squares slope of {q['label']} on {c['parameter']} within each seed (the seeds "
            f"that ran every level), times the range of {c['parameter']}; two-sided, {how}. Mean by level "
            f"({q['unit']}): {means} (the {len(c['seeds'])} seeds with every level).")


def claim_detail(r: dict, i: int, claim: dict) -> str:
    parts = [f"### Claim {i}: {claim['text']}", f"**Verdict: {claim['verdict']}.**"]
    if claim["findings"]:
        parts += [family_line(r, claim), table(*finding_rows(r, claim["findings"]))]
    degenerate = [r["comparisons"][f["comparison"]] for f in claim["findings"]]
    parts += [f"{c['label']}: {c['degenerate']}." for c in degenerate if c["degenerate"]]
    parts += [trend_means(r, claim), *claim["notes"], step_table(r, claim)]
    if claim["beside"]:
        parts += [f"Beside the verdict, not part of it (its own family, {claim['family']} (beside)):",
                  table(*finding_rows(r, claim["beside"]))]
    nominal = nominal_lines(r, claim)
    if nominal:
        parts += ["Nominally significant on the other metrics (unadjusted p < α; not part of the verdict):",
                  "\n".join(nominal)]
    return "\n\n".join(p for p in parts if p)


def section_conclusion(r: dict) -> str:
    found = r["claims"]
    lines = ["## Conclusion\n"] + ([] if found else ["No claims: the study file lists none."])
    for i, c in enumerate(found, 1):
        against = sum(n["relation"] == "against the claim" for n in c["nominal"])
        extra = f" ({against} nominally significant result{'s' if against > 1 else ''} against it: see below)" \
            if against else ""
        lines.append(f"{i}. **{c['text']}** {c['verdict'][0].upper()}{c['verdict'][1:]}: {c['reason']}{extra}.")
    details = [claim_detail(r, i, c) for i, c in enumerate(found, 1)]
    return "\n".join(lines) + "\n\n" + "\n\n".join(details) + "\n"
