"""``model.init_from``: a trained trunk (backbone, neck) loaded into a new model with every shape checked, read
as any checkpoint is (nothing executed), its sha256 recorded; ``scripts/export_trunk.py`` writes it small."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from hydra.errors import InstantiationException
from tests.conftest import compose_config

from yololab.checkpoints import CheckpointError
from yololab.module import YOLODetectorModule
from yololab.trunk import export_trunk, load_trunk

REPO = Path(__file__).resolve().parents[1]


def stored(ckpt: Path) -> tuple[dict, list[str]]:
    """The checkpoint's tensors (under ``model.``) and class names, read independently of yololab.trunk."""
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    return raw["state_dict"], raw["yololab"]["class_names"]


def build(tmp_path, ckpt: Path, overrides=()) -> YOLODetectorModule:
    cfg = compose_config(tmp_path, ["data.img_size=160", *overrides])
    return hydra.utils.instantiate(cfg.model, class_names=stored(ckpt)[1])


def refusal(tmp_path, ckpt: Path, overrides) -> str:
    """The message of the error that building the model raises (Hydra wraps it; the CLI prints it alone)."""
    with pytest.raises(InstantiationException) as err:
        build(tmp_path, ckpt, overrides)
    assert isinstance(err.value.__cause__, CheckpointError), err.value
    return str(err.value.__cause__)


def test_init_from_loads_the_trunk_and_leaves_the_head(tmp_path, trunk_checkpoint):
    state, _ = stored(trunk_checkpoint)
    fresh = build(tmp_path, trunk_checkpoint)
    module = build(tmp_path, trunk_checkpoint, [f"model.init_from={trunk_checkpoint}", "model/head=mlp"])
    loaded = module.model.state_dict()
    trunk_keys = [k for k in loaded if k.startswith(("backbone.", "neck."))]
    assert trunk_keys and all(torch.equal(loaded[k], state[f"model.{k}"]) for k in trunk_keys)
    # BatchNorm statistics came too: after two steps they are no longer the initial zeros
    assert state["model.backbone.stem.1.running_mean"].abs().sum() > 0
    assert torch.equal(loaded["backbone.stem.1.running_mean"], state["model.backbone.stem.1.running_mean"])
    assert not torch.equal(loaded["backbone.stem.0.weight"], fresh.model.state_dict()["backbone.stem.0.weight"])
    assert module.init_from_sha256 == hashlib.sha256(trunk_checkpoint.read_bytes()).hexdigest()


def test_another_scale_stops_naming_the_key_and_both_shapes(tmp_path, trunk_checkpoint):
    state, _ = stored(trunk_checkpoint)
    theirs = {k.removeprefix("model.backbone."): v.shape for k, v in state.items() if k.startswith("model.backbone.")}
    small = build(tmp_path, trunk_checkpoint, ["model/scale=s"]).model.backbone.state_dict()
    key = next(k for k, v in small.items() if theirs[k] != v.shape)  # the first misfit, in module order
    message = refusal(tmp_path, trunk_checkpoint, ["model/scale=s", f"model.init_from={trunk_checkpoint}"])
    assert f"backbone.{key}: {list(theirs[key])} in the file, {list(small[key].shape)} in this model" in message


def test_grey_input_stops_at_the_stem(tmp_path, trunk_checkpoint):
    message = refusal(tmp_path, trunk_checkpoint, ["model.in_channels=1", f"model.init_from={trunk_checkpoint}"])
    assert "backbone.stem.0.weight: [16, 3, 3, 3] in the file, [16, 1, 3, 3] in this model" in message


