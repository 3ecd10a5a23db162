"""scripts/gpu_check.sh, the prepared GPU-lease check, runs every step in its tiny CPU mode and writes one JSON
with every section; a failing or hung step is recorded and the next one still runs."""

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks import gpu_check
from benchmarks.gpu_check.steps import STEPS

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # heavy: a full training run (keeps the fast suite near 10 min on 2 cores)
def test_tiny_gpu_check_writes_every_section(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    cmd = ["bash", str(REPO / "scripts" / "gpu_check.sh"), "--tiny", "--work-dir", str(tmp_path / "work")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    report = json.loads((tmp_path / "out" / "gpu_check.json").read_text())  # $OUT: where a lease collects it
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert report["mode"] == "tiny" and report["data"]["train_images"] == 16
    assert set(report["environment"]["cpu_bf16"]) == {"amx_bf16", "avx512_bf16", "amx_tile"}
    assert all(report[step]["ok"] and report[step]["seconds"] > 0 for step in STEPS)

    speed = report["throughput"]
    assert speed["loader_images_per_s"] > 0
    for variant in ("n/bf16-mixed", "s/bf16-mixed", "n/32-true", "s/32-true"):
        assert speed[variant]["train_images_per_s"] > 0 and speed[variant]["val_seconds"] > 0

    fit = report["fit"]
    assert fit["epochs"] == 2 and fit["train_images_per_s"] > 0 and fit["fit_wall_s"] > 0
    for key in ("val/mAP50", "val/mAP50-95"):
        assert 0 <= fit[key] <= 1
        assert fit["eval"][key] == pytest.approx(fit[key], abs=1e-6)  # the checkpoint evaluates as the fit did

    ddp = report["ddp"]
    assert ddp["finished"] and ddp["backend"] == "gloo" and ddp["devices"] == 2
    assert ddp["train_images_per_s"] > 0 and "val/mAP50" in ddp

    sweep = report["sweep"]
    assert sweep["jobs"] == 2 and sweep["runs_finished"] == 2
    assert sweep["aggregate_images_per_s"] > 0 and sweep["runs_per_hour"] > 0


def test_a_failing_or_hung_step_is_recorded_and_the_next_one_runs(tmp_path):
    def fails(check, section, deadline):
        section["measured"] = 2.0
        raise RuntimeError("CUDA out of memory")

    def hangs(check, section, deadline):
        while True:
            time.sleep(0.01)

    def works(check, section, deadline):
        section["figure"] = 1.0

    steps = {"fails": fails, "hangs": hangs, "works": works}
    plan = replace(gpu_check.TINY, budgets={"fails": 5, "hangs": 0.3, "works": 5}, grace_s=0.2)
    out = tmp_path / "check.json"
    report = gpu_check.run(plan, tmp_path / "work", out, steps=steps)
    assert report["fails"]["ok"] is False and report["fails"]["error"] == "RuntimeError: CUDA out of memory"
    assert report["fails"]["measured"] == 2.0  # what a step measured before its error stays
    assert report["hangs"]["ok"] is False and report["hangs"]["error"].startswith("StepTimeout")
    assert report["works"] == {"figure": 1.0, "ok": True, "seconds": pytest.approx(0, abs=1), "budget_s": 5}
    assert json.loads(out.read_text())["works"]["ok"] is True
