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


def test_a_run_stored_before_the_loader_and_cache_groups_still_resumes():
    """A checkpoint whose config has the loader and cache keys flat (before ``data.loader`` and ``data.cache``)
    resumes under the grouped keys, changed or not (a resume may change them); what makes the run is still held."""
    from yololab.checkpoints import check_same_run

    flat = {"seed": 0, "data": {"root": "/d", "batch_size": 16, "num_workers": 2, "pin_memory": True,
                                "persistent_workers": True, "worker_nice": 10, "ram_cache": True,
                                "check_cache_dir": None}}
    grouped = {"seed": 0, "data": {
        "root": "/d", "batch_size": 16,
        "loader": {"_target_": "yololab.data.datamodule.LoaderSettings", "num_workers": 0, "pin_memory": False,
                   "persistent_workers": False, "worker_nice": 0},
        "cache": {"_target_": "yololab.data.datamodule.CacheSettings", "ram": False, "check_dir": "/cache"}}}
    stored = {"yololab": {"config": flat}}
    check_same_run(stored, grouped, "old.ckpt")
    grouped["data"]["batch_size"] = 8
    with pytest.raises(CheckpointError, match=r"old\.ckpt is another run's checkpoint: its config differs from this "
                                              r"command's at 1 key\(s\): data\.batch_size: 16 there, 8 here\."):
        check_same_run(stored, grouped, "old.ckpt")
