"""DDP over gloo with two CPU processes, launched through the real CLI."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import compose_config

from yololab import evaluate

REPO = Path(__file__).resolve().parents[1]


def test_ddp_cpu_trains_and_validates(tmp_path, synthetic_root):
    env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable, str(REPO / "scripts" / "train.py"), "trainer=ddp_cpu", "trainer.devices=2",
        f"data.root={synthetic_root}", "data.synthetic=null", "data.num_workers=0", "data.batch_size=8",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "logger=csv", f"hydra.run.dir={tmp_path}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(r.get("val/mAP50") for r in rows)
    assert "distributed_backend=gloo" in proc.stdout + proc.stderr
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def eval_dataset(root: Path, overfit_root: Path, extra: int) -> Path:
    """The overfit images plus ``extra`` unseen ones as a val split: detections are varied, not all perfect."""
    import shutil

    from yololab.data.synthetic import SyntheticDefects

    SyntheticDefects(num_train=0, num_val=extra, image_size=160, seed=11).write(root)
    for kind in ("images", "labels"):
        for f in (overfit_root / kind / "train").iterdir():
            shutil.copy(f, root / kind / "val" / f"seen-{f.name}")
    return root


@pytest.mark.parametrize("extra", [8, 9])  # 16 images (even over 2 ranks) and 17 (uneven)
def test_ddp_validation_equals_single_process(tmp_path, overfit_run, overfit_root, extra):
    _, _, run_dir = overfit_run
    root = eval_dataset(tmp_path / "data", overfit_root, extra)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    overrides = [f"ckpt_path={ckpt}", f"data.root={root}", "data.batch_size=3", "data.num_workers=0"]
    single = evaluate.run(compose_config(tmp_path / "single", [*overrides, "trainer=cpu"], config_name="eval"))
    assert 0.05 < single["val/mAP50"] < 0.999  # a non-trivial value to compare

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(REPO / "scripts" / "eval.py"), *overrides, "trainer=ddp_cpu",
           f"hydra.run.dir={tmp_path / 'ddp'}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    for key, value in single.items():
        if key.startswith("val/") and "loss" not in key:
            assert ddp[key] == pytest.approx(value, abs=1e-6), key
