"""A resume continues the same run exactly, or stops: Ctrl-C (a real SIGINT to a real training process) leaves a
checkpoint that resumes as SIGTERM's does, and ``ckpt_path`` resumes only a checkpoint of the same run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.conftest import compose_config
from tests.test_fault_tolerance import base, losses, run_under_logs

from yololab.checkpoints import CheckpointError
from yololab.tasks import train

REPO = Path(__file__).resolve().parents[1]


def short(root) -> list[str]:
    """Two epochs of three steps, two validation batches each."""
    return [*base(root), "trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, synthetic_root):
    tmp_path = tmp_path_factory.mktemp("full")
    return train.run(compose_config(tmp_path, short(synthetic_root))), tmp_path / "run"


def interrupted_script(run_dir: Path, root: Path, hook: str, epoch: int) -> subprocess.CompletedProcess:
    """scripts/train.py, sent SIGINT by itself from callback hook ``hook`` in epoch ``epoch``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "PYTHONUNBUFFERED": "1"}
    signal_at = ["+callbacks.ctrl_c._target_=tests.helpers.SignalInHook", f"+callbacks.ctrl_c.hook={hook}",
                 f"+callbacks.ctrl_c.epoch={epoch}"]
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), *short(root), *signal_at, f"hydra.run.dir={run_dir}"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=run_dir.parent)


@pytest.mark.slow
@pytest.mark.parametrize(("hook", "epoch"), [("on_train_epoch_start", 1), ("on_validation_batch_start", 0)],
                         ids=["start-of-last-epoch", "during-validation"])
def test_ctrl_c_then_resume_ends_like_an_uninterrupted_run(tmp_path, synthetic_root, uninterrupted, hook, epoch):
    full, full_dir = uninterrupted
    run_dir = tmp_path / "run"
    proc = interrupted_script(run_dir, synthetic_root, hook, epoch)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Ctrl-C: stopping after this batch" in output, output[-3000:]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] < 6

    resumed = train.run(compose_config(tmp_path, [*short(synthetic_root), "ckpt_path=last"]))
    for key in ("val/mAP50", "val/mAP50-95", "val/loss"):
        assert resumed[key] == full[key], key
    assert json.loads((run_dir / "metrics.json").read_text())["val/mAP50-95"] == full["val/mAP50-95"]
    assert losses(run_dir) == losses(full_dir)


def test_last_resumes_only_a_checkpoint_of_the_same_run(tmp_path, synthetic_root):
    """Another study arm's last.ckpt, the newest under logs/train, is not resumed as this arm's."""
    one_epoch = [*short(synthetic_root), "trainer.max_epochs=1", "trainer.limit_train_batches=1",
                 "trainer.limit_val_batches=1"]
    train.run(run_under_logs(tmp_path, "relu", [*one_epoch, "model.head.activation=relu"]))
    elu = run_under_logs(tmp_path, "elu", [*one_epoch, "model.head.activation=elu", "ckpt_path=last"])
    with pytest.raises(CheckpointError, match=r"relu/checkpoints/last\.ckpt is another run's checkpoint: its config "
                                              r"differs from this command's at 2 key\(s\): arm: 'relu' there, 'elu' "
                                              r"here; model\.head\.activation: 'relu' there, 'elu' here\. Resume"):
        train.run(elu)
    assert not (tmp_path / "logs" / "train" / "runs" / "elu" / "metrics.json").exists()


def test_a_resume_may_change_where_and_how_long_but_not_what(tmp_path, synthetic_root):
    one_epoch = [*short(synthetic_root), "trainer.max_epochs=1", "trainer.limit_train_batches=1",
                 "trainer.limit_val_batches=1"]
    train.run(compose_config(tmp_path, one_epoch))
    longer = compose_config(tmp_path, [*one_epoch, "trainer.max_epochs=2", "data.cache.ram=false", "ckpt_path=last"])
    train.run(longer)  # one more epoch, without the image cache: the same run
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    other = compose_config(tmp_path, [*one_epoch, "trainer.max_epochs=3", "seed=7", "data.img_size=128",
                                      "ckpt_path=last"])
    with pytest.raises(CheckpointError, match=r"at 5 key\(s\): callbacks\.model_summary\.img_size: 160 there, 128 "
                                              r"here; data\.img_size: 160 there, 128 here; data\.seed: 42 there, 7 "
                                              r"here; model\.head\.img_size: 160 there, 128 here; seed: 42 there, 7 "
                                              r"here\."):
        train.run(other)
