"""Hydra's own multirun: ``-m`` with the basic launcher (DDP runs included), joblib's refusal of DDP, an Optuna
search, and the SLURM launcher's config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import read_write
from tests.conftest import compose_config

from yololab import multirun
from yololab.study.runs import load_runs_dir
from yololab.utils.paths import CONFIG_DIR

REPO = Path(__file__).resolve().parents[1]
# one epoch of two batches on the small synthetic set
TINY = ["data.synthetic=null", "data.loader.num_workers=0", "data.batch_size=8", "trainer.max_epochs=1",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1"]


def train_cli(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def final_metric(run_dir: Path, key: str = "val/mAP50-95") -> float:
    return json.loads((run_dir / "metrics.json").read_text())[key]


# configs


def test_sweep_dir_resolves_before_any_job_sets_hydra_config():
    """Hydra resolves hydra.sweep.dir before any job runs; it used to need ${hydra:runtime.cwd} there."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", return_hydra_config=True)
    HydraConfig.instance().cfg = None
    assert cfg.hydra.sweep.dir.startswith(f"{os.getcwd()}/logs/train/multiruns/")
    assert cfg.paths.data_dir == f"{os.getcwd()}/data"


def test_arm_defaults_to_the_head_activation_and_names_the_wandb_group(tmp_path):
    cfg = compose_config(tmp_path, ["model.head.activation=elu"])
    assert cfg.arm == cfg.logger.wandb.group == "elu"
    cfg = compose_config(tmp_path, ["experiment=study/selu_preset"])
    assert cfg.arm == cfg.logger.wandb.group == "selu_preset"


