"""The README's headline of a study, generated from its ``results.json`` between two markers::

    <!-- results: docs/neu-det-study/results.json -->
    ... (written by ``scripts/report.py ... --readme README.md``; never edited by hand)
    <!-- end results -->

The path in the opening marker is the results file, relative to the README's folder; a README may hold one
block per study. :func:`stale_blocks` says which blocks differ from what their results file renders.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from yololab.study import results as results_module
from yololab.study.runs import StudyDataError
from yololab.study.verdicts import interval, show

BLOCK = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.S)


def claim_table(r: dict, i: int, claim: dict) -> str:
    """The claim's verdict, then a row per comparison: difference, 95% CI, Holm p."""
    head = f"**{i}. {claim['text']}** **{claim['verdict'][0].upper()}{claim['verdict'][1:]}**"
    if not claim["findings"]:
        return f"{head}: {claim['reason'].split('. ')[0]}.\n"
    rows = [r["comparisons"][f["comparison"]] for f in claim["findings"]]
    names = list(dict.fromkeys(c["quantity"] for c in rows))
    q = r["quantities"][names[0]]
    what = f"{q['label']}, {q['unit']}" if len(names) == 1 else " / ".join(
        f"{r['quantities'][n]['label']}" for n in names) + f", {q['unit']}"
    lines = [head + f" ({what})", "", "| comparison | difference | 95% CI | Holm p |", "| --- | --- | --- | --- |"]
    for c in rows:
        factor = r["quantities"][c["quantity"]]["factor"]
        label = c["label"] if len(names) == 1 else f"{c['label']} ({c['quantity']})"
        lines.append(f"| {label} | {show(c['estimate'], factor)} | {interval(c, factor)} | {c['p_holm']:.2g} |")
    against = [n for n in claim["nominal"] if n["relation"] == "against the claim"]
    if against:
        lines += ["", "Against it, nominally (unadjusted p < α): " + "; ".join(against_text(r, n) for n in against)
                  + "."]
    return "\n".join(lines) + "\n"


def against_text(r: dict, n: dict) -> str:
    c = r["comparisons"][n["comparison"]]
    q = r["quantities"][c["quantity"]]
    return f"{c['quantity']} {c['label']} {show(c['estimate'], q['factor'])} {interval(c, q['factor'])}, " \
           f"p {c['p']:.2g}"


def render(r: dict) -> str:
    d = r["design"]
    head = (f"Generated from the study's `results.json`: {r['runs']} runs, {len(r['arms'])} arms; "
            f"{d['test_name']}, Holm within each family, α = {d['alpha']:g}; differences are arm − reference "
            "over the seeds both ran.\n\n")
    return head + "\n".join(claim_table(r, i, c) for i, c in enumerate(r["claims"], 1)) + power_line(r)


def power_line(r: dict) -> str:
    """The spread of the paired differences and what the design could detect, from the claims' comparisons."""
    p = r["power"]
    if p is None:
        return ""
    q = r["quantities"][p["quantity"]]
    sizes = [r["comparisons"][f["comparison"]]["detectable"] for c in r["claims"] for f in c["findings"]
             if r["comparisons"][f["comparison"]]["quantity"] == p["quantity"]]
    sizes = [s for s in sizes if math.isfinite(s)]
    seen = f"; the smallest difference a comparison on it could detect (80% power, Holm within its family): " \
           f"{q['factor'] * min(sizes):.2f}–{q['factor'] * max(sizes):.2f}" if sizes else ""
    return (f"\nSeed-to-seed spread of the paired differences in {q['label']}: {q['factor'] * p['sd']:.2f} "
            f"{q['unit']}{seen}.\n")


def relative(results_path: Path, readme: Path) -> str:
    return Path(os.path.relpath(Path(results_path).resolve(), Path(readme).resolve().parent)).as_posix()


def update(readme: Path, results_path: Path, r: dict) -> None:
    """Rewrite the block of ``readme`` whose marker names ``results_path``; an error naming the file if none."""
    try:
        text = Path(readme).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise StudyDataError(f"{readme}: cannot be read ({err})") from None
    name = relative(results_path, readme)
    found = [m for m in BLOCK.finditer(text) if m["path"] == name]
    if not found:
        raise StudyDataError(f"{readme}: no block '<!-- results: {name} -->' ... '<!-- end results -->' to "
                             "write the headline into; add the two marker lines where it belongs")
    m = found[0]
    Path(readme).write_text(text[: m.start("body")] + render(r) + text[m.end("body"):])


def stale_blocks(readme: Path) -> list[str]:
    """The results files whose README block differs from what they render now (or that cannot be read)."""
    text = Path(readme).read_text()
    stale = []
    for m in BLOCK.finditer(text):
        path = Path(readme).resolve().parent / m["path"]
        try:
            expected = render(results_module.read(path))
        except StudyDataError:
            stale.append(m["path"])
            continue
        if m["body"] != expected:
            stale.append(m["path"])
    return stale
