"""Shared fixtures: composed Hydra configs writing into a temporary folder, and small real datasets."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from yololab.data.synthetic import SyntheticDefects
from yololab.utils.paths import CONFIG_DIR

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
    from yololab.tasks import train

    tmp_path = tmp_path_factory.mktemp("overfit")
    cfg = overfit_config(tmp_path, overfit_root)
    metrics = train.run(cfg)
    return cfg, metrics, Path(cfg.paths.output_dir)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, synthetic_root):
    """Two training steps and one validation batch at 64 px (a few seconds): (config, metrics, run folder), its
    checkpoint in ``<run folder>/checkpoints/last.ckpt``; for tests that need a real checkpoint, not a good one."""
    from yololab.tasks import train

    tmp_path = tmp_path_factory.mktemp("tiny")
    cfg = compose_config(tmp_path, [f"data.root={synthetic_root}", "data.synthetic=null", "data.img_size=64",
                                    "data.batch_size=4", "data.loader.num_workers=0", "logger=csv", "trainer=cpu",
                                    "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                    "trainer.limit_val_batches=1", "callbacks.validation_report=null"])
    return cfg, train.run(cfg), Path(cfg.paths.output_dir)


def neu_det_or_skip() -> Path:
    if not (NEU_DET / "data.yaml").is_file():
        pytest.skip(f"NEU-DET not found at {NEU_DET} (set NEU_DET_ROOT)")
    return NEU_DET


# the scale of the mini sweep's runs: two epochs of two batches on the small synthetic set
MINI_SWEEP_OVERRIDES = [
    "logger=csv", "trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1", "data.synthetic=null", "data.batch_size=8", "data.loader.num_workers=0",
]


@contextlib.contextmanager
def working_dir(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def mini_sweep_file(folder: Path) -> Path:
    """sweep.yaml cut down to two arms and two seeds (everything else as in the repository's file)."""
    cfg = yaml.safe_load((REPO / "sweep.yaml").read_text())
    cfg["parameters"]["model.head.activation"]["values"] = ["relu", "leaky_relu:0.1"]
    cfg["parameters"]["seed"]["values"] = [0, 1]
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def mini_sweep(tmp_path_factory, synthetic_root):
    """The 2-arm x 2-seed sweep run for real by ``scripts/sweep.py``'s main, 2 runs at a time (about 30 s on
    2 cores): (sweep file, runs folder, the overrides forwarded after --)."""
    from yololab.study.runner import main

    folder = tmp_path_factory.mktemp("sweep")
    sweep_file, runs = mini_sweep_file(folder), folder / "runs"
    extra = [*MINI_SWEEP_OVERRIDES, f"data.root={synthetic_root}"]
    with working_dir(REPO):
        status = main([str(sweep_file), "--jobs", "2", "--dir", str(runs), "--", *extra])
    assert status == 0, [p.read_text()[-2000:] for p in runs.glob("*/console.log")]
    return sweep_file, runs, extra


@pytest.fixture(scope="session")
def trunk_checkpoint(tmp_path_factory, synthetic_root) -> Path:
    """A real training checkpoint to load trunks from: two steps of the default detector (conv head, EMA on) on
    the small synthetic set at 160 px, so that its BatchNorm statistics are no longer the initial ones."""
    from yololab.tasks import train

    tmp_path = tmp_path_factory.mktemp("trunk")
    train.run(compose_config(tmp_path, [*TRUNK_RUN_OVERRIDES, f"data.root={synthetic_root}", "seed=7"]))
    return tmp_path / "run" / "checkpoints" / "last.ckpt"


TRUNK_RUN_OVERRIDES = [
    "logger=csv", "trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
    "data.synthetic=null", "data.batch_size=8", "data.loader.num_workers=0", "data.img_size=160",
    "callbacks.validation_report=null", "trainer.log_every_n_steps=1",
]
