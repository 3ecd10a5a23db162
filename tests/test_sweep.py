"""sweep.yaml and the local sweep runner: W&B's schema, Hydra composition of every command, the agent's exact
command, and a real mini sweep that a restart skips."""

import functools
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from tests.conftest import MINI_SWEEP_OVERRIDES, REPO, working_dir

from yololab.study import runner
from yololab.study.sweep import SweepFileError, agent_command, load_sweep, plan, sweep_points
from yololab.utils.paths import CONFIG_DIR

ARMS = ["relu", "leaky_relu:0.01", "leaky_relu:0.1", "leaky_relu:0.2", "leaky_relu:0.3", "elu", "selu", "silu",
        "gelu", "mish"]
# every sweep file in the repository (a study's claims file, study.yaml, names no program)
SWEEP_FILES = ["sweep.yaml", *sorted(str(p.relative_to(REPO)) for p in (REPO / "studies").rglob("*.yaml")
                                     if "program" in yaml.safe_load(p.read_text()))]


def test_sweep_yaml_passes_the_wandb_schema_and_is_the_study():
    import sweeps

    raw = yaml.safe_load((REPO / "sweep.yaml").read_text())
    assert sweeps.schema_violations_from_proposed_config(raw) == []
    cfg = load_sweep(REPO / "sweep.yaml")
    assert cfg["program"] == "scripts/train.py" and cfg["method"] == "grid"
    assert cfg["command"] == ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
    assert cfg["metric"] == {"name": "val/mAP50-95", "goal": "maximize"}
    assert cfg["parameters"]["model.head.activation"]["values"] == ARMS
    assert cfg["parameters"]["experiment"] == {"value": "study/head_activation"}
    assert len(cfg["parameters"]["seed"]["values"]) >= 5
    assert all("parameters" not in spec for spec in cfg["parameters"].values())  # flat keys only


def compose_commands(runs):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        for run in runs:
            assert run.command[:3] == ["/usr/bin/env", "python", "scripts/train.py"]
            check_arm(compose("train", overrides=run.overrides), run.params)


@pytest.mark.parametrize("sweep_file", SWEEP_FILES)
def test_every_parameter_value_composes_under_hydra(tmp_path, sweep_file):
    """Every arm with the first seed and every seed with the first arm (the commands differ in nothing else)."""
    cfg = load_sweep(REPO / sweep_file)
    runs = plan(cfg, tmp_path)
    assert len(runs) == len(sweep_points(cfg)) == len({r.run_dir for r in runs})
    first = runs[0].params
    compose_commands([r for r in runs if sum(r.params[k] != first[k] for k in first) <= 1])


@pytest.mark.slow
@pytest.mark.parametrize("sweep_file", SWEEP_FILES)
def test_every_command_composes_under_hydra(tmp_path, sweep_file):
    compose_commands(plan(load_sweep(REPO / sweep_file), tmp_path))


@functools.cache
def committed_trunk_sha256() -> str:
    """hashlib's digest of trunks/neu_det.pt, read once for every command checked (not yololab's sha256_of)."""
    return hashlib.sha256((REPO / "trunks" / "neu_det.pt").read_bytes()).hexdigest()


