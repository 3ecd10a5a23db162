"""Preemption and exact resume, the divergence guard, reproducibility, and bad configuration."""

import csv
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import open_dict
from tests.conftest import compose_config

from yololab.callbacks.fault_tolerance import DivergenceError
from yololab.tasks import train

REPO = Path(__file__).resolve().parents[1]


def base(root) -> list[str]:
    # 48 train images / batch 8: 6 steps per epoch
    return [f"data.root={root}", "data.synthetic=null", "data.loader.num_workers=0", "data.batch_size=8", "logger=csv",
            "trainer.max_epochs=2", "trainer.deterministic=true", "callbacks.validation_report=null",
            "trainer.log_every_n_steps=1"]


def losses(run_dir: Path) -> dict[int, float]:
    """Step -> training loss, from the run's CSV."""
    with open(run_dir / "csv" / "metrics.csv") as f:
        return {int(r["step"]): float(r["train/loss_step"]) for r in csv.DictReader(f) if r.get("train/loss_step")}


def test_killed_mid_epoch_and_resumed_ends_like_an_uninterrupted_run(tmp_path, synthetic_root):
    full = train.run(compose_config(tmp_path / "full", base(synthetic_root)))

    kill = ["+callbacks.kill._target_=tests.helpers.SignalAtStep", "+callbacks.kill.step=8"]
    killed = compose_config(tmp_path / "killed", [*base(synthetic_root), *kill])
    with pytest.raises(SIGTERMException):  # a real SIGTERM, handled by Lightning after the batch
        train.run(killed)
    ckpt = tmp_path / "killed" / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, weights_only=True)
    assert state["global_step"] == 8 and state["epoch"] == 1  # mid-way through the second epoch

    resumed = train.run(compose_config(tmp_path / "killed", [*base(synthetic_root), "ckpt_path=last"]))
    for key in ("val/mAP50", "val/mAP50-95", "val/loss"):
        assert resumed[key] == full[key], key
    # every step's loss, before the kill and after the resume, in one appended CSV
    assert losses(tmp_path / "killed" / "run") == losses(tmp_path / "full" / "run")


def rows_per_step(run_dir: Path, key: str = "train/loss_step") -> dict[int, int]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r.get(key)]
    return {step: steps.count(step) for step in steps}


@pytest.mark.slow  # heavy: a full training run (keeps the fast suite near 10 min on 2 cores)
def test_a_resumed_csv_holds_each_step_once(tmp_path, synthetic_root):
    """A crash after the last checkpoint: the steps logged since are dropped, then logged again by the resume."""
    short = [*base(synthetic_root), "trainer.limit_train_batches=3", "trainer.limit_val_batches=1"]
    crash = ["+callbacks.fail._target_=tests.helpers.RaiseAtStep", "+callbacks.fail.step=5", "+callbacks.fail.rank=0"]
    with pytest.raises(RuntimeError, match="planted failure"):
        train.run(compose_config(tmp_path, [*short, *crash]))
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 3
    assert rows_per_step(tmp_path / "run") == {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}  # steps 3 and 4 came after it
    train.run(compose_config(tmp_path, [*short, "ckpt_path=last"]))
    assert rows_per_step(tmp_path / "run") == {step: 1 for step in range(6)}
    assert rows_per_step(tmp_path / "run", "val/loss") == {2: 1, 5: 1}


def run_under_logs(tmp_path: Path, name: str, overrides: list[str]):
    """A config whose run folder is ``<log_dir>/train/runs/<name>``, a timestamped folder's place."""
    cfg = compose_config(tmp_path, overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "logs" / "train" / "runs" / name)
    return cfg


