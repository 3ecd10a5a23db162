"""A file that is not a yololab checkpoint, or one of another model, is named as such (what a checkpoint's
stored config may make a loader do: tests/test_checkpoint_is_data.py)."""

import os
import stat

import pytest
from tests.conftest import compose_config

from yololab.checkpoints import CheckpointError
from yololab.tasks import evaluate, train


def test_a_garbage_file_is_not_a_checkpoint(tmp_path, synthetic_root):
    garbage = tmp_path / "model.ckpt"
    garbage.write_bytes(b"<html>404 Not Found</html>\n")
    with pytest.raises(ValueError, match=r"model\.ckpt: not a checkpoint \(torch\.load failed"):
        evaluate.run(compose_config(tmp_path, [f"ckpt_path={garbage}"], config_name="eval"))
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "data.synthetic=null", "logger=csv",
                                    f"ckpt_path={garbage}"])
    with pytest.raises(ValueError, match=r"model\.ckpt: not a checkpoint"):
        train.run(cfg)


def test_resuming_another_scale_names_the_scale(overfit_run, overfit_root, tmp_path):
    _, _, run_dir = overfit_run  # trained at the default model/scale=n
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    cfg = compose_config(tmp_path, [f"data.root={overfit_root}", "data.synthetic=null", "data.img_size=160",
                                    "logger=csv", "model/scale=s", f"ckpt_path={ckpt}"])
    scale = r"this checkpoint is model/scale=n, this run model/scale=s: add model/scale=n"
    with pytest.raises(ValueError, match=scale) as info:
        train.run(cfg)
    assert len(str(info.value).splitlines()) == 2


def test_a_fifo_is_not_a_regular_file(tmp_path):
    from yololab.checkpoints import read_checkpoint

    fifo = tmp_path / "model.ckpt"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    with pytest.raises(CheckpointError, match=r"model\.ckpt: not a checkpoint \(not a regular file\)"):
        read_checkpoint(fifo)  # never opened: opening a FIFO for reading blocks until a writer comes