def check_arm(composed, params):
    if params["experiment"] == "fc_head":  # the global fc head's runs, named fc_<activation>
        activation = params["model.head.activation"]
        assert composed.arm == f"fc_{activation}" and composed.seed == params["seed"]
        assert (composed.model.head._target_, composed.model.head.activation) == ("yololab.models.heads.FCHead",
                                                                                  activation)
        return
    if params["experiment"].startswith("study/fc_probe/"):  # family 3's ablations: their changes from the base
        ablation = params["experiment"].rsplit("/", 1)[1]
        head = composed.model.head
        assert composed.arm == f"fc_{ablation}" and composed.seed == params["seed"]
        assert (head._target_, head.activation) == ("yololab.models.heads.FCHead", params["model.head.activation"])
        changed = {"norm_batch": {"norm": "batch"}, "norm_layer": {"norm": "layer"}, "grid_14": {"grid": 14},
                   "reduce_64": {"reduce": 64}, "lr_low": {"lr": 0.0002}, "lr_lowest": {"lr": 0.00002},
                   "lr_low_reduce_64": {"lr": 0.0002, "reduce": 64}, "base": {}, "no_ema": {}}[ablation]
        base = {"norm": "none", "grid": 7, "reduce": None, "lr": 0.002}
        got = {**{k: head[k] for k in ("norm", "grid", "reduce")}, "lr": composed.model.optimizer.lr}
        assert got == {**base, **changed}
        assert (composed.callbacks.get("ema") is None) == (ablation == "no_ema")
        assert list(composed.model.freeze) == ["backbone", "neck"] and composed.model.cache_features
        assert composed.model.init_from_sha256 == committed_trunk_sha256() and composed.data.img_size == 224
        return
    preset = params["experiment"] in ("study/selu_preset", "study/head_probe_selu_preset")
    arm = "selu_preset" if preset else params["model.head.activation"]
    assert composed.arm == arm and composed.seed == params["seed"] and composed.task_name == "study"
    head = composed.model.head
    assert head._target_ == "yololab.models.heads.MLPHead"
    assert head.activation == ("selu" if preset else arm)
    probe = params["experiment"].startswith("study/head_probe")
    norm = params.get("model.head.norm", "none" if preset or probe else "batch")
    assert (head.norm, head.dropout > 0) == (norm, preset)
    if probe:  # on the frozen trunk, at its image size
        assert list(composed.model.freeze) == ["backbone", "neck"] and composed.data.img_size == 224
        assert composed.model.init_from.endswith("/trunks/neu_det.pt") and head.depth == params["model.head.depth"]
        assert composed.model.init_from_sha256 == committed_trunk_sha256()  # pinned to the committed file
        # the decided mode (docs/head-probe.md#augmentation-or-the-cache): cached features, no augmentation
        assert composed.model.cache_features and not composed.data.augment
    if "wandb" in composed.logger:
        assert composed.logger.wandb.group == arm


def test_the_head_probe_pilot_runs_are_family_1s_own(tmp_path):
    """Run into family 1's folder, the pilot's runs have family 1's names and commands: its sweep skips them."""
    family = {r.name: r for r in plan(load_sweep(REPO / "studies/head-probe/mlp_depth2.yaml"), tmp_path)}
    pilot = plan(load_sweep(REPO / "studies/head-probe/pilot.yaml"), tmp_path)
    assert {r.params["model.head.activation"] for r in pilot} == {"relu", "leaky_relu:0.1"}
    assert sorted({r.params["seed"] for r in pilot}) == [0, 1, 2]
    for run in pilot:
        assert (run.command, run.run_dir) == (family[run.name].command, family[run.name].run_dir)


