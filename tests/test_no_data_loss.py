"""Nothing written is lost: predict and export write only new files inside their output folder (never an
input, the checkpoint, a file they did not write, or through a link), checkpoints are saved atomically on
their own filesystem, and a sweep restart deletes nothing."""

import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch
import yaml
from tests.conftest import compose_config

from yololab.cli import deliberate
from yololab.inference import read_images
from yololab.study import runner
from yololab.study.sweep import load_sweep, plan
from yololab.tasks import export, predict, train

REPO = Path(__file__).resolve().parents[1]
COMMAND = ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]  # what a sweep file must say


def files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links not followed) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def refusal(run, cfg, match: str) -> str:
    """The message of the error ``run(cfg)`` raises: it matches ``match`` and was raised on purpose (the
    scripts print it alone and exit with 1)."""
    with pytest.raises(Exception) as info:
        run(cfg)
    assert match in str(info.value), str(info.value)
    assert deliberate(info.value) is info.value, f"not raised on purpose: {info.value!r}"
    return str(info.value)


def short_run(root) -> list[str]:
    return [f"data.root={root}", "data.synthetic=null", "data.loader.num_workers=0", "data.batch_size=8", "logger=csv",
            "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "callbacks.validation_report=null",
            "callbacks.gradient_flow=null"]


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory, synthetic_root) -> Path:
    """A run folder after one epoch: its checkpoints/last.ckpt is the previous good copy."""
    tmp_path = tmp_path_factory.mktemp("one-epoch")
    train.run(compose_config(tmp_path, [*short_run(synthetic_root), "trainer.max_epochs=1"]))
    return tmp_path / "run"


@pytest.fixture
def ckpt(one_epoch) -> Path:
    """A tiny checkpoint (one epoch of two batches): what predict and export refuse to write over."""
    return one_epoch / "checkpoints" / "last.ckpt"


@pytest.fixture
def scans(tmp_path, synthetic_root) -> Path:
    """Two real images, as a user's input folder."""
    folder = tmp_path / "in"
    folder.mkdir()
    for i, image in enumerate(sorted((synthetic_root / "images" / "train").glob("*.jpg"))[:2]):
        shutil.copy(image, folder / f"crazing_{i}.jpg")
    return folder


def predict_cfg(tmp_path, ckpt, input, output, *extra):
    return compose_config(tmp_path, [f"ckpt_path={ckpt}", f"input={input}", f"output={output}", *extra],
                          config_name="predict")


def test_predict_never_replaces_a_file_it_did_not_write(tmp_path, ckpt, scans):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(scans / "crazing_1.jpg", out / "crazing_0.jpg")  # someone's file, where a drawing would go
    before = files(out)
    refusal(predict.run, predict_cfg(tmp_path, ckpt, scans / "crazing_0.jpg", out),
            f"{out / 'crazing_0.jpg'} already exists")
    assert files(out) == before


@pytest.mark.parametrize("link", ["file", "folder"])
def test_predict_never_writes_through_a_link_out_of_the_output_folder(tmp_path, ckpt, scans, link):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(scans / "crazing_1.jpg", elsewhere / "crazing_0.jpg")
    out = tmp_path / "out"
    out.mkdir()
    if link == "file":  # out/crazing_0.jpg -> elsewhere/crazing_0.jpg
        (out / "crazing_0.jpg").symlink_to(elsewhere / "crazing_0.jpg")
        (out / "crazing_1.jpg").symlink_to(elsewhere / "missing.jpg")  # a dangling link: no file to overwrite
        match = "is a symbolic link"
    else:  # out/sub -> elsewhere, and the inputs hold sub/crazing_0.jpg
        (scans / "sub").mkdir()
        shutil.copy(scans / "crazing_1.jpg", scans / "sub" / "crazing_0.jpg")
        (out / "sub").symlink_to(elsewhere, target_is_directory=True)
        match = "would be written outside the output folder"
    before = files(elsewhere)
    refusal(predict.run, predict_cfg(tmp_path, ckpt, scans, out), match)
    assert files(elsewhere) == before and not (elsewhere / "missing.jpg").exists()


def test_predict_says_its_output_folder_holds_an_earlier_drawing(tmp_path, ckpt, scans):
    """The second run into the same folder: the earlier drawing is neither an input nor overwritten."""
    out = scans / "pred"
    predict.run(predict_cfg(tmp_path, ckpt, scans, out))
    before = files(out)
    message = refusal(predict.run, predict_cfg(tmp_path, ckpt, scans, out, "detections_file=again.json"),
                      f"output: {out / 'crazing_0.jpg'} already exists (from an earlier run?)")
    assert "input" not in message
    assert files(out) == before


@pytest.mark.parametrize("name", ["../../x.json", "/{tmp}/abs.json", "sub/../../y.csv"])
def test_the_detections_file_stays_inside_the_output_folder(tmp_path, ckpt, scans, name):
    name = name.format(tmp=tmp_path)
    refusal(predict.run, predict_cfg(tmp_path, ckpt, scans, tmp_path / "a" / "out", f"detections_file={name}"),
            "detections_file: ")
    assert sorted(p.name for p in tmp_path.rglob("*.json") if p.parent.name != ".hydra") == []
    assert not list(tmp_path.rglob("*.csv"))


def test_predict_output_under_a_regular_file_is_one_message(tmp_path, ckpt, scans):
    (tmp_path / "notes.txt").write_text("mine")
    refusal(predict.run, predict_cfg(tmp_path, ckpt, scans, tmp_path / "notes.txt" / "out"),
            f"output: cannot create the folder {tmp_path / 'notes.txt' / 'out'}")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_images_are_read_into_writable_arrays(tmp_path, scans):
    """The cause of torch's "The given NumPy array is not writable" warning on every predict (torch warns once
    per process, so the arrays themselves are checked): the drawing wraps the image read with from_numpy."""
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.imread(str(scans / "crazing_0.jpg"), cv2.IMREAD_GRAYSCALE))
    loaded, problems = read_images([scans / "crazing_0.jpg", grey])
    assert problems == [] and [image.flags.writeable for _, image in loaded] == [True, True]


