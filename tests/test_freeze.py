"""``model.freeze``: frozen parts keep their weights and BatchNorm statistics through training, stay out of the
optimiser, the EMA, the summary's trainable count and the gradient-flow monitor, for every head, on resume and
under DDP; a head-probe run's runs.csv row names its trunk."""

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
import yaml
from hydra.errors import InstantiationException
from lightning.pytorch.utilities.exceptions import SIGTERMException
from tests.conftest import TRUNK_RUN_OVERRIDES, compose_config
from tests.run_folders import write_run
from torch import nn

from yololab.callbacks.gradient_flow import select_layers
from yololab.models.summary import model_summary
from yololab.optim import param_groups
from yololab.study.runs import load_runs_dir
from yololab.study.tables import write_tables
from yololab.tasks import train

REPO = Path(__file__).resolve().parents[1]
FREEZE = "model.freeze=[backbone,neck]"
HEADS = {"conv": [], "mlp": ["model/head=mlp"], "fc": ["model/head=fc", "model.head.width=64"]}


def probe_module(tmp_path, ckpt: Path, head: str, freeze: bool = True, extra=()):
    cfg = compose_config(tmp_path, ["data.img_size=160", f"model.init_from={ckpt}", *HEADS[head],
                                    *([FREEZE] if freeze else []), *extra])
    class_names = torch.load(ckpt, map_location="cpu", weights_only=True)["yololab"]["class_names"]
    return hydra.utils.instantiate(cfg.model, class_names=class_names)


