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
    assert "<!-- results: " in path.read_text()
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
