"""The main job's console: every line once, no library advertisements or notices, one model summary; the
log file holds the same log lines."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOISE = ("INFO: ", "litlogger", "was configured so 100%", "LeafSpec", "anonymous setting",
         "on_after_batch_transfer", "Total FLOPs", "┏")
LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\]\[[\w.]+\]\[\w+\] - ")


def test_a_training_run_prints_each_line_once(tmp_path, synthetic_root):
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT", "HYDRA_FULL_ERROR")}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]), WANDB_MODE="offline")
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), f"data.root={synthetic_root}", "data.synthetic=null",
           "data.loader.num_workers=0", "data.batch_size=8", "trainer.max_epochs=1", "trainer.limit_train_batches=1",
           "trainer.limit_val_batches=1", "callbacks.validation_report=null", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console
    lines = console.splitlines()
    assert not [line for line in lines if any(noise in line for noise in NOISE)], console
    for once in ("Seed set to 42", "GPU available", "model summary", "dataset statistics", "final metrics"):
        assert sum(once in line for line in lines) == 1, (once, console)
    logged = [line for line in lines if LOG_LINE.match(line)]
    assert logged == [line for line in (tmp_path / "run" / "train.log").read_text().splitlines()
                      if LOG_LINE.match(line)]
    assert (tmp_path / "run" / "wandb").is_dir()  # the default logger, W&B offline, ran