def trunk_state(state: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every backbone and neck tensor (weights and BatchNorm buffers), copied."""
    return {k.removeprefix(prefix): v.clone() for k, v in state.items()
            if k.removeprefix(prefix).startswith(("backbone.", "neck."))}


def one_step(module) -> None:
    """One optimiser step on a small batch, in training mode, as Lightning would run it."""
    module.train()
    optimizer = module.optimizer_factory(param_groups(module.model, module.weight_decay))
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 3, 160, 160, generator=g)
    targets = torch.tensor([[0, 1, 20.0, 30, 80, 90], [1, 0, 50, 50, 120, 100], [2, 2, 10, 10, 150, 60],
                            [3, 4, 60, 70, 100, 140]])
    parts = module.loss_fn(module.model(images), targets, (160, 160))
    (parts.total * 4).backward()
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("head", list(HEADS))
def test_a_training_step_changes_the_head_only(tmp_path, trunk_checkpoint, head):
    module = probe_module(tmp_path, trunk_checkpoint, head)
    before, head_before = trunk_state(module.model.state_dict()), module.model.head.state_dict()
    head_before = {k: v.clone() for k, v in head_before.items()}
    optimizer = one_step(module)
    after = module.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())  # weights and BatchNorm statistics
    assert any(not torch.equal(module.model.head.state_dict()[k], v) for k, v in head_before.items())
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in module.model.head.parameters()}
    trunk = [m for part in (module.model.backbone, module.model.neck) for m in part.modules()]
    assert all(p.grad is None for m in trunk for p in m.parameters(recurse=False))
    batchnorms = [m for m in trunk if isinstance(m, nn.BatchNorm2d)]
    assert batchnorms and not any(m.training for m in batchnorms)
    assert module.model.head.training


def test_without_freeze_the_same_step_changes_the_trunk(tmp_path, trunk_checkpoint):
    """The control: the step above does move an unfrozen trunk, weights and BatchNorm statistics."""
    module = probe_module(tmp_path, trunk_checkpoint, "mlp", freeze=False)
    before = trunk_state(module.model.state_dict())
    one_step(module)
    after = module.model.state_dict()
    assert not torch.equal(after["backbone.stem.0.weight"], before["backbone.stem.0.weight"])
    assert not torch.equal(after["backbone.stem.1.running_mean"], before["backbone.stem.1.running_mean"])


def test_summary_and_gradient_flow_see_only_the_trainable_head(tmp_path, trunk_checkpoint):
    module = probe_module(tmp_path, trunk_checkpoint, "mlp")
    summary = model_summary(module.model, 160)
    head_params = sum(p.numel() for p in module.model.head.parameters())
    assert summary["trainable"] == head_params < summary["params"]
    assert summary["components"]["backbone"]["trainable"] == summary["components"]["neck"]["trainable"] == 0
    every_layer = select_layers(module, re.compile(r"^model\."))
    assert every_layer and all(layer.name.startswith("head.") for layer in every_layer)
    unfrozen = probe_module(tmp_path, trunk_checkpoint, "mlp", freeze=False)
    assert any(layer.name.startswith("backbone.") for layer in select_layers(unfrozen, re.compile(r"^model\.")))


def test_an_unknown_part_is_named(tmp_path, trunk_checkpoint):
    with pytest.raises(InstantiationException) as err:
        probe_module(tmp_path, trunk_checkpoint, "conv", freeze=False, extra=["model.freeze=[backbone,trunk]"])
    assert str(err.value.__cause__) == "model.freeze: unknown part(s) ['trunk']; valid: ['backbone', 'neck', 'head']"


def run_overrides(root: Path, ckpt: Path) -> list[str]:
    return [*TRUNK_RUN_OVERRIDES, f"data.root={root}", "model/head=mlp", f"model.init_from={ckpt}", FREEZE,
            "trainer.max_epochs=2", "trainer.deterministic=true", "callbacks.gradient_flow.layers=model",
            "callbacks.model_checkpoint.monitor=null"]  # last.ckpt every epoch (with a monitor: only when it improves)


@pytest.mark.slow  # heavy: trains, stops and resumes (keeps the fast suite near 10 min on 2 cores)
@pytest.mark.parametrize("cached", [False, True], ids=["plain", "cached"])
def test_a_probe_run_keeps_the_trunk_and_resumes_exactly(tmp_path, synthetic_root, trunk_checkpoint, cached):
    """Two epochs (Lightning puts the model in train mode each epoch), EMA on: the trunk in the checkpoint, both
    the EMA and the current weights, is the loaded one to the bit; a run killed mid-way and resumed (its feature
    cache empty again) ends with the same weights as the uninterrupted one."""
    overrides = [*run_overrides(synthetic_root, trunk_checkpoint),
                 *(["model.cache_features=true", "data/augment=none"] if cached else [])]
    source = trunk_state(torch.load(trunk_checkpoint, map_location="cpu", weights_only=True)["state_dict"], "model.")
    train.run(compose_config(tmp_path / "full", overrides))
    run_dir = tmp_path / "full" / "run"
    full = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    for weights in (full["state_dict"], full["current_model_state"]):
        assert all(torch.equal(trunk_state(weights, "model.")[k], v) for k, v in source.items())
    head_tensors = len(list(probe_module(tmp_path, trunk_checkpoint, "mlp").model.head.parameters()))
    assert sum(len(g["params"]) for g in full["optimizer_states"][0]["param_groups"]) == head_tensors
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["model"]["init_from_sha256"] == hashlib.sha256(trunk_checkpoint.read_bytes()).hexdigest()
    layers = json.loads((run_dir / "gradflow_layers.json").read_text())
    assert layers and all(row["name"].startswith("head.") for row in layers)
    hparams = yaml.safe_load((run_dir / "csv" / "hparams.yaml").read_text())
    assert hparams["model/frozen_params"] == sum(v.numel() for k, v in source.items()
                                                 if "running" not in k and "num_batches" not in k)

    kill = ["+callbacks.kill._target_=tests.helpers.SignalAtStep", "+callbacks.kill.step=3"]
    with pytest.raises(SIGTERMException):
        train.run(compose_config(tmp_path / "killed", [*overrides, *kill]))
    train.run(compose_config(tmp_path / "killed", [*overrides, "ckpt_path=last"]))
    resumed = torch.load(tmp_path / "killed" / "run" / "checkpoints" / "last.ckpt", map_location="cpu",
                         weights_only=True)
    assert resumed["global_step"] == full["global_step"] == 4
    for key in ("state_dict", "current_model_state"):
        assert resumed[key].keys() == full[key].keys()
        assert all(torch.equal(resumed[key][k], full[key][k]) for k in full[key]), key


def test_runs_csv_names_the_trunk(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "relu", 0, 0.3, "relu")
    probe = write_run(runs, "relu", 1, 0.31, "relu")
    config = yaml.safe_load((probe / "config.yaml").read_text())
    config["model"]["init_from_sha256"] = "ab" * 32
    (probe / "config.yaml").write_text(yaml.safe_dump(config))
    runs_csv, _ = write_tables(load_runs_dir(runs), runs, tmp_path / "out")
    with open(runs_csv) as handle:
        rows = {row["seed"]: row for row in csv.DictReader(handle)}
    assert rows["1"]["trunk_sha256"] == "ab" * 32 and rows["0"]["trunk_sha256"] == ""


@pytest.mark.slow
def test_ddp_keeps_the_frozen_trunk(tmp_path, synthetic_root, trunk_checkpoint):
    source = trunk_state(torch.load(trunk_checkpoint, map_location="cpu", weights_only=True)["state_dict"], "model.")
    cmd = [sys.executable, str(REPO / "scripts" / "train.py"), "trainer=ddp_cpu", "trainer.devices=2",
           *run_overrides(synthetic_root, trunk_checkpoint), "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.run(cmd, env={**os.environ, "WANDB_MODE": "offline"}, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "distributed_backend=gloo" in proc.stdout + proc.stderr
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
    for weights in (ckpt["state_dict"], ckpt["current_model_state"]):
        assert all(torch.equal(trunk_state(weights, "model.")[k], v) for k, v in source.items())
