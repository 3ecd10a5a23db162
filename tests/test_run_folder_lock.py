"""A run folder has one writer at a time: a second training, a second sweep runner, or a sweep parameter that
would point two runs at one folder stops with a message naming the first; a run writes only below logs/."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tests.test_no_data_loss import COMMAND, fake_sweep, files

from yololab.study import runner
from yololab.study.sweep import SweepFileError, load_sweep, plan

REPO = Path(__file__).resolve().parents[1]


def script_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]), "HYDRA_FULL_ERROR": "0"}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.1)


def tiny_training(root: Path) -> list[str]:
    return [f"data.root={root}", "data.synthetic=null", "data.loader.num_workers=0", "data.batch_size=8", "logger=csv",
            "trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "callbacks.validation_report=null", "callbacks.gradient_flow=null"]


@pytest.mark.slow
def test_a_second_writer_of_a_busy_run_folder_stops_naming_the_first(tmp_path, synthetic_root):
    """A training waits in its folder (a sweep's run folder); a second training there and a sweep runner that
    would restart that run both stop, naming it, and write nothing; the first ends with all its rows."""
    sweep = fake_sweep(tmp_path)
    [run] = plan(load_sweep(sweep), tmp_path / "runs")
    started, release = tmp_path / "started", tmp_path / "release"
    wait = ["+callbacks.wait._target_=tests.helpers.WaitForFile", "+callbacks.wait.step=1",
            f"+callbacks.wait.started={started}", f"+callbacks.wait.release={release}"]
    train = [sys.executable, str(REPO / "scripts" / "train.py"), *tiny_training(synthetic_root),
             f"hydra.run.dir={runner.quoted(str(run.run_dir))}"]  # seed=0: quoted for Hydra's grammar
    first = subprocess.Popen([*train, *wait], env=script_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(started, first)
        before = files(run.run_dir)
        second = subprocess.run(train, env=script_env(), cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        assert second.returncode == 1
        assert f"{run.run_dir} is in use by pid {first.pid} on host" in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        lines = []
        result = runner.run_sweep([run], cwd=tmp_path, echo=lines.append)
        assert result.failed == [(run, None)] and any(f"in use by pid {first.pid}" in line for line in lines)
        assert files(run.run_dir) == before  # neither wrote, moved or deleted anything
        assert not run.run_dir.with_name(f"{run.name}.attempt-1").exists()
    finally:
        release.touch()
        output, _ = first.communicate(timeout=900)
    assert first.returncode == 0, output[-3000:]
    metrics = (run.run_dir / "csv" / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    epochs_validated = {row.split(",")[header.index("epoch")] for row in metrics[1:]
                        if row.split(",")[header.index("val/loss")]}
    assert epochs_validated == {"0", "1"}


def test_a_second_sweep_runner_on_the_same_folder_stops_naming_the_first(tmp_path):
    program = tmp_path / "slow_train.py"  # a run that waits until the test lets it finish
    program.write_text(f"""import os, pathlib, time
run = pathlib.Path(os.environ["YOLOLAB_RUN_DIR"])
(run / "busy").write_text("the first runner's run")
while not pathlib.Path({str(tmp_path / 'release')!r}).exists():
    time.sleep(0.05)
(run / "metrics.json").write_text("{{}}")
""")
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"program": str(program), "method": "grid", "command": COMMAND,
                                     "parameters": {"seed": {"values": [0]}}}))
    command = [sys.executable, str(REPO / "scripts" / "sweep.py"), str(sweep), "--dir", str(tmp_path / "runs")]
    first = subprocess.Popen(command, env=script_env(), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(tmp_path / "runs" / "seed=0" / "busy", first)
        second = subprocess.run(command, env=script_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert f"{tmp_path / 'runs'} is in use by pid {first.pid} on host" in second.stderr, second.stderr
        assert (tmp_path / "runs" / "seed=0" / "busy").read_text() == "the first runner's run"
    finally:
        (tmp_path / "release").touch()
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    assert "1 finished" in output and not list((tmp_path / "runs").glob("*.attempt-*"))


@pytest.mark.parametrize("key", ["hydra.run.dir", "hydra.sweep.dir", "paths.output_dir", "+hydra.runtime.output_dir"])
def test_a_run_folder_cannot_be_a_sweep_parameter(tmp_path, key):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"program": "scripts/train.py", "method": "grid", "parameters": {
        "seed": {"values": [0, 1]}, key: {"value": str(tmp_path / "shared")}}}))
    with pytest.raises(SweepFileError, match=rf"parameters\.{key.replace('+', '[+]')}: the runner gives every run its "
                                             r"own folder"):
        load_sweep(sweep)
    sweep.write_text(yaml.safe_dump({"program": "scripts/train.py", "method": "grid",
                                     "parameters": {"seed": {"values": [0, 1]}},
                                     "command": ["${interpreter}", "${program}", f"{key}=/tmp/shared", "${args}"]}))
    with pytest.raises(SweepFileError, match=r"command: .*the runner gives every run its own folder"):
        load_sweep(sweep)


def test_a_run_that_exits_0_without_finishing_says_why(tmp_path):
    [run] = plan(load_sweep(fake_sweep(tmp_path, finish=False)), tmp_path / "runs")
    lines = []
    result = runner.run_sweep([run], cwd=tmp_path, echo=lines.append)
    assert result.failed == [(run, 0)]
    assert f"FAILED seed=0 (exit code 0, but it left no metrics.json in {run.run_dir}" in lines[-1], lines


@pytest.mark.parametrize("name", ["../../../x", "..", "a/b"])
def test_task_name_cannot_leave_the_logs_folder(tmp_path, name):
    cwd = tmp_path / "a" / "b" / "cwd"  # deep enough that ../../../x stays inside tmp_path
    cwd.mkdir(parents=True)
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "predict.py"), f"task_name={name}",
                           "ckpt_path=missing.ckpt", "input=missing.jpg"], env=script_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"error: task_name={name!r}: give a plain folder name (no '/', not '.' or '..'); "
                                   "it names the run's folder under paths.log_dir")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["a", "a/b", "a/b/cwd"]