def test_a_missing_part_or_tensor_is_named(tmp_path, trunk_checkpoint):
    raw = torch.load(trunk_checkpoint, map_location="cpu", weights_only=True)
    no_neck = {k: v for k, v in raw["state_dict"].items() if not k.startswith("model.neck.")}
    torch.save({**raw, "state_dict": no_neck}, tmp_path / "no_neck.ckpt")
    assert "holds no neck (no key neck.*)" in refusal(tmp_path, trunk_checkpoint,
                                                      [f"model.init_from={tmp_path / 'no_neck.ckpt'}"])
    one_less = {k: v for k, v in raw["state_dict"].items() if k != "model.neck.top_down4.cv1.1.running_var"}
    torch.save({**raw, "state_dict": one_less}, tmp_path / "one_less.ckpt")
    message = refusal(tmp_path, trunk_checkpoint, [f"model.init_from={tmp_path / 'one_less.ckpt'}"])
    assert re.search(r"neck\.top_down4\.cv1\.1\.running_var: absent in the file, \[\d+\] in this model", message)


def test_another_file_than_the_recorded_sha256_is_refused(tmp_path, trunk_checkpoint):
    message = refusal(tmp_path, trunk_checkpoint,
                      [f"model.init_from={trunk_checkpoint}", "model.init_from_sha256=beef"])
    assert re.search(r"its sha256 is [0-9a-f]{64}, not model\.init_from_sha256=beef", message)


class Payload:
    """A pickled object in a weights file: weights_only loading must refuse to build it."""


def test_a_file_holding_pickled_objects_is_refused(tmp_path, trunk_checkpoint):
    torch.save({"state_dict": {"backbone.stem.0.weight": torch.zeros(1)}, "extra": Payload()}, tmp_path / "p.pt")
    model = build(tmp_path, trunk_checkpoint).model
    with pytest.raises(CheckpointError, match="pickled Python objects, which are never loaded"):
        load_trunk(model, tmp_path / "p.pt")


def test_the_exported_trunk_is_small_reproducible_and_loads_the_same(tmp_path, trunk_checkpoint):
    state, _ = stored(trunk_checkpoint)
    path, digest = export_trunk(trunk_checkpoint, tmp_path / "trunk.pt")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert {k.split(".")[0] for k in raw["state_dict"]} == {"backbone", "neck"}
    assert all(torch.equal(v, state[f"model.{k}"]) for k, v in raw["state_dict"].items())
    assert raw["trunk"]["source_sha256"] == hashlib.sha256(trunk_checkpoint.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size < 20 * 2**20
    _, digest_again = export_trunk(trunk_checkpoint, tmp_path / "again" / "trunk.pt")
    assert digest_again == digest  # the same checkpoint gives the same bytes, wherever they are written
    from_file = build(tmp_path, trunk_checkpoint, [f"model.init_from={path}"]).model.state_dict()
    from_ckpt = build(tmp_path, trunk_checkpoint, [f"model.init_from={trunk_checkpoint}"]).model.state_dict()
    assert all(torch.equal(from_file[k], from_ckpt[k]) for k in raw["state_dict"])


def test_export_script_never_overwrites(tmp_path, trunk_checkpoint):
    target = tmp_path / "trunk.pt"
    target.write_bytes(b"someone's file")
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "export_trunk.py"), str(trunk_checkpoint),
                           str(target)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "exists; choose another name" in proc.stderr
    assert "Traceback" not in proc.stderr and target.read_bytes() == b"someone's file"
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "export_trunk.py"), str(trunk_checkpoint),
                           str(tmp_path / "new.pt")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"sha256 {hashlib.sha256((tmp_path / 'new.pt').read_bytes()).hexdigest()}" in proc.stdout


def test_a_checkpoint_evaluates_without_its_trunk_file(tmp_path, trunk_checkpoint):
    """A head-probe run's checkpoint holds its trunk: eval, predict and export rebuild it without the file."""
    raw = torch.load(trunk_checkpoint, map_location="cpu", weights_only=True)
    raw["yololab"]["config"]["model"].update(init_from=str(tmp_path / "gone.pt"), freeze=["backbone", "neck"])
    torch.save(raw, tmp_path / "probe.ckpt")
    module = YOLODetectorModule.from_checkpoint(tmp_path / "probe.ckpt")
    assert torch.equal(module.model.state_dict()["neck.top_down4.cv1.1.running_var"],
                       raw["state_dict"]["model.neck.top_down4.cv1.1.running_var"])
