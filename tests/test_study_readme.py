"""The README headlines of a study are generated from its results.json, and the worked example is a fork's own
study declared in its study file alone."""

import json
import re
import shutil

import pytest
from tests.conftest import REPO
from tests.run_folders import write_run

from yololab.study import readme, report, results
from yololab.study.runs import StudyDataError

READMES = (REPO / "README.md", REPO / "docs" / "neu-det-study" / "README.md")


@pytest.mark.parametrize("path", READMES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_each_readme_headline_is_what_its_results_render(path):
    assert "<!-- results" in path.read_text()
    assert readme.stale_blocks(path) == [], "regenerate: python scripts/report.py docs/neu-det-study/runs --study " \
        "studies/neu-det/study.yaml --out docs/neu-det-study --readme README.md --readme docs/neu-det-study/README.md"


def test_a_headline_that_disagrees_with_its_results_is_found(tmp_path):
    shutil.copy(REPO / "docs" / "neu-det-study" / "results.json", tmp_path / "results.json")
    page = tmp_path / "README.md"
    page.write_text("# Study\n\nbefore\n<!-- results: results.json -->\nold text\n<!-- end results -->\nafter\n")
    assert readme.stale_blocks(page) == ["results.json"]
    readme.update(page, tmp_path / "results.json", results.read(tmp_path / "results.json"))
    assert readme.stale_blocks(page) == []
    text = page.read_text()
    assert text.startswith("# Study\n\nbefore\n<!-- results: results.json -->\n") and text.endswith(
        "<!-- end results -->\nafter\n") and "old text" not in text
    data = json.loads((tmp_path / "results.json").read_text())
    first = data["claims"][0]["findings"][0]["comparison"]
    data["comparisons"][first]["p_holm"] = 0.01  # one number changed in the results
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert readme.stale_blocks(page) == ["results.json"]
    with pytest.raises(StudyDataError, match=re.escape("no block '<!-- results: other.json -->'")):
        readme.update(page, tmp_path / "other.json", data)


def test_the_worked_example_is_a_precision_study_of_two_arms(tmp_path):
    """GELU vs SiLU on precision at one fixed threshold, declared in studies/example/study.yaml alone: the
    units are precision points, and nothing of the LeakyReLU study appears."""
    root = tmp_path / "runs"
    for seed in range(3):
        for arm, shift in (("silu", 0.0), ("gelu", 0.03 + 0.004 * seed)):
            write_run(root, arm, seed, 0.3 + 0.01 * seed, arm, metrics={
                "val/precision@0.25": 0.6 + shift + 0.01 * seed, "val/recall@0.25": 0.5, "val/f1@0.25": 0.55})
    out = tmp_path / "report"
    assert report.main([str(root), "--study", str(REPO / "studies/example/study.yaml"), "--out", str(out),
                        "--no-figures"]) == 0
    text = (out / "report.md").read_text()
    assert "LeakyReLU" not in text and "slope" not in text and "leaky" not in text
    assert "**precision at confidence 0.25 (val/precision@0.25)** (points)" in text
    assert "| gelu − silu | precision at confidence 0.25 (val/precision@0.25) | 3 | +3.40 | [+2.41, +4.39] |" in text
    assert "Precision, recall and F1 are taken at one confidence threshold for every arm, 0.25" in text
    claim = results.read(out / "results.json")["claims"][0]
    assert claim["verdict"] == "inconclusive"  # three seeds: the sign-flip test's p >= 0.25
    assert [c.split(": ")[0] for c in claim["beside_ids"]] == ["val/recall@0.25", "val/f1@0.25"]


def test_the_committed_example_runs_logged_precision_at_the_fixed_threshold():
    """The example's finished runs (real training, current code) hold what its study file judges."""
    from yololab.study.design import load_design
    from yololab.study.runs import load_runs_dir

    design = load_design(REPO / "studies" / "example" / "study.yaml")
    assert design.confidence == 0.25 and design.claims[0].metrics == ("precision",)
    runs = load_runs_dir(REPO / "docs" / "example-study" / "runs")
    assert {r.arm for r in runs} <= {"silu", "gelu"} and runs
    for run in runs:
        p, r, f1 = (run.final[f"val/{m}@0.25"] for m in ("precision", "recall", "f1"))
        assert 0 <= p <= 1 and 0 <= r <= 1 and f1 == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, rel=1e-5)