def test_the_runner_runs_what_the_wandb_agent_runs(tmp_path, monkeypatch):
    """The real agent (wandb's Agent._command_run) starts each run; its process's argv is the runner's command."""
    from wandb.wandb_agent import Agent

    cfg = load_sweep(REPO / "sweep.yaml")
    monkeypatch.chdir(tmp_path)  # the agent writes wandb/sweep-<id>/config-<run>.yaml here
    for key in ("WANDB_DIR", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_SWEEP_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    agent = Agent(api=None, queue=None, sweep_id="local")
    agent._sweep_command = cfg["command"]
    runs = plan(cfg, tmp_path / "runs")
    for i, run in enumerate(runs[::33]):  # relu seed 0, ..., across the grid
        run_id = f"run{i}"
        agent._command_run({"run_id": run_id, "program": cfg["program"],
                            "args": {k: {"value": v} for k, v in run.params.items()}})
        process = agent._run_processes[run_id]._popen
        process.kill()
        process.wait()
        assert process.args == run.command == agent_command(cfg, run.params)


def test_bad_sweep_files_are_named(tmp_path):
    def sweep(text):
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        return path

    with pytest.raises(SweepFileError, match=r"sweep file not found: .*missing\.yaml"):
        load_sweep(tmp_path / "missing.yaml")
    with pytest.raises(SweepFileError, match=r"(?s)bad\.yaml.*'gridd' is not one of"):
        load_sweep(sweep("program: scripts/train.py\nmethod: gridd\nparameters: {seed: {values: [0]}}\n"))
    with pytest.raises(SweepFileError, match=r"(?s)bad\.yaml.*parameters\.model: nested parameters"):
        load_sweep(sweep("program: p.py\nmethod: grid\nparameters:\n  model:\n    parameters:\n"
                         "      lr: {values: [1, 2]}\n"))
    with pytest.raises(SweepFileError, match="method: 'bayes' runs only on a W&B server"):
        load_sweep(sweep("program: p.py\nmethod: bayes\nmetric: {name: m, goal: maximize}\n"
                         "parameters: {lr: {min: 0.1, max: 1.0}}\n"))
    random_sweep = load_sweep(sweep("program: p.py\nmethod: random\ncommand: ['${program}']\nparameters:\n"
                                    "  lr: {min: 0.1, max: 1.0}\n"
                                    "  seed: {values: [0, 1, 2]}\n"))
    with pytest.raises(SweepFileError, match="--count"):
        sweep_points(random_sweep)
    with pytest.raises(SweepFileError, match="seed is a parameter of the sweep"):
        plan(load_sweep(REPO / "sweep.yaml"), tmp_path, extra=["seed=3"])


def test_random_sweeps_draw_the_same_points_for_the_same_seed(tmp_path):
    path = tmp_path / "random.yaml"
    path.write_text("program: scripts/train.py\nmethod: random\ncommand: [python, '${program}', '${args_no_hyphens}']\n"
                    "parameters:\n  model.optimizer.lr: {distribution: log_uniform_values, min: 0.0001, max: 0.01}\n"
                    "  seed: {values: [0, 1, 2]}\n")
    cfg = load_sweep(path)
    first, again, other = (plan(cfg, tmp_path, count=4, seed=s) for s in (0, 0, 1))
    assert [r.command for r in first] == [r.command for r in again] != [r.command for r in other]
    assert len(first) == 4 and all(0.0001 <= r.params["model.optimizer.lr"] <= 0.01 for r in first)
    assert first[0].command[:2] == ["python", "scripts/train.py"]
    assert first[0].overrides == [f"model.optimizer.lr={first[0].params['model.optimizer.lr']}",
                                  f"seed={first[0].params['seed']}"]


def test_dry_run_prints_the_commands(tmp_path, capsys):
    with working_dir(REPO):
        assert runner.main(["sweep.yaml", "--dry-run", "--dir", str(tmp_path), "--", "trainer.max_epochs=3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 100
    assert lines[0] == (f"YOLOLAB_RUN_DIR={tmp_path}/model.head.activation=relu,seed=0 /usr/bin/env python "
                        "scripts/train.py experiment=study/head_activation model.head.activation=relu seed=0 "
                        "trainer.max_epochs=3")
    assert not list(tmp_path.iterdir())  # nothing ran


def test_outer_seed_runs_every_arm_of_a_seed_before_the_next_seed(tmp_path, capsys):
    cfg = load_sweep(REPO / "studies/head-probe/mlp_depth2.yaml")
    arms, seeds = (cfg["parameters"][k]["values"] for k in ("model.head.activation", "seed"))
    assert plan(cfg, tmp_path)[1].params["seed"] == seeds[1]  # W&B's own order: arm by arm
    with working_dir(REPO):
        assert runner.main(["studies/head-probe/mlp_depth2.yaml", "--outer", "seed", "--dry-run", "--dir",
                            str(tmp_path)]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert runner.main(["sweep.yaml", "--outer", "seeds", "--dry-run"]) == 2
    expected = [f"seed={s},model.head.activation={a.replace(':', '-')}" for s in seeds for a in arms]
    assert [line.split(" ")[0].rsplit("/", 1)[1] for line in lines] == expected
    assert "--outer seeds: not a parameter with values in the sweep file" in capsys.readouterr().err


def test_export_makes_forwarded_overrides_sweep_parameters(tmp_path, capsys):
    """For W&B: the exported sweep gives every run the overrides the local runner appends after --."""
    extra, exported = ["data=neu_det", "trainer.max_epochs=100"], tmp_path / "neu_det.yaml"
    with working_dir(REPO):
        assert runner.main(["sweep.yaml", "--export", str(exported), "--", *extra]) == 0
        assert runner.main(["sweep.yaml", "--export", str(exported), "--", *extra]) == 2
    assert "exists; not overwriting" in capsys.readouterr().err
    local = plan(load_sweep(REPO / "sweep.yaml"), tmp_path, extra=extra)
    assert [sorted(r.overrides) for r in plan(load_sweep(exported), tmp_path)] == [sorted(r.overrides) for r in local]


def test_mini_sweep_runs_end_to_end_and_a_restart_skips_finished_runs(mini_sweep, capsys):
    sweep_file, runs_dir, extra = mini_sweep
    runs = plan(load_sweep(sweep_file), runs_dir, extra=extra)
    arms_seeds = [("relu", 0), ("relu", 1), ("leaky_relu:0.1", 0), ("leaky_relu:0.1", 1)]
    assert [r.name for r in runs] == [f"model.head.activation={arm.replace(':', '-')},seed={seed}"
                                      for arm, seed in arms_seeds]
    for run in runs:
        recorded = yaml.safe_load((run.run_dir / ".hydra" / "overrides.yaml").read_text())
        assert recorded == run.overrides == run.command[3:]
        config = yaml.safe_load((run.run_dir / "config.yaml").read_text())
        assert (config["arm"], config["seed"]) == (run.params["model.head.activation"], run.params["seed"])
        assert (run.run_dir / "csv" / "metrics.csv").is_file() and (run.run_dir / "gradflow_layers.json").is_file()
    stamps = {r.name: (r.run_dir / "metrics.json").stat().st_mtime_ns for r in runs}

    result = runner.run_sweep(runs, jobs=2, cwd=REPO)  # the restart: nothing left to do
    assert (len(result.skipped), result.finished, result.failed) == (4, [], [])
    assert stamps == {r.name: (r.run_dir / "metrics.json").stat().st_mtime_ns for r in runs}

    (runs[1].run_dir / "metrics.json").rename(runs[1].run_dir / "metrics.moved")  # as if killed before the end
    capsys.readouterr()
    runner.run_sweep(runs, dry_run=True)
    lines = capsys.readouterr().out.splitlines()
    assert [line.startswith("# finished: ") for line in lines] == [True, False, True, True]
    (runs[1].run_dir / "metrics.moved").rename(runs[1].run_dir / "metrics.json")


def test_a_finished_folder_of_another_sweep_is_not_taken_for_this_one(mini_sweep):
    sweep_file, runs_dir, extra = mini_sweep
    runs = plan(load_sweep(sweep_file), runs_dir, extra=[*extra, "model.head.width=64"])
    with pytest.raises(SweepFileError, match="holds a finished run with the overrides"):
        runner.run_sweep(runs, dry_run=True)


def test_a_run_finished_with_another_thread_count_is_still_finished(mini_sweep, capsys):
    """threads says how a run was computed, not which run it is: a study that goes on with --jobs 2 -- threads=1
    skips the runs it finished one at a time; each folder records the count it ran with."""
    sweep_file, runs_dir, extra = mini_sweep
    runs = plan(load_sweep(sweep_file), runs_dir, extra=[*extra, "threads=1"])
    result = runner.run_sweep(runs, jobs=2, dry_run=True)
    assert len(result.skipped) == 4 and all(line.startswith("# finished: ") for line in
                                            capsys.readouterr().out.splitlines())


def test_the_runner_uses_the_interpreter_that_runs_it(tmp_path):
    run = plan(load_sweep(REPO / "sweep.yaml"), tmp_path)[0]
    env = runner.run_env(run)
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["YOLOLAB_RUN_DIR"] == str(run.run_dir.resolve())


def hydra_value(override: str):
    """The value Hydra's own override parser reads from ``key=value``."""
    return OverridesParser.create().parse_override(override).value()


@pytest.mark.parametrize("path", ["/runs/model.head.activation=relu,seed=1/last.ckpt", "/it's here/a b/[x]{y}",
                                  "/ends/in\\", "/a\\'b/c"])
def test_a_resumed_run_passes_its_checkpoint_path_to_hydra_literally(path):
    assert hydra_value(f"ckpt_path={runner.quoted(path)}") == path


@pytest.mark.slow  # heavy: a full training run (keeps the fast suite near 10 min on 2 cores)
def test_a_killed_sweep_resumes_its_unfinished_run_and_ends_as_an_uninterrupted_one(
        tmp_path, synthetic_root, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    sweep_file = tmp_path / "sweep.yaml"
    cfg = yaml.safe_load((REPO / "sweep.yaml").read_text())
    # swept keys, so that the run folder is named as a study's are: model.head.activation=relu,seed=0 (an
    # unquoted ckpt_path=<that folder>/... broke Hydra's override grammar on resume)
    cfg["parameters"] = {"experiment": {"value": "study/head_activation"},
                         "model.head.activation": {"values": ["relu"]}, "seed": {"values": [0]}}
    sweep_file.write_text(yaml.safe_dump(cfg))
    # three epochs of two steps; the kill comes after step 3, in the second epoch, after its first checkpoint
    extra = [*MINI_SWEEP_OVERRIDES, "trainer.max_epochs=3", f"data.root={synthetic_root}"]
    kill = ["+callbacks.kill._target_=tests.helpers.KillOnceAtStep", "+callbacks.kill.step=3",
            f"+callbacks.kill.marker={tmp_path / 'killed'}"]

    [whole] = plan(load_sweep(sweep_file), tmp_path / "whole", extra=extra)
    assert runner.run_sweep([whole], cwd=REPO).finished == [whole]

    [run] = plan(load_sweep(sweep_file), tmp_path / "killed-runs", extra=[*extra, *kill])
    first = runner.run_sweep([run], cwd=REPO)
    assert first.failed == [(run, -9)] and (run.run_dir / "checkpoints" / "last.ckpt").is_file()
    second = runner.run_sweep([run], cwd=REPO)
    assert second.finished == [run]
    log = (run.run_dir / "console.log").read_text()
    assert run.name == "model.head.activation=relu,seed=0" and log.count("$ ") == 2
    resumed = shlex.split(log.split("\n$ ")[1].splitlines()[0])[-1]
    assert hydra_value(resumed) == str((run.run_dir / "checkpoints" / "last.ckpt").resolve())
    assert "Restored all states from the checkpoint" in log  # resumed, not restarted
    done, reference = (json.loads((r.run_dir / "metrics.json").read_text()) for r in (run, whole))
    for key in ("val/mAP50", "val/mAP50-95", "val/loss"):
        assert done[key] == reference[key], key


def test_a_sweep_file_without_command_is_refused_with_the_reason(tmp_path, capsys):
    """W&B's default command passes --seed=0, which Hydra refuses: every run used to fail, each in its console.log."""
    path = tmp_path / "nocommand.yaml"
    path.write_text("program: scripts/train.py\nmethod: grid\nparameters:\n  seed: {values: [0, 1]}\n")
    with working_dir(REPO):
        assert runner.main([str(path), "--dry-run", "--dir", str(tmp_path / "runs")]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: not a valid sweep:\n  - command: missing: W&B's default command passes each parameter as "
        "--key=value, which a Hydra script refuses; add command: [${env}, ${interpreter}, ${program}, "
        "${args_no_hyphens}]\n")
    assert not (tmp_path / "runs").exists()
