"""Loading a checkpoint never calls anything its stored config names beyond the configs' own classes; a file
that is not a yololab checkpoint, or one of another model, is named as such."""

import pytest
import torch
from tests.conftest import compose_config

from yololab.tasks import evaluate, export, predict, train

ENTRY_POINTS = {"eval": evaluate, "predict": predict, "export": export}


def hostile_checkpoint(tmp_path, trained, key: str, value) -> tuple:
    """A copy of a real checkpoint (weights_only-safe) whose stored model config gets ``key: value``; and a
    victim file the value would truncate."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious results\n")
    ckpt = torch.load(trained, map_location="cpu", weights_only=True)
    ckpt["yololab"]["config"]["model"]["backbone"][key] = value(victim)
    path = tmp_path / "shared.ckpt"
    torch.save(ckpt, path)
    return path, victim


def entry_config(tmp_path, name: str, ckpt, images):
    extra = {"eval": ["trainer=cpu"], "predict": [f"input={images}", f"output={tmp_path / 'out'}"],
             "export": [f"output={tmp_path / 'model.onnx'}"]}[name]
    return compose_config(tmp_path, [f"ckpt_path={ckpt}", *extra], config_name=name)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
@pytest.mark.parametrize(("value", "match"), [
    (lambda victim: {"_target_": "builtins.open", "file": str(victim), "mode": "w"},
     r"names model\.backbone\.hook\._target_='builtins\.open'"),
    # an interpolation (which Hydra resolves when instantiating): a stored config is saved resolved, so none is let in
    (lambda victim: f"${{oc.decode:'{{_target_: builtins.open, file: {victim}, mode: w}}'}}",
     r"interpolation at model\.backbone\.hook"),
], ids=["target", "interpolation"])
def test_a_stored_config_cannot_run_code(overfit_run, overfit_root, tmp_path, name, value, match):
    _, _, run_dir = overfit_run
    path, victim = hostile_checkpoint(tmp_path, run_dir / "checkpoints" / "last.ckpt", "hook", value)
    with pytest.raises(ValueError, match=rf"shared\.ckpt: refused: .*{match}"):
        ENTRY_POINTS[name].run(entry_config(tmp_path, name, path, overfit_root / "images"))
    assert victim.read_bytes() == b"precious results\n"


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


def test_a_checkpoint_stored_before_the_data_keys_were_renamed_still_loads():
    from yololab.checkpoints import with_renamed_keys

    data = {"root": "x", "cache": "ram", "scan_cache": "/tmp/verdicts"}
    with_renamed_keys(data)
    assert data == {"root": "x", "ram_cache": True, "check_cache_dir": "/tmp/verdicts"}
    data = {"cache": None, "scan_cache": None}
    with_renamed_keys(data)
    assert data == {"ram_cache": False, "check_cache_dir": None}
