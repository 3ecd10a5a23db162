"""Careless commands: each stops with one short message naming the key or file, raised on purpose (the entry
points print such an error alone and exit with 1), and before the data scan where a setting is at fault."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra.errors import InstantiationException
from tests.conftest import compose_config

from yololab.tasks import train

REPO = Path(__file__).resolve().parents[1]


def stop_message(cfg, match: str) -> str:
    """The message of the error ``train.run(cfg)`` raises: it matches ``match``, and yololab raised it on purpose
    (so the entry points print it alone)."""
    with pytest.raises(Exception) as info:
        train.run(cfg)
    err = info.value.__cause__ if isinstance(info.value, InstantiationException) else info.value
    assert re.search(match, str(err)), repr(err)
    from yololab.cli import deliberate

    assert deliberate(info.value) is err, f"not raised on purpose: {err!r}"
    return str(err)


@pytest.mark.parametrize(("override", "match"), [
    ("data.img_size=abc", r"data\.img_size='abc': the image size must be an integer multiple of 32"),
    ("data.img_size=0", r"data\.img_size=0: "),
    ("data.img_size=-32", r"data\.img_size=-32: "),
    ("data.batch_size=0", r"data\.batch_size=0: the batch size \(per device\) must be an integer >= 1"),
    ("model.optimizer.lr=-0.01", r"model\.optimizer\.lr=-0\.01: the learning rate must be a positive number"),
    ("model.optimizer.betas=[1.5,0.999]", r"model\.optimizer\.betas: Invalid beta parameter"),
    ("model.head.activation=leaky_relu:-1", r"'leaky_relu:-1': negative_slope must be >= 0"),
    ("model.head.activation='leaky_relu:'", r"'leaky_relu:': a parameter is empty"),
    ("threads=0", r"threads=0: give a positive number of CPU threads, or null for one per core"),
    ("threads=two", r"threads='two': give a positive number of CPU threads"),
    ("numerics=fast", r"numerics='fast': native \(the fastest kernels of this CPU\) or portable"),
])
def test_bad_settings_are_named_before_the_data_scan(tmp_path, override, match):
    # an empty data folder: a check that came after the scan would fail on the data instead
    (tmp_path / "empty" / "images" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [a]\n")
    cfg = compose_config(tmp_path, [f"data.root={tmp_path / 'empty'}", "data.synthetic=null", "logger=csv", override])
    assert len(stop_message(cfg, match).splitlines()) <= 2


def test_more_devices_than_exist_suggests_a_fix_that_works(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has GPUs")
    message = stop_message(compose_config(tmp_path, ["trainer.devices=4"]), r"Use trainer=cpu .*, or trainer=ddp_cpu "
                           r"trainer\.devices=2 to train in two CPU processes")
    assert "devices<=0" not in message


def test_a_library_error_keeps_its_traceback():
    from yololab.cli import deliberate

    try:
        torch.zeros(2) + torch.zeros(3)
    except RuntimeError as err:
        assert deliberate(err) is None


def train_script(tmp_path, *overrides, full_error: bool = False):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    if full_error:
        env["HYDRA_FULL_ERROR"] = "1"
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)


def test_the_script_prints_the_message_alone_and_exits_with_1(tmp_path):
    proc = train_script(tmp_path, "data.batch_size=0")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "data.batch_size=0: the batch size (per device) must be an integer >= 1" in output
    assert "Traceback" not in output and "HYDRA_FULL_ERROR" not in output
    assert len(output.strip().splitlines()) <= 3, output
    assert "data.batch_size=0" in (tmp_path / "run" / "train.log").read_text()  # the log file has it too

    full = train_script(tmp_path, "data.batch_size=0", full_error=True)
    assert full.returncode == 1 and "Traceback (most recent call last)" in full.stderr


@pytest.mark.parametrize(("override", "new"), [("data.cache=null", "data.cache.ram=true|false"),
                                               ("+data.scan_cache=/tmp/x", "data.cache.check_dir=<folder>"),
                                               ("data.num_workers=0", "data.loader.num_workers=<n>"),
                                               ("data.ram_cache=false", "data.cache.ram=true|false")])
def test_a_renamed_key_names_its_new_name(tmp_path, override, new):
    proc = train_script(tmp_path, override)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{override.split('=')[0].lstrip('+')} was renamed: use {new}"


@pytest.mark.parametrize(("override", "message"), [
    ("seed=abc", "seed='abc': the seed must be an integer in [0, 4294967295]"),
    ("seed=-1", "seed=-1: the seed must be an integer in [0, 4294967295]"),
    ("data.loader.num_workers=-1", "data.loader.num_workers=-1: the loader's worker processes: an integer >= 0 "
                                   "(0: load in the main process)"),
    ("data.cache.ram=yes", "data.cache.ram='yes': true or false"),
    ("data.close_mosaic=-3", "data.close_mosaic=-3: the last epochs without mosaic and mixup: an integer >= 0"),
    ("trainer.max_epochs=-5", "trainer.max_epochs=-5: an integer >= 0, -1 for no limit, or null (Lightning's "
                              "default)"),
    ("trainer.precision=8", "trainer.precision=8: one of 32-true, 16-mixed, bf16-mixed, 16-true, bf16-true, 64-true, "
                            "transformer-engine, transformer-engine-float16 (or 32, 16, bf16, 64)"),
    ("trainer.precision=true", "trainer.precision=True: one of 32-true, "),
])
def test_every_command_checks_its_settings_first(tmp_path, override, message):
    from yololab.cli import deliberate
    from yololab.utils.settings import check_settings

    with pytest.raises(ValueError) as info:
        check_settings(compose_config(tmp_path, [override]))
    assert str(info.value).startswith(message) and deliberate(info.value) is info.value


def test_valid_settings_pass_and_the_precisions_are_lightnings():
    from typing import get_args

    from lightning.fabric.plugins.precision.precision import _PRECISION_INPUT

    from yololab.utils.settings import PRECISIONS, SHORT_PRECISIONS, check

    lightning = {v for alias in get_args(_PRECISION_INPUT) for v in get_args(alias)}
    assert set(PRECISIONS + SHORT_PRECISIONS) == lightning
    for key, value in [("trainer.max_epochs", -1), ("trainer.max_epochs", 0), ("trainer.precision", "bf16-mixed"),
                       ("trainer.precision", 16), ("seed", 0), ("seed", 2**32 - 1), ("data.loader.num_workers", 0)]:
        check(key, value)


@pytest.mark.parametrize(("script", "overrides", "message"), [
    ("train.py", ["seed=abc"], "seed='abc': the seed must be an integer in [0, 4294967295]"),
    ("eval.py", ["ckpt_path=none.ckpt", "data.loader.num_workers=-1"],
     "data.loader.num_workers=-1: the loader's worker processes"),
])
def test_a_bad_setting_stops_the_script_with_its_message_alone(tmp_path, script, overrides, message):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    cmd = [sys.executable, str(REPO / "scripts" / script), *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1, output
    assert len(output.splitlines()) == 1 and f"[ERROR] - {message}" in output, output
