"""The README's headline of a study, generated from its ``results.json`` between two markers::

    <!-- results: docs/neu-det-study/results.json -->
    ... (written by ``scripts/report.py ... --readme README.md``; never edited by hand)
    <!-- end results -->

or the verdicts of several studies side by side, a column per study, a row per claim (matched by its key)::

    <!-- results side by side: end to end=docs/neu-det-study/results.json; head probe=docs/.../results.json -->
    ...
    <!-- end results -->

Paths in the markers are relative to the README's folder; a README may hold several blocks. ``scripts/report.py
--readme`` rewrites every block that names the results it wrote (a side-by-side block reads its other columns
from their files); :func:`stale_blocks` says which blocks differ from what their results files render.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from yololab.study import results as results_module
from yololab.study.runs import StudyDataError
from yololab.study.verdicts import interval, show

BLOCK = re.compile(r"(<!-- results(?P<kind>: | side by side: )(?P<spec>[^\n]*?) -->\n)(?P<body>.*?)"
                   r"(<!-- end results -->)", re.S)


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def verdict_words(claim: dict) -> str:
    return f"**{upper_first(claim['verdict'])}**"


def compared(r: dict, claim: dict) -> tuple[list[dict], list[str], str]:
    """The claim's comparisons, their quantities' names, and what they measure in words (label, unit)."""
    rows = [r["comparisons"][f["comparison"]] for f in claim["findings"]]
    names = list(dict.fromkeys(c["quantity"] for c in rows))
    q = r["quantities"][names[0]]
    what = f"{q['label']}, {q['unit']}" if len(names) == 1 else " / ".join(
        f"{r['quantities'][n]['label']}" for n in names) + f", {q['unit']}"
    return rows, names, what


def comparison_label(c: dict, names: list[str]) -> str:
    return c["label"] if len(names) == 1 else f"{c['label']} ({c['quantity']})"


def figures(r: dict, c: dict) -> tuple[str, str, str]:
    """A comparison's difference, 95% CI and Holm p as shown (in its quantity's unit)."""
    factor = r["quantities"][c["quantity"]]["factor"]
    return show(c["estimate"], factor), interval(c, factor), f"{c['p_holm']:.2g}"


def claim_table(r: dict, i: int, claim: dict) -> str:
    """The claim's verdict, then a row per comparison: difference, 95% CI, Holm p."""
    head = f"**{i}. {claim['text']}** {verdict_words(claim)}"
    if not claim["findings"]:
        return f"{head}: {claim['reason'].split('. ')[0]}.\n"
    rows, names, what = compared(r, claim)
    lines = [head + f" ({what})", "", "| comparison | difference | 95% CI | Holm p |", "| --- | --- | --- | --- |"]
    for c in rows:
        lines.append(f"| {comparison_label(c, names)} | " + " | ".join(figures(r, c)) + " |")
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


def spread(r: dict) -> str | None:
    """The seed-to-seed spread of the paired differences and the smallest differences the claims could detect."""
    p = r["power"]
    if p is None:
        return None
    q = r["quantities"][p["quantity"]]
    sizes = [r["comparisons"][f["comparison"]]["detectable"] for c in r["claims"] for f in c["findings"]
             if r["comparisons"][f["comparison"]]["quantity"] == p["quantity"]]
    sizes = [s for s in sizes if math.isfinite(s)]
    seen = f"; the smallest difference a comparison on it could detect (80% power, Holm within its family): " \
           f"{q['factor'] * min(sizes):.2f}–{q['factor'] * max(sizes):.2f}" if sizes else ""
    return f"{q['label']}: {q['factor'] * p['sd']:.2f} {q['unit']}{seen}"


def power_line(r: dict) -> str:
    s = spread(r)
    return f"\nSeed-to-seed spread of the paired differences in {s}.\n" if s else ""


def claim_cell(r: dict, claim: dict | None) -> str:
    """One study's verdict on one claim, with each comparison's difference, 95% CI and Holm p, in a table cell."""
    if claim is None:
        return "not tested"
    if not claim["findings"]:
        return f"{verdict_words(claim)}: {claim['reason'].split('. ')[0]}"
    rows, names, what = compared(r, claim)
    lines = [f"{verdict_words(claim)} ({what})"]
    for c in rows:
        difference, ci, p = figures(r, c)
        lines.append(f"{comparison_label(c, names)}: {difference} {ci}, p {p}")
    return "<br>".join(lines)


def claim_name(texts: list[str]) -> str:
    """A claim's text; where the studies word it differently, without its parenthesis of how it is measured."""
    if len(set(texts)) == 1:
        return texts[0]
    return texts[0].split(" (")[0].rstrip(".") + "."


