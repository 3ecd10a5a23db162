"""scripts/new_study.py: a new study's experiment and sweep file, valid and composing, never overwritten."""

import shutil

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from tests.conftest import REPO

from yololab.study.design import load_design
from yololab.study.scaffold import ScaffoldError, main, scaffold
from yololab.study.sweep import load_sweep, plan


@pytest.fixture
def repo_copy(tmp_path):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    return tmp_path


def test_new_study_composes_and_runs_as_a_sweep(repo_copy):
    written = scaffold(repo_copy, "slope-scan")  # named like the shipped studies (neu-det)
    experiment = repo_copy / "configs/experiment/study/slope-scan.yaml"
    sweep_file = repo_copy / "studies/slope-scan/sweep.yaml"
    study_file = repo_copy / "studies/slope-scan/study.yaml"
    assert written == [experiment, sweep_file, study_file]
    design = load_design(study_file)  # what the report tests
    assert design.baseline == "relu" and [c.arms for c in design.claims] == [("silu",)]
    assert set(yaml.safe_load(experiment.read_text())) == {"defaults", "task_name", "arm", "tags"}  # overrides only
    cfg = load_sweep(sweep_file)  # the W&B schema
    runs = plan(cfg, repo_copy / "runs")
    assert len(runs) == 2 * 10
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(repo_copy / "configs"), version_base="1.3"):
        for run in runs[:: len(runs) // 2]:
            composed = compose("train", overrides=run.overrides)
            assert composed.task_name == "slope-scan" and composed.seed == run.params["seed"]
            assert composed.arm == composed.model.head.activation == run.params["model.head.activation"]
            assert composed.model.head._target_ == "yololab.models.heads.MLPHead"


def test_new_study_never_overwrites(repo_copy, capsys):
    scaffold(repo_copy, "mine")
    sweep_file = repo_copy / "studies/mine/sweep.yaml"
    sweep_file.write_text("# edited\n")
    with pytest.raises(ScaffoldError, match=r"configs/experiment/study/mine\.yaml exists; not overwriting"):
        scaffold(repo_copy, "mine")
    (repo_copy / "configs/experiment/study/mine.yaml").unlink()
    assert main(["mine", "--root", str(repo_copy)]) == 2
    assert "studies/mine/sweep.yaml exists" in capsys.readouterr().err
    assert sweep_file.read_text() == "# edited\n" and not (repo_copy / "configs/experiment/study/mine.yaml").exists()


@pytest.mark.parametrize("name", ["My-Study", "1st", "", "a b", "-x", "head_activation"])
def test_bad_names_are_refused(repo_copy, name):
    with pytest.raises(ScaffoldError, match=r"study name|exists"):
        scaffold(repo_copy, name)
    assert not (repo_copy / "studies").exists()


def test_outside_a_repository_it_says_where_to_run(tmp_path):
    with pytest.raises(ScaffoldError, match="run from the repository root"):
        scaffold(tmp_path, "mine")


def test_a_long_name_is_refused_for_its_length(repo_copy, capsys):
    assert main(["a" * 49, "--root", str(repo_copy)]) == 2
    assert capsys.readouterr().err == f"error: study name {'a' * 49!r} has 49 characters: at most 48\n"
    scaffold(repo_copy, "a" * 48)  # the longest name allowed
