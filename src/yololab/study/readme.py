"""The README's headline of a study, generated from its ``results.json`` between two markers::

    <!-- results: docs/neu-det-study/results.json -->
    ... (written by ``scripts/report.py ... --readme README.md``; never edited by hand)
    <!-- end results -->

The path in the opening marker is the results file, relative to the README's folder; a README may hold one
block per study. :func:`stale_blocks` says which blocks differ from what their results file renders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from yololab.study import results as results_module
from yololab.study.runs import StudyDataError
from yololab.study.verdicts import interval, show

BLOCK = re.compile(r"(<!-- results: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.S)


def numbers(r: dict, finding: dict) -> str:
    c = r["comparisons"][finding["comparison"]]
    q = r["quantities"][c["quantity"]]
    if c["n"] == 0:
        return f"{c['label']}: no paired seeds"
    ci = interval(c, q["factor"])
    return f"{c['label']}: {show(c['estimate'], q['factor'])} {ci}, Holm p {c['p_holm']:.2g}"


def claim_row(r: dict, claim: dict) -> str:
    if not claim["findings"]:
        cell = claim["reason"]
    else:
        unit = {r["quantities"][r["comparisons"][f["comparison"]]["quantity"]]["unit"] for f in claim["findings"]}
        labels = {r["quantities"][r["comparisons"][f["comparison"]]["quantity"]]["label"] for f in claim["findings"]}
        cell = f"{' / '.join(sorted(labels))}, {' / '.join(sorted(unit))}: " + "; ".join(
            numbers(r, f) for f in claim["findings"])
    against = [n for n in claim["nominal"] if n["relation"] == "against the claim"]
    if against:
        cell += ". Against it, nominally (unadjusted p < α): " + "; ".join(against_text(r, n) for n in against)
    return f"| {claim['text']} | **{claim['verdict']}** | {cell} |"


def against_text(r: dict, n: dict) -> str:
    c = r["comparisons"][n["comparison"]]
    q = r["quantities"][c["quantity"]]
    ci = interval(c, q["factor"])
    return f"{c['quantity']} {c['label']} {show(c['estimate'], q['factor'])} {ci}, p {c['p']:.2g}"


def render(r: dict) -> str:
    d = r["design"]
    head = (f"Generated from the study's results (`scripts/report.py --readme`); {r['runs']} runs, "
            f"{len(r['arms'])} arms, baseline `{d['baseline']}`, {d['test_name']}, Holm within each family, "
            f"α = {d['alpha']:g}. Differences are arm − reference, 95% CI.\n\n")
    rows = [claim_row(r, c) for c in r["claims"]]
    return head + "| claim | verdict | the numbers |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n"


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