@pytest.mark.slow  # heavy: a full training run (keeps the fast suite near 10 min on 2 cores)
def test_last_in_a_new_run_folder_resumes_the_newest_run_of_the_task(tmp_path, synthetic_root, caplog):
    short = [*base(synthetic_root), "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    train.run(run_under_logs(tmp_path, "first", [*short, "trainer.max_epochs=1"]))
    first = tmp_path / "logs" / "train" / "runs" / "first" / "checkpoints" / "last.ckpt"
    with caplog.at_level(logging.INFO, logger="yololab.tasks.train"):
        train.run(run_under_logs(tmp_path, "second", [*short, "ckpt_path=last"]))
    assert f"ckpt_path=last: resuming the newest last.ckpt under {tmp_path / 'logs' / 'train'}: {first}" in caplog.text
    assert rows_per_step(tmp_path / "logs" / "train" / "runs" / "second") == {2: 1, 3: 1}  # epoch 2 only


def test_last_with_nothing_to_resume_stops_and_says_how(tmp_path, synthetic_root):
    cfg = run_under_logs(tmp_path, "new", [*base(synthetic_root), "ckpt_path=last"])
    with pytest.raises(FileNotFoundError, match=r"no earlier run under .*logs/train has a checkpoints/last\.ckpt\. "
                                                r"Resume a run with hydra\.run\.dir=<run folder> or ckpt_path=<file>"):
        train.run(cfg)
    assert not (tmp_path / "logs" / "train" / "runs" / "new" / "csv").exists()  # nothing was trained


def test_last_in_a_named_run_folder_without_a_checkpoint_starts_afresh(tmp_path, synthetic_root):
    """What scripts/slurm_train.sbatch relies on: its first attempt, in hydra.run.dir, has no checkpoint yet."""
    (tmp_path / "logs" / "train" / "runs" / "other" / "checkpoints").mkdir(parents=True)
    (tmp_path / "logs" / "train" / "runs" / "other" / "checkpoints" / "last.ckpt").write_bytes(b"")
    cfg = run_under_logs(tmp_path, "slurm-1", [*base(synthetic_root), "ckpt_path=last",
                                               f"hydra.run.dir={tmp_path / 'logs' / 'train' / 'runs' / 'slurm-1'}"])
    assert HydraConfig.get().overrides.hydra  # the run folder was named on the command line
    assert train.resolve_checkpoint(cfg) is None


def test_same_seed_same_numbers(tmp_path, synthetic_root):
    overrides = [*base(synthetic_root), "trainer.max_epochs=1", "trainer.limit_train_batches=3"]
    a = train.run(compose_config(tmp_path / "a", overrides))
    b = train.run(compose_config(tmp_path / "b", overrides))
    assert losses(tmp_path / "a" / "run") == losses(tmp_path / "b" / "run") != {}
    assert a["val/mAP50-95"] == b["val/mAP50-95"] and a["val/loss"] == b["val/loss"]
    c = train.run(compose_config(tmp_path / "c", [*overrides, "seed=7"]))
    assert losses(tmp_path / "c" / "run") != losses(tmp_path / "a" / "run") and c["val/loss"] != a["val/loss"]


def test_planted_nan_gradient_stops_within_the_step(tmp_path, synthetic_root):
    layer = "model.head.cls.1.0.0.weight"
    cfg = compose_config(tmp_path, [*base(synthetic_root), "+callbacks.nan._target_=tests.helpers.NaNGradientAtStep",
                                    "+callbacks.nan.step=3", f"+callbacks.nan.parameter={layer}"])
    with pytest.raises(DivergenceError, match=r"non-finite gradient at step 3: first in model\.head\.cls\.1\.0\.0"):
        train.run(cfg)
    good = torch.load(tmp_path / "run" / "checkpoints" / "last-good.ckpt", weights_only=True)
    assert good["global_step"] == 3
    assert all(torch.isfinite(v).all() for v in good["state_dict"].values() if v.is_floating_point())


def test_skip_mode_skips_and_counts(tmp_path, synthetic_root):
    plant = ["+callbacks.nan._target_=tests.helpers.NaNGradientAtStep", "+callbacks.nan.step=2",
             "+callbacks.nan.parameter=model.head.box.0.2.weight"]
    cfg = compose_config(tmp_path, [*base(synthetic_root), *plant, "trainer.max_epochs=1",
                                    "callbacks.divergence_guard.action=skip", "trainer.log_every_n_steps=1"])
    metrics = train.run(cfg)
    assert torch.isfinite(torch.tensor(metrics["val/loss"]))
    with open(tmp_path / "run" / "csv" / "metrics.csv") as f:
        skipped = [float(r["train/skipped_steps"]) for r in csv.DictReader(f) if r.get("train/skipped_steps")]
    assert skipped == [1.0]


def test_more_gpus_than_exist_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has GPUs")
    cfg = compose_config(tmp_path, ["trainer.devices=4"])
    with pytest.raises(ValueError, match=r"trainer\.devices=4 but this machine has 0 GPU\(s\).*trainer=ddp_cpu"):
        train.run(cfg)


def test_missing_checkpoint_is_named(tmp_path, synthetic_root):
    cfg = compose_config(tmp_path, [*base(synthetic_root), f"ckpt_path={tmp_path / 'nope.ckpt'}"])
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt"):
        train.run(cfg)


@pytest.mark.parametrize("rank", [pytest.param(0, marks=pytest.mark.slow), 1])  # rank 0 in the slow run
def test_a_rank_that_raises_ends_the_whole_ddp_job(tmp_path, synthetic_root, rank):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "PYTHONUNBUFFERED": "1"}
    fail = ["+callbacks.fail._target_=tests.helpers.RaiseAtStep", "+callbacks.fail.step=2",
            f"+callbacks.fail.rank={rank}"]
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), "trainer=ddp_cpu", *base(synthetic_root), *fail,
           f"hydra.run.dir={tmp_path}"]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode != 0
    assert f"planted failure on rank {rank} at step 2" in proc.stdout + proc.stderr
    assert time.monotonic() - start < 180
