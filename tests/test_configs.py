"""Every config group composes, and the objects it names instantiate."""

from pathlib import Path

import hydra
import pytest
from hydra.errors import ConfigCompositionException
from tests.conftest import compose_config

from yololab.module import YOLODetectorModule
from yololab.tasks.train import build
from yololab.utils.instantiate import instantiate_group
from yololab.utils.paths import CONFIG_DIR


def options(group: str) -> list[str]:
    """The group's options a user picks (``base.yaml`` is what the options of its group share, not one)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml") if p.stem != "base")


def test_defaults_compose_and_build(tmp_path, synthetic_root):
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "logger=csv"])
    datamodule, model, trainer = build(cfg)
    assert isinstance(model, YOLODetectorModule)
    assert datamodule.class_names == model.class_names and len(model.class_names) == 6
    assert trainer.max_epochs == cfg.trainer.max_epochs
    assert model.config["data"]["root"] == str(synthetic_root)


@pytest.mark.parametrize("head", options("model/head"))
@pytest.mark.parametrize("scale", ["n", "s"])
def test_model_options_instantiate(tmp_path, head, scale):
    cfg = compose_config(tmp_path, [f"model/head={head}", f"model/scale={scale}"])
    model = hydra.utils.instantiate(cfg.model, class_names=["a", "b"])
    assert model.model.num_classes == 2


def test_optimizers_instantiate(tmp_path):
    for name in options("model/optimizer"):
        cfg = compose_config(tmp_path, [f"model/optimizer={name}"])
        model = hydra.utils.instantiate(cfg.model, class_names=["a"])
        optimizer = model.optimizer_factory(model.model.parameters())
        assert type(optimizer).__name__ == {"adamw": "AdamW", "sgd": "SGD"}[name]


@pytest.mark.parametrize("name", options("data"))
def test_data_options_instantiate(tmp_path, name):
    cfg = compose_config(tmp_path, [f"data={name}"])
    datamodule = hydra.utils.instantiate(cfg.data)
    assert datamodule.img_size % 32 == 0 and datamodule.batch_size > 0


@pytest.mark.parametrize("name", options("data/augment"))
def test_augment_presets_instantiate(tmp_path, name):
    cfg = compose_config(tmp_path, [f"data/augment={name}"])
    datamodule = hydra.utils.instantiate(cfg.data)
    assert all(callable(t) for t in (datamodule.augment or {}).values())


@pytest.mark.parametrize("name", ["default", "cpu", "ddp_cpu"])
def test_cpu_trainers_instantiate(tmp_path, name):
    cfg = compose_config(tmp_path, [f"trainer={name}"])
    trainer = hydra.utils.instantiate(cfg.trainer)
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize("name", ["gpu", "ddp"])
def test_gpu_trainers_compose(tmp_path, name):
    cfg = compose_config(tmp_path, [f"trainer={name}"])
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"


def test_devices_alone_selects_ddp(tmp_path):
    """trainer.devices=4 with the default trainer: accelerator and strategy stay 'auto', which
    Lightning turns into DDP across the devices."""
    cfg = compose_config(tmp_path, ["trainer.devices=4"])
    assert cfg.trainer.accelerator == "auto" and cfg.trainer.strategy == "auto" and cfg.trainer.devices == 4


@pytest.mark.parametrize("name", options("logger"))
def test_loggers_instantiate(tmp_path, name):
    cfg = compose_config(tmp_path, [f"logger={name}"])
    loggers = instantiate_group(cfg.get("logger"))
    assert len(loggers) == {"none": 0, "csv": 1, "wandb": 2}[name]


@pytest.mark.parametrize("name", options("callbacks"))
def test_callbacks_instantiate(tmp_path, name):
    cfg = compose_config(tmp_path, [f"callbacks={name}"])
    callbacks = instantiate_group(cfg.get("callbacks"))
    assert len(callbacks) == (0 if name == "none" else len(cfg.callbacks))


@pytest.mark.parametrize("name", [n for n in options("debug") if n != "default"])
def test_debug_presets_compose(tmp_path, name):
    cfg = compose_config(tmp_path, [f"debug={name}"])
    assert cfg.task_name == "debug" and cfg.trainer.accelerator == "cpu"


@pytest.mark.parametrize("name", options("experiment"))
def test_experiments_compose_and_build_the_model(tmp_path, name):
    cfg = compose_config(tmp_path, [f"experiment={name}"])
    model = hydra.utils.instantiate(cfg.model, class_names=["a", "b", "c"])
    assert isinstance(model, YOLODetectorModule)


def test_eval_config_composes(tmp_path):
    cfg = compose_config(tmp_path, ["ckpt_path=x.ckpt"], config_name="eval")
    assert cfg.split == "val" and cfg.ckpt_path == "x.ckpt"


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigCompositionException, match=r"model\.head\.activaton"):
        compose_config(tmp_path, ["model.head.activaton=relu"])


def test_unknown_group_option_is_named(tmp_path):
    with pytest.raises(ConfigCompositionException, match="model/head"):
        compose_config(tmp_path, ["model/head=transformer"])