@pytest.mark.parametrize("target", ["checkpoint", "other"])
def test_export_never_overwrites_the_checkpoint_or_another_file(tmp_path, ckpt, target):
    victim = tmp_path / "X.ckpt"
    shutil.copy(ckpt, victim)
    output = victim if target == "checkpoint" else tmp_path / "notes.onnx"
    if target == "other":
        output.write_bytes(b"someone's file")
    before = files(tmp_path)
    cfg = compose_config(tmp_path, [f"ckpt_path={victim}", f"output={output}"], config_name="export")
    refusal(export.run, cfg, "is the checkpoint" if target == "checkpoint" else "already exists")
    assert files(tmp_path) == before


def test_export_never_overwrites_an_existing_verification_report(tmp_path, ckpt):
    (tmp_path / "model.verification.json").write_text("{}")
    cfg = compose_config(tmp_path, [f"ckpt_path={ckpt}", f"output={tmp_path / 'model.onnx'}"], config_name="export")
    refusal(export.run, cfg, "model.verification.json already exists")
    assert not (tmp_path / "model.onnx").exists()


# --- checkpoints saved atomically on their own filesystem ------------------------------------------------------

def resume_with_file_size_limit(run_dir: Path, root: Path, tmpdir: Path, ignore_sigxfsz: bool):
    """``scripts/train.py`` resuming ``run_dir`` for a second epoch, allowed to write no file larger than half
    the checkpoint: its end-of-epoch save is cut mid-write, by SIGXFSZ (a kill) or, with the signal ignored
    (Python's default), by EFBIG (as a full disk fails a write)."""
    limit = (run_dir / "checkpoints" / "last.ckpt").stat().st_size // 2

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
           "HYDRA_FULL_ERROR": "0"}
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), *short_run(root), "trainer.max_epochs=2",
           f"hydra.run.dir={run_dir}", "ckpt_path=last"]
    if not ignore_sigxfsz:
        cmd += ["+callbacks.kill._target_=tests.helpers.DefaultSignalAction", "+callbacks.kill.signum=SIGXFSZ"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=run_dir.parent,
                          preexec_fn=limited)


@pytest.mark.slow
@pytest.mark.parametrize("cut", ["killed", "disk-full"])
def test_a_save_cut_mid_write_keeps_the_previous_checkpoint_and_leaves_no_temp_file(
        tmp_path, one_epoch, synthetic_root, cut):
    run_dir = tmp_path / "run"
    shutil.copytree(one_epoch, run_dir)
    previous = (run_dir / "checkpoints" / "last.ckpt").read_bytes()
    tmpdir = tmp_path / "system-temp"  # $TMPDIR: where Lightning's transaction wrote before moving
    tmpdir.mkdir()
    proc = resume_with_file_size_limit(run_dir, synthetic_root, tmpdir, ignore_sigxfsz=cut == "disk-full")
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == previous
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0
    assert list(tmpdir.iterdir()) == []
    if cut == "killed":
        assert proc.returncode == -signal.SIGXFSZ, proc.stderr[-3000:]
    else:
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert not list((run_dir / "checkpoints").glob(".*.partial"))  # the failed save cleaned up after itself
        last = proc.stdout.strip().splitlines()[-1]  # the console log (Hydra logs to stdout)
        # the first save to fail is the epoch's best (a new file) or last.ckpt, whichever comes first
        assert "could not save the checkpoint" in last and "(File too large); " in last, last


# --- a sweep restart deletes nothing ---------------------------------------------------------------------------

FAKE_TRAIN = """import json, os, pathlib, sys
run = pathlib.Path(os.environ["YOLOLAB_RUN_DIR"])
(run / "checkpoints").mkdir(parents=True, exist_ok=True)
if "{finish}" == "yes":
    (run / "metrics.json").write_text(json.dumps({{"args": sys.argv[1:]}}))
"""


def fake_sweep(tmp_path: Path, finish: bool = True) -> Path:
    """A one-run sweep whose program (any program runs, as under ``wandb agent``) writes what a finished
    training run leaves, ``metrics.json``, unless ``finish`` is false."""
    program = tmp_path / "fake_train.py"
    program.write_text(FAKE_TRAIN.format(finish="yes" if finish else "no"))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({"program": str(program), "method": "grid", "command": COMMAND,
                                     "parameters": {"seed": {"values": [0]}}}))
    return sweep


def test_a_sweep_restart_keeps_a_failed_runs_files(tmp_path):
    """A run that diverged left last-good.ckpt and console.log, no last.ckpt: the restart moves them aside."""
    [run] = plan(load_sweep(fake_sweep(tmp_path)), tmp_path / "runs")
    (run.run_dir / "checkpoints").mkdir(parents=True)
    (run.run_dir / "checkpoints" / "last-good.ckpt").write_bytes(b"the last good weights")
    (run.run_dir / "console.log").write_text("non-finite gradient at step 3\n")
    before = files(run.run_dir)
    lines = []
    result = runner.run_sweep([run], cwd=tmp_path, echo=lines.append)
    assert result.finished == [run]
    aside = run.run_dir.with_name("seed=0.attempt-1")
    assert {k: v for k, v in files(aside).items() if k != ".lock"} == before
    assert any(str(aside) in line for line in lines), lines
    assert (run.run_dir / "metrics.json").is_file() and not (run.run_dir / "checkpoints" / "last-good.ckpt").exists()