def method(r: dict) -> str:
    return f"{r['design']['test_name']}, Holm within each family, α = {r['design']['alpha']:g}"


def render_side_by_side(columns: list[tuple[str, dict]]) -> str:
    """A row per claim key (in the order the studies declare them), a column per study."""
    by_key = [{c["key"]: c for c in r["claims"]} for _, r in columns]
    keys = list(dict.fromkeys(k for claims in by_key for k in claims))
    one_method = len({method(r) for _, r in columns}) == 1
    sizes = "; ".join(f"{label}: {r['runs']} runs, {len(r['arms'])} arms" + ("" if one_method else f", {method(r)}")
                      for label, r in columns)
    shared = f" {upper_first(method(columns[0][1]))}." if one_method else ""
    head = (f"Generated from the studies' `results.json` ({sizes}).{shared}"
            " Differences are arm − reference over the seeds both ran; p is Holm's.\n\n")
    lines = ["| claim | " + " | ".join(label for label, _ in columns) + " |",
             "| --- |" + " --- |" * len(columns)]
    for i, key in enumerate(keys, 1):
        text = claim_name([claims[key]["text"] for claims in by_key if key in claims])
        cells = [claim_cell(r, claims.get(key)) for (_, r), claims in zip(columns, by_key, strict=True)]
        lines.append(f"| {i}. {text} | " + " | ".join(cells) + " |")
    spreads = "".join(f"- {label}: {s}.\n" for label, r in columns if (s := spread(r)))
    tail = f"\nSeed-to-seed spread of the paired differences:\n\n{spreads}" if spreads else ""
    return head + "\n".join(lines) + "\n" + tail


def columns_of(spec: str, folder: Path, where: str) -> list[tuple[str, Path]]:
    """``label=path; label=path`` of a side-by-side marker, paths resolved from the README's folder."""
    columns = []
    for part in spec.split(";"):
        label, eq, path = part.strip().rpartition("=")
        if not eq or not label.strip() or not path.strip():
            raise StudyDataError(f"{where}: '{part.strip()}' in '<!-- results side by side: {spec} -->' is not "
                                 "'label=path'")
        columns.append((label.strip(), folder / path.strip()))
    return columns


def block_files(m: re.Match, readme: Path) -> list[tuple[str, Path]]:
    """(label, resolved results path) of each column of the block ``m`` (one, unlabelled, for a single study)."""
    folder = Path(readme).resolve().parent
    if m["kind"] == ": ":
        return [("", (folder / m["spec"]).resolve())]
    return [(label, path.resolve()) for label, path in columns_of(m["spec"], folder, str(readme))]


def rendered(m: re.Match, readme: Path, known: dict[Path, dict]) -> str:
    """What the block ``m`` of ``readme`` must hold, from its results files (``known`` first, else read)."""
    columns = [(label, known[path] if path in known else results_module.read(path))
               for label, path in block_files(m, readme)]
    return render(columns[0][1]) if m["kind"] == ": " else render_side_by_side(columns)


def relative(results_path: Path, readme: Path) -> str:
    return Path(os.path.relpath(Path(results_path).resolve(), Path(readme).resolve().parent)).as_posix()


def update(readme: Path, results_path: Path, r: dict) -> None:
    """Rewrite every block of ``readme`` that names ``results_path``; an error naming the file if none does."""
    try:
        text = Path(readme).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise StudyDataError(f"{readme}: cannot be read ({err})") from None
    target = Path(results_path).resolve()
    found = [m for m in BLOCK.finditer(text) if target in (path for _, path in block_files(m, readme))]
    if not found:
        raise StudyDataError(f"{readme}: no block '<!-- results: {relative(results_path, readme)} -->' ... "
                             "'<!-- end results -->' to write the headline into; add the two marker lines where it "
                             "belongs")
    for m in reversed(found):  # from the end, so that earlier offsets stay valid
        text = text[: m.start("body")] + rendered(m, readme, {target: r}) + text[m.end("body"):]
    Path(readme).write_text(text)


def stale_blocks(readme: Path) -> list[str]:
    """The markers' specs (results paths) whose block differs from what it renders now (or that cannot be read)."""
    text = Path(readme).read_text()
    stale = []
    for m in BLOCK.finditer(text):
        try:
            expected = rendered(m, readme, {})
        except StudyDataError:
            stale.append(m["spec"])
            continue
        if m["body"] != expected:
            stale.append(m["spec"])
    return stale