def test_hparams_search_tunes_the_mlp_head_of_one_activation(tmp_path):
    cfg = compose_config(tmp_path, ["hparams_search=head_optuna", "model.head.activation=elu"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert cfg.hydra.mode == RunMode.MULTIRUN and sweeper.study_name == "head-elu"
    assert set(sweeper.params) == {"model.optimizer.lr", "model.head.width"}
    assert cfg.model.head._target_.endswith("MLPHead") and "width" in cfg.model.head
    assert cfg.optimized_metric == "val/mAP50-95"
    cfg = compose_config(tmp_path, ["hparams_search=head_optuna", "experiment=study/selu_preset"])
    assert cfg.model.head.activation == "selu" and cfg.model.head.norm == "none"  # the experiment's preset stays


def test_slurm_launcher_composes(tmp_path):
    proc = train_cli(["hydra/launcher=slurm", "trainer=ddp", "--cfg", "hydra"], cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    launcher = yaml.safe_load(proc.stdout)["hydra"]["launcher"]
    assert launcher["_target_"] == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == "${trainer.devices}"
    launcher = compose_config(tmp_path, ["hydra/launcher=slurm", "trainer=ddp"]).hydra.launcher
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes, launcher.max_num_timeout) == (4, 4, 1, 3)


# the multirun helpers


@pytest.mark.parametrize(("devices", "accelerator", "count"), [
    (2, "cpu", 2), ("2", "cpu", 2), ("0,1", "gpu", 2), ([0], "gpu", 1), ("auto", "cpu", 1), (1, "auto", 1),
])
def test_device_count(devices, accelerator, count):
    assert multirun.device_count(devices, accelerator) == count


def test_spawns_ranks_unless_started_from_outside(monkeypatch):
    for key in ("SLURM_NTASKS", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(key, raising=False)
    assert multirun.spawns_ranks({"devices": 2, "accelerator": "cpu", "strategy": "ddp"})
    assert not multirun.spawns_ranks({"devices": 2, "accelerator": "cpu", "strategy": "ddp_spawn"})
    assert not multirun.spawns_ranks({"devices": 1, "accelerator": "cpu"})
    assert multirun.spawns_ranks({"devices": 1, "num_nodes": 2})
    monkeypatch.setenv("LOCAL_RANK", "0")  # torchrun's ranks
    assert not multirun.spawns_ranks({"devices": 2, "accelerator": "cpu", "strategy": "ddp"})


@pytest.mark.parametrize(("launcher", "trainer", "refused"), [
    ("joblib", "ddp_cpu", True), ("basic", "ddp_cpu", False), ("slurm", "ddp", False), ("joblib", "cpu", False),
])
def test_launchers_that_cannot_start_ddp_ranks_are_refused(tmp_path, monkeypatch, launcher, trainer, refused):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    cfg = compose_config(tmp_path, [f"hydra/launcher={launcher}", f"trainer={trainer}"])
    if refused:
        with pytest.raises(ValueError, match=r"hydra/launcher=joblib .* scripts/sweep.py"):
            multirun.check_launcher(cfg, cfg.hydra)
    else:
        multirun.check_launcher(cfg, cfg.hydra)


def test_job_scope_relaunches_this_job_alone_and_clears_ddp_state(tmp_path, monkeypatch):
    cfg = compose_config(tmp_path, ["seed=3"])
    with read_write(cfg.hydra):
        cfg.hydra.mode = RunMode.MULTIRUN
    HydraConfig.instance().set_config(cfg)
    argv = ["scripts/train.py", "-m", "--config-name", "train", "seed=2,3"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv("MASTER_PORT", "1234")
    with multirun.job_scope(cfg):
        assert sys.argv == ["scripts/train.py", "--config-name", "train", "seed=3", "hydra.mode=RUN"]
        assert HydraConfig.get().run.dir == str(tmp_path / "run")
        os.environ["LOCAL_RANK"], os.environ["MASTER_PORT"] = "0", "5678"  # as Lightning's DDP launcher leaves them
    assert sys.argv == argv and "LOCAL_RANK" not in os.environ and os.environ["MASTER_PORT"] == "1234"


def test_config_flags():
    assert multirun.config_flags(["-m", "-cn", "x", "a=1", "--config-dir=/c", "b=2"]) == ["-cn", "x", "--config-dir=/c"]


def test_optimized_value(tmp_path, caplog):
    cfg = compose_config(tmp_path)
    assert multirun.optimized_value(cfg, {"val/mAP50-95": 0.25}) == 0.25
    assert multirun.optimized_value(cfg, {"val/mAP50": 0.5}) is None
    assert "optimized_metric=val/mAP50-95 was not logged (logged: val/mAP50)" in caplog.text


# through the CLI


def test_joblib_refuses_ddp_runs_before_starting_any(tmp_path):
    sweep_dir = tmp_path / "multirun"
    proc = train_cli(["-m", "hydra/launcher=joblib", "trainer=ddp_cpu", "seed=0,1", f"hydra.sweep.dir={sweep_dir}"],
                     cwd=tmp_path, timeout=300)
    assert proc.returncode != 0
    assert "error: hydra/launcher=joblib runs each job in a process of its own" in proc.stderr
    assert not sweep_dir.exists()


def test_multirun_starts_and_numbers_its_runs(tmp_path, synthetic_root):
    """The CLI's -m without training (about 20 s): it used to stop at hydra.sweep.dir before any run."""
    sweep_dir = tmp_path / "multirun"
    proc = train_cli(["-m", "seed=0,1", "train=false", f"data.root={synthetic_root}", *TINY, "logger=csv",
                      f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0", "1", "multirun.yaml"]
    assert [yaml.safe_load((sweep_dir / n / "config.yaml").read_text())["seed"] for n in ("0", "1")] == [0, 1]


@pytest.mark.slow
def test_multirun_gives_each_run_its_folder_and_report_reads_them(tmp_path, synthetic_root):
    """2 runs (about 40 s on 2 cores), W&B offline: checkpoints, CSV, metrics.json and a W&B run in each folder."""
    sweep_dir = tmp_path / "multirun"
    proc = train_cli(["-m", "model.head.activation=relu,elu", "seed=0", f"data.root={synthetic_root}", *TINY,
                      f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep_dir / "multirun.yaml").is_file()
    for num in ("0", "1"):
        run = sweep_dir / num
        assert (run / "metrics.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert (run / "csv" / "metrics.csv").is_file() and list((run / "wandb").glob("offline-run-*"))
    runs = load_runs_dir(sweep_dir)
    assert sorted((r.name, r.arm, r.seed) for r in runs) == [("0", "relu", 0), ("1", "elu", 0)]
    assert runs[0].config["logger"]["wandb"]["group"] == "relu"


@pytest.mark.slow
def test_ddp_runs_in_a_multirun_keep_one_folder_each(tmp_path, synthetic_root):
    """trainer=ddp_cpu under -m (about 60 s): the second rank joins its own job, in its folder, not a sweep."""
    sweep_dir = tmp_path / "multirun"
    proc = train_cli(["-m", "trainer=ddp_cpu", "seed=0,1", f"data.root={synthetic_root}", *TINY, "logger=csv",
                      f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep_dir.iterdir()) == ["0", "1", "multirun.yaml"]
    for num in ("0", "1"):  # both ranks of each run log into its folder
        run = sweep_dir / num
        assert "GLOBAL_RANK: 1, MEMBER: 2/2" in (run / "train.log").read_text()
        assert (run / "metrics.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "logs").exists()  # no rank made a folder of its own


@pytest.mark.slow
def test_optuna_search_reports_the_best_trial(tmp_path, synthetic_root):
    """2 trials of hparams_search=head_optuna (about 40 s)."""
    sweep_dir = tmp_path / "optuna"
    proc = train_cli(["hparams_search=head_optuna", "hydra.sweeper.n_trials=2", f"data.root={synthetic_root}", *TINY,
                      "logger=csv", f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"model.optimizer.lr", "model.head.width"}
    assert results["best_value"] == pytest.approx(max(final_metric(sweep_dir / n) for n in ("0", "1")))


@pytest.mark.slow
def test_joblib_runs_two_at_a_time(tmp_path, synthetic_root):
    """hydra/launcher=joblib with 2 workers (about 30 s)."""
    sweep_dir = tmp_path / "joblib"
    proc = train_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                      f"data.root={synthetic_root}", *TINY, "logger=csv", f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    assert all((sweep_dir / n / "metrics.json").is_file() for n in ("0", "1"))
