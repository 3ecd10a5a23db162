"""DDP over gloo with two CPU processes, launched through the real CLI."""

import csv
import os
import subprocess
import sys
from pathlib import Path

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
