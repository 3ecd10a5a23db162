"""Shared fixtures: composed Hydra configs writing into a temporary folder, and small real datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from yololab.cli import CONFIG_DIR
from yololab.data.synthetic import SyntheticDefects

REPO = Path(__file__).resolve().parents[1]
NEU_DET = Path(os.environ.get("NEU_DET_ROOT", REPO.parent / "shared" / "datasets" / "neu-det"))

os.environ.setdefault("WANDB_MODE", "offline")  # tests never reach the network
os.environ.setdefault("WANDB_SILENT", "true")


def compose_config(tmp_path: Path, overrides: list[str] = (), config_name: str = "train") -> DictConfig:
    """The config a CLI run with ``overrides`` would get, with every output under ``tmp_path``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        cfg.hydra.job.num = 0
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.log_dir = str(tmp_path / "logs")
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic set (48 train / 16 val images) written as real JPEG files in YOLO format."""
    root = tmp_path_factory.mktemp("data") / "synthetic-small"
    SyntheticDefects(num_train=48, num_val=16, image_size=160, seed=0).write(root)
    return root


@pytest.fixture(scope="session")
def overfit_root(tmp_path_factory) -> Path:
    """Eight synthetic images whose val split is the train split itself, for overfitting tests."""
    root = tmp_path_factory.mktemp("data") / "overfit"
    SyntheticDefects(num_train=8, num_val=0, image_size=160, seed=3).write(root)
    text = (root / "data.yaml").read_text().replace("val: images/val", "val: images/train")
    (root / "data.yaml").write_text(text)
    return root


def overfit_config(tmp_path: Path, root: Path, extra=()) -> DictConfig:
    return compose_config(tmp_path, [
        "debug=overfit", f"data.root={root}", "data.batch_size=8", "data.img_size=160", "data.synthetic=null",
        *extra,
    ])


@pytest.fixture(scope="session")
def overfit_run(tmp_path_factory, overfit_root):
    """A detector trained to overfit ``overfit_root`` (about 25 s on 2 cores): (config, metrics, run folder),
    its checkpoint in ``<run folder>/checkpoints/last.ckpt``. Shared by the training, predict and export tests."""
    from yololab import train

    tmp_path = tmp_path_factory.mktemp("overfit")
    cfg = overfit_config(tmp_path, overfit_root)
    metrics = train.run(cfg)
    return cfg, metrics, Path(cfg.paths.output_dir)


def neu_det_or_skip() -> Path:
    if not (NEU_DET / "data.yaml").is_file():
        pytest.skip(f"NEU-DET not found at {NEU_DET} (set NEU_DET_ROOT)")
    return NEU_DET
