"""scripts/report.py on the real runs of the mini sweep: every figure and section, the numbers of the run
files, and clear errors for bad input."""

import csv
import json
import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from tests.conftest import REPO
from tests.run_folders import write_study_file

from yololab.study import measures, report, stats
from yololab.study.runs import load_runs_dir

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(mini_sweep, tmp_path_factory):
    _, runs_dir, _ = mini_sweep
    out = tmp_path_factory.mktemp("report")
    study = write_study_file(out / "study.yaml")
    assert report.main([str(runs_dir), "--out", str(out), "--study", str(study)]) == 0
    return runs_dir, out, (out / "report.md").read_text()


def test_every_figure_and_section_is_there(rendered):
    _, out, text = rendered
    for name in report.FIGURES:
        assert (out / name).read_bytes()[:8] == PNG, name
        assert f"]({name})" in text
    for heading in ("# Study report", "## What is tested, and the rules of the verdicts", "## Per arm",
                    "## Differences against relu, paired by seed", "## Training dynamics", "## Conclusion"):
        assert f"\n{heading}" in f"\n{text}"
    conclusion = text.split("## Conclusion")[1]
    for i, claim in enumerate(["LeakyReLU in the head is worse than ReLU", "LeakyReLU's head gradients vanish",
                               "Results depend on the LeakyReLU slope", "ELU or SELU in the head"], 1):
        assert f"\n{i}. **{claim}" in conclusion
    # 2 seeds can never give p < 0.05: whatever the verdict, it states the direction and the CI; no ELU/SELU arm
    first = next(line for line in conclusion.splitlines() if line.startswith("1. **"))
    assert re.search(r"leaky_relu[_:]0\.1 − relu: ", first) and ("[95% CI " in first or "[no CI]" in first) \
        and "n = 2: " in first
    assert not first.split("** ")[1].startswith("Supported")
    assert "** Not applicable: the study has no arm matching elu, selu." in conclusion


def test_the_tables_hold_the_run_files_numbers(rendered):
    runs_dir, _, text = rendered
    finals = {}
    for path in runs_dir.glob("*/metrics.json"):
        config = (path.parent / "config.yaml").read_text()
        arm = next(line.split(": ")[1] for line in config.splitlines() if line.startswith("arm: "))
        finals.setdefault(arm, []).append(json.loads(path.read_text())["val/mAP50-95"])
    for arm, values in finals.items():
        s = stats.summarize(values)
        cell = f"| {100 * s.mean:.2f} ± {100 * s.std:.2f} [{100 * s.ci_low:.2f}, {100 * s.ci_high:.2f}] (n = 2) |"
        assert any(line.startswith(f"| {arm} |") and line.endswith(cell) for line in text.splitlines())


def test_runs_are_read_from_their_files(mini_sweep):
    _, runs_dir, _ = mini_sweep
    runs = load_runs_dir(runs_dir)
    assert sorted((r.arm, r.seed) for r in runs) == [("leaky_relu:0.1", 0), ("leaky_relu:0.1", 1), ("relu", 0),
                                                     ("relu", 1)]
    run = runs[0]
    folder = runs_dir / run.name
    layers = json.loads((folder / "gradflow_layers.json").read_text())
    assert run.layers == [(row["name"], row["activation"]) for row in layers]
    assert sorted(run.curves["val/mAP50-95"]) == [1, 2]
    assert 0 <= run.final["val/precision@0.25"] <= 1 and "val/f1@0.25" in run.final  # model.pr_confidences
    with open(folder / "csv" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    hidden = [row["name"] for row in layers if row["activation"]]
    column_means = [np.mean([float(r[f"gradflow/grad_norm/{n}"]) for r in rows if r[f"gradflow/grad_norm/{n}"]])
                    for n in hidden]
    assert measures.head_grad_norm(run) == pytest.approx(math.sqrt(np.sum(np.square(column_means))), rel=1e-9)
    assert set(run.gradflow["dead_fraction"]) == set(hidden)


def test_bad_sources_are_named(mini_sweep, tmp_path, monkeypatch, capsys):
    assert report.main([str(tmp_path / "nowhere")]) == 1
    assert f"runs directory not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err
    assert report.main([str(tmp_path)]) == 1
    assert "no finished runs" in capsys.readouterr().err
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert report.main(["entity/project/abcd1234"]) == 1
    err = capsys.readouterr().err
    assert "W&B sweep 'entity/project/abcd1234'" in err and "offline" in err
    _, runs_dir, _ = mini_sweep
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy, ignore=shutil.ignore_patterns("checkpoints"))
    assert report.main([str(copy), "--baseline", "gelu"]) == 1
    assert "baseline arm 'gelu' is not among the arms" in capsys.readouterr().err
    shutil.copytree(copy / "model.head.activation=relu,seed=0", copy / "again")
    assert report.main([str(copy)]) == 1
    assert "two runs of arm 'relu' with seed 0: again and model.head.activation=relu,seed=0" in capsys.readouterr().err


def test_the_study_package_never_imports_the_model():
    code = ("import sys, yololab.study.report, yololab.study.runner, yololab.study.scaffold, "
            "yololab.study.throughput; "
            "print([m for m in sys.modules if m.split('.')[:2] in (['yololab', 'models'], ['yololab', 'module'], "
            "['yololab', 'nn'], ['yololab', 'tasks']) or m == 'torch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