def test_side_by_side_puts_each_studys_verdict_and_numbers_in_its_column(tmp_path):
    """Two studies' results, a row per claim key: each cell holds that study's verdict and its own comparisons'
    numbers (re-derived here from the JSON), a claim one study lacks reads 'not tested'."""
    end_to_end = results.read(REPO / "docs" / "neu-det-study" / "results.json")
    probe = json.loads(json.dumps(end_to_end))
    probe["claims"] = [c for c in probe["claims"] if c["key"] != "slope_trend"]
    first = probe["claims"][0]
    first["verdict"], first["text"] = "supported", first["text"].split(" (")[0] + " (measured otherwise)."
    c = probe["comparisons"][first["findings"][0]["comparison"]]
    c["estimate"], c["ci_low"], c["ci_high"], c["p_holm"] = -0.5, -0.75, -0.25, 0.004
    text = readme.render_side_by_side([("end to end", end_to_end), ("probe", probe)])
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| claim | end to end | probe |"
    cells = [line[2:-2].split(" | ") for line in table[2:]]
    rows = {row[0].split(". ", 1)[0]: row[1:] for row in cells}
    assert len(rows) == len(end_to_end["claims"])
    vanishing_e2e, vanishing_probe = rows["1"]
    assert vanishing_e2e.startswith("**Inconclusive**") and vanishing_probe.startswith("**Supported**")
    assert f"{c['label']}: -0.50 [-0.75, -0.25], p 0.004" in vanishing_probe  # log10 units: factor 1
    e2e = end_to_end["comparisons"][end_to_end["claims"][0]["findings"][0]["comparison"]]
    assert f"{e2e['label']}: {e2e['estimate']:+.2f} [{e2e['ci_low']:+.2f}, {e2e['ci_high']:+.2f}]" in vanishing_e2e
    worse = next(k for k in end_to_end["claims"] if k["key"] == "leaky_worse")
    w = end_to_end["comparisons"][worse["findings"][0]["comparison"]]
    number = f"{w['label']}: {100 * w['estimate']:+.2f} [{100 * w['ci_low']:+.2f}, {100 * w['ci_high']:+.2f}]"
    assert all(number in cell for cell in rows[str(end_to_end["claims"].index(worse) + 1)])
    trend = next(row for row in cells if "slope" in row[0])
    assert trend[1].startswith("**Inconclusive**") and trend[2] == "not tested"
    assert "| 1. LeakyReLU exacerbates vanishing gradients in the head. |" in text  # the texts differ: no parenthesis
    assert "- end to end: val/mAP50-95: 0.94 mAP points" in text and "\n\n- end to end" in text  # after the table


def test_a_side_by_side_block_is_rewritten_from_both_files_and_goes_stale_with_either(tmp_path):
    for name in ("a.json", "b.json"):
        shutil.copy(REPO / "docs" / "neu-det-study" / "results.json", tmp_path / name)
    page = tmp_path / "README.md"
    page.write_text("top\n<!-- results side by side: first=a.json; second study=b.json -->\nold\n"
                    "<!-- end results -->\n")
    assert readme.stale_blocks(page) == ["first=a.json; second study=b.json"]
    readme.update(page, tmp_path / "b.json", results.read(tmp_path / "b.json"))
    assert readme.stale_blocks(page) == [] and "| claim | first | second study |" in page.read_text()
    data = json.loads((tmp_path / "a.json").read_text())
    data["claims"][0]["verdict"] = "supported"
    (tmp_path / "a.json").write_text(json.dumps(data))
    assert readme.stale_blocks(page) == ["first=a.json; second study=b.json"]
    page.write_text("<!-- results side by side: first a.json -->\n<!-- end results -->\n")
    with pytest.raises(StudyDataError, match=re.escape(f"{page}: 'first a.json' in")):
        readme.update(page, tmp_path / "a.json", data)
